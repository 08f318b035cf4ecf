"""docker/: no engine runs here, so check what can be checked offline."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
COMPOSE = REPO / "docker" / "compose.yaml"
DOCKERFILE = REPO / "docker" / "Dockerfile"


@pytest.mark.skipif(shutil.which("docker-compose") is None, reason="docker-compose not installed")
def test_compose_file_is_valid() -> None:
    result = subprocess.run(
        ["docker-compose", "-f", str(COMPOSE), "config", "-q"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr


def test_compose_has_the_four_services_with_health_checks() -> None:
    text = COMPOSE.read_text()
    for service in ("postgres", "migrate", "scheduler", "dashboard"):
        assert re.search(rf"^  {service}:$", text, re.MULTILINE), service
    assert "/_stcore/health" in text
    assert "service_completed_successfully" in text  # app waits for migrations


def test_image_installs_with_the_same_script_as_the_readme() -> None:
    dockerfile = DOCKERFILE.read_text()
    makefile = (REPO / "Makefile").read_text()
    readme = (REPO / "README.md").read_text()
    assert "scripts/install.sh" in dockerfile
    assert "scripts/install.sh" in makefile
    assert "make run" in readme and "make test" in readme
    # Every source folder the package needs is copied into the image.
    for folder in ("app", "db", "detectors", "jobs"):
        assert f"COPY {folder} ./{folder}" in dockerfile


def test_ci_runs_the_readme_test_command() -> None:
    ci = (REPO / ".ci" / "run").read_text()
    assert re.search(r"^make test$", ci, re.MULTILINE)
