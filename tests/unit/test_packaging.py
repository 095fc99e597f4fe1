"""The image, the README and the CLI run the same entry point."""

from __future__ import annotations

import json
import re
import tomllib

from tests.support.services import ROOT


def _dockerfile_command() -> list[str]:
    text = (ROOT / "Dockerfile").read_text()
    entrypoint = json.loads(re.findall(r"^ENTRYPOINT (\[.*\])$", text, re.MULTILINE)[-1])
    command = json.loads(re.findall(r"^CMD (\[.*\])$", text, re.MULTILINE)[-1])
    return [*entrypoint, *command]


def test_the_image_runs_the_same_entry_point_as_the_readme() -> None:
    readme = (ROOT / "README.md").read_text()
    start = (ROOT / "scripts" / "start.sh").read_text()
    assert "bash scripts/start.sh" in readme and "bash scripts/test.sh" in readme
    assert _dockerfile_command() == ["teleconsulta", "serve"]
    assert re.search(r"^exec \.venv/bin/teleconsulta serve --demo", start, re.MULTILINE)
    scripts = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]
    assert scripts == {"teleconsulta": "web.cli:main", "teleconsulta-admin": "web.admin:main"}
    assert "from web.cli import main" in (ROOT / "web" / "__main__.py").read_text()


def test_ci_runs_the_readme_test_command() -> None:
    assert "bash scripts/test.sh" in (ROOT / ".ci" / "run").read_text()


def test_every_package_is_installed() -> None:
    """A package missing from pyproject's list works from a checkout but not once installed."""
    listed = set(tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"])
    roots = {name for name in listed if "." not in name}
    found = {
        ".".join(init.parent.relative_to(ROOT).parts)
        for root in roots
        for init in (ROOT / root).rglob("__init__.py")
    }
    assert found <= listed, f"packages missing from pyproject.toml: {sorted(found - listed)}"


def test_the_image_copies_every_installed_package() -> None:
    """``pip install .`` in the image fails on a listed package whose folder was not copied in."""
    listed = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"]
    roots = {name.split(".")[0] for name in listed}
    text = (ROOT / "Dockerfile").read_text()
    copied = set(re.findall(r"^COPY (\w+) \./\1$", text, re.MULTILINE))
    assert roots <= copied, f"packages the Dockerfile does not copy: {sorted(roots - copied)}"
