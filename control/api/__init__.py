"""The CallAPI Control REST API (FastAPI): `create_app(settings)`."""

from control.api.app import create_app

__all__ = ["create_app"]
