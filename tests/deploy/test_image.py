"""The container image: hadolint passes, and the Dockerfile keeps the rules of the deployment."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

from tests.deploy.manifests import tool

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILE = ROOT / "deploy" / "Dockerfile"
DOCKERIGNORE = ROOT / "deploy" / "Dockerfile.dockerignore"


def instructions(text: str) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs, continuation lines joined and comments dropped."""
    joined = re.sub(r"\\\n", " ", "\n".join(line for line in text.splitlines() if not line.lstrip().startswith("#")))
    pairs = []
    for line in joined.splitlines():
        if line.strip():
            word, _, rest = line.strip().partition(" ")
            pairs.append((word.upper(), rest.strip()))
    return pairs


def _pattern(glob: str) -> re.Pattern[str]:
    parts = re.split(r"(\*\*|\*|\?)", glob.strip("/"))
    table = {"**": ".*", "*": "[^/]*", "?": "[^/]"}
    return re.compile("".join(table.get(part, re.escape(part)) for part in parts))


def ignored(path: str, patterns: list[str]) -> bool:
    """Docker's .dockerignore rule: a pattern matches a path or one of its folders; the last match wins."""
    prefixes = ["/".join(path.split("/")[: i + 1]) for i in range(path.count("/") + 1)]
    verdict = False
    for pattern in patterns:
        negated = pattern.startswith("!")
        regex = _pattern(pattern.removeprefix("!"))
        if any(regex.fullmatch(prefix) for prefix in prefixes):
            verdict = not negated
    return verdict


def test_hadolint_passes() -> None:
    result = subprocess.run([tool("hadolint"), "--failure-threshold", "info", str(DOCKERFILE)],
                            capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout + result.stderr


def test_hadolint_would_catch_a_bad_dockerfile(tmp_path: Path) -> None:
    bad = tmp_path / "Dockerfile"
    bad.write_text("FROM python:latest\nRUN apt-get update && apt-get install -y curl\n")
    result = subprocess.run([tool("hadolint"), str(bad)], capture_output=True, text=True, check=False)
    assert result.returncode != 0 and "DL3007" in result.stdout


def test_multi_stage_slim_non_root_one_entrypoint_no_healthcheck() -> None:
    steps = instructions(DOCKERFILE.read_text())
    stages = [args for word, args in steps if word == "FROM"]
    assert len(stages) == 2 and stages[0].endswith("AS builder")
    assert ("ARG", "PYTHON_IMAGE=python:3.11-slim") in steps
    final = steps[max(i for i, (word, _) in enumerate(steps) if word == "FROM"):]
    users = [args for word, args in final if word == "USER"]
    assert users and users[-1].split(":")[0] not in {"0", "root"}
    assert ("ENTRYPOINT", '["callapi-events"]') in final
    assert all(word != "HEALTHCHECK" for word, _ in steps)
    assert any(word == "COPY" and args.startswith("--from=builder /opt/venv") for word, args in final)


def test_build_context_holds_every_copied_source_and_nothing_local() -> None:
    patterns = [line.strip() for line in DOCKERIGNORE.read_text().splitlines()
                if line.strip() and not line.startswith("#")]
    copied = [args.split()[0] for word, args in instructions(DOCKERFILE.read_text())
              if word == "COPY" and not args.startswith("--from")]
    for source in copied:
        inside = f"{source.rstrip('/')}/module.py" if (ROOT / source).is_dir() else source
        assert not ignored(inside, patterns), source
    for local in (".venv/bin/python", ".stack/kafka/x.log", ".git/HEAD", "tests/conftest.py",
                  "schemas/__pycache__/x.pyc", "deploy/k8s/base/api.yaml"):
        assert ignored(local, patterns), local


def test_packages_in_the_image_are_the_packages_of_the_project() -> None:
    """Every top-level package setuptools installs is copied into the builder stage."""
    pyproject = (ROOT / "pyproject.toml").read_text()
    packages = set(re.findall(r'"(\w+)\*"', pyproject.split("[tool.setuptools.packages.find]")[1].split("[")[0]))
    copied = {args.split()[0] for word, args in instructions(DOCKERFILE.read_text()) if word == "COPY"}
    assert packages <= copied, packages - copied
