"""constraints.txt pins every dependency pyproject.toml names, so installs are the versions we test with; the
image's pip installs, build environments included, follow it."""

from __future__ import annotations

import shlex
import tomllib
from importlib import metadata
from pathlib import Path, PurePosixPath

from packaging.requirements import Requirement
from packaging.utils import NormalizedName, canonicalize_name
from packaging.version import Version

from tests.deploy.test_image import DOCKERFILE, instructions

ROOT = Path(__file__).resolve().parents[2]
CONSTRAINTS = ROOT / "constraints.txt"


def declared() -> list[Requirement]:
    """The runtime and every optional (dev) dependency of pyproject.toml."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    lines = list(project["dependencies"])
    for extra in project.get("optional-dependencies", {}).values():
        lines.extend(extra)
    return [Requirement(line) for line in lines]


def pins() -> dict[NormalizedName, Version]:
    pinned: dict[NormalizedName, Version] = {}
    for line in CONSTRAINTS.read_text().splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        requirement = Requirement(line)
        specifiers = list(requirement.specifier)
        assert len(specifiers) == 1 and specifiers[0].operator == "==", f"not an exact pin: {line}"
        name = canonicalize_name(requirement.name)
        assert name not in pinned, f"pinned twice: {requirement.name}"
        pinned[name] = Version(specifiers[0].version)
    return pinned


def extra_requirements(requirement: Requirement) -> list[Requirement]:
    """What the requirement's extras (psycopg[binary,pool], uvicorn[standard]) add, from installed metadata."""
    added = []
    for line in metadata.requires(requirement.name) or []:
        needed = Requirement(line)
        if needed.marker is None:
            continue
        if any(needed.marker.evaluate({"extra": extra}) for extra in requirement.extras) and not (
            needed.marker.evaluate({"extra": ""})
        ):
            added.append(needed)
    return added


def test_every_declared_dependency_is_pinned_within_its_range() -> None:
    pinned = pins()
    for requirement in declared():
        name = canonicalize_name(requirement.name)
        assert name in pinned, f"{requirement.name} is not in constraints.txt: run `make constraints`"
        assert requirement.specifier.contains(pinned[name], prereleases=True), (
            f"constraints.txt pins {requirement.name}=={pinned[name]}, outside pyproject.toml's {requirement}"
        )


def test_what_the_declared_extras_pull_in_is_pinned_too() -> None:
    pinned = pins()
    with_extras = [requirement for requirement in declared() if requirement.extras]
    assert with_extras, "pyproject.toml names packages with extras (psycopg[binary,pool], uvicorn[standard])"
    for requirement in with_extras:
        added = extra_requirements(requirement)
        assert added, f"{requirement} adds no package: its installed metadata is not what pyproject.toml expects"
        missing = [str(needed) for needed in added if canonicalize_name(needed.name) not in pinned]
        assert not missing, f"{requirement} pulls in {missing}, not in constraints.txt: run `make constraints`"


def test_the_environment_running_the_tests_holds_the_pinned_versions() -> None:
    """Drift between the tested environment and constraints.txt means the pins no longer say what was tested."""
    drifted = []
    for name, version in pins().items():
        try:
            installed = Version(metadata.version(name))
        except metadata.PackageNotFoundError:
            continue  # a platform- or Python-specific dependency this interpreter does not need
        if installed != version:
            drifted.append(f"{name}: installed {installed}, pinned {version}")
    assert not drifted, "run `make constraints` (or `make setup`) so the two agree: " + "; ".join(drifted)


def builder_steps() -> list[tuple[str, str]]:
    steps = instructions(DOCKERFILE.read_text())
    stages = [i for i, (word, _) in enumerate(steps) if word == "FROM"]
    return steps[stages[0]:stages[1]]


def state_before(steps: list[tuple[str, str]]) -> tuple[dict[str, str], set[PurePosixPath]]:
    """The environment set by `steps`, and where they copied constraints.txt to (absolute paths)."""
    workdir, copied = PurePosixPath("/"), set()
    environment: dict[str, str] = {}
    for word, args in steps:
        if word == "WORKDIR":
            workdir = workdir / args
        elif word == "ENV":
            environment.update(pair.partition("=")[::2] for pair in shlex.split(args))
        elif word == "COPY" and args.split()[0] == "constraints.txt":
            destination = args.split()[1]
            folder = destination.endswith("/") or destination == "."
            copied.add(workdir / destination / "constraints.txt" if folder else workdir / destination)
    return {name: str(workdir / value) if name.endswith("CONSTRAINT") else value
            for name, value in environment.items()}, copied


def test_the_image_constrains_pip_build_environments_before_any_pip_install() -> None:
    """`-c` reaches only the top-level resolution: the isolated environments pip builds the project (and any
    sdist) in take constraints from PIP_CONSTRAINT (pip < 26.2) or PIP_BUILD_CONSTRAINT (pip >= 25.3)."""
    steps = builder_steps()
    installs = [i for i, (word, args) in enumerate(steps)
                if word == "RUN" and ("pip install" in args or "pip wheel" in args)]
    assert installs, "the builder stage installs with pip"
    environment, copied = state_before(steps[:installs[0]])
    for variable in ("PIP_CONSTRAINT", "PIP_BUILD_CONSTRAINT"):
        assert variable in environment, f"the Dockerfile sets no {variable} before its first pip install"
        assert PurePosixPath(environment[variable]) in copied, (
            f"{variable}={environment[variable]} is not the constraints.txt copied into the builder stage"
        )


def test_the_build_requirements_are_pinned_too() -> None:
    """Unpinned, they leave the image's build environment free to take new releases despite PIP_BUILD_CONSTRAINT."""
    pinned = pins()
    build = tomllib.loads((ROOT / "pyproject.toml").read_text())["build-system"]["requires"]
    missing = [line for line in build if canonicalize_name(Requirement(line).name) not in pinned]
    assert not missing, f"constraints.txt does not pin the build requirements {missing}"
