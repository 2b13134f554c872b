"""Wire models, topic specs and settings: the only code every component imports."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("callapi-events")
except PackageNotFoundError:  # running from a source tree that was not installed
    __version__ = "0.0.0"
