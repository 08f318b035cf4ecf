"""Model artifacts: immutable, versioned folders with a checksummed manifest.

A version folder is written under a temporary name and renamed into place, so a killed
training run never leaves a half-written model that looks finished. Loading verifies every
file's sha256 against the manifest and the manifest's own sha256 against the value stored in
the database, so kdmon only ever deserializes files it wrote itself.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import tempfile
from pathlib import Path
from typing import Any

from app.config import Settings
from app.services.errors import KdmonError

MANIFEST = "manifest.json"


class ArtifactError(KdmonError):
    pass


def _sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def artifact_dir_for(settings: Settings, line_name: str, version: int) -> Path:
    safe = "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in line_name)
    return settings.artifact_dir / safe / f"v{version:04d}"


def write_artifact(
    settings: Settings, line_name: str, version: int, detector: Any, metadata: dict[str, Any]
) -> tuple[Path, str]:
    """Save ``detector`` as version ``version`` of the line; returns (folder, manifest sha256)."""
    from detectors import save_detector

    target = artifact_dir_for(settings, line_name, version)
    if target.exists():
        raise ArtifactError(
            f"Model artifact {target} already exists; versions are never overwritten."
        )
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{target.name}-", dir=target.parent))
    try:
        save_detector(detector, staging / "detector")
        files = {
            str(path.relative_to(staging)): _sha256_file(path)
            for path in sorted(staging.rglob("*"))
            if path.is_file()
        }
        manifest = {"line": line_name, "version": version, "files": files, "metadata": metadata}
        (staging / MANIFEST).write_text(json.dumps(manifest, indent=2, sort_keys=True, default=str))
        checksum = _sha256_file(staging / MANIFEST)
        staging.rename(target)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return target, checksum


def verify_artifact(path: Path, expected_sha256: str) -> dict[str, Any]:
    """Check the manifest and every file it lists; returns the manifest."""
    manifest_path = path / MANIFEST
    if not manifest_path.is_file():
        raise ArtifactError(f"Model artifact {path} has no {MANIFEST}; it is incomplete.")
    actual = _sha256_file(manifest_path)
    if actual != expected_sha256:
        raise ArtifactError(
            f"Model artifact {path}: manifest checksum {actual[:12]}… does not match the "
            f"recorded {expected_sha256[:12]}…; refusing to load it."
        )
    manifest = json.loads(manifest_path.read_text())
    for name, digest in manifest["files"].items():
        file_path = path / name
        if not file_path.is_file() or _sha256_file(file_path) != digest:
            raise ArtifactError(f"Model artifact file {file_path} is missing or was modified.")
    return manifest


def load_artifact(path: Path, expected_sha256: str) -> Any:
    from detectors import load_detector

    verify_artifact(path, expected_sha256)
    return load_detector(path / "detector")


def remove_artifacts(paths: set[Path]) -> list[Path]:
    """Delete the given version folders (those that still exist); returns what was removed."""
    removed: list[Path] = []
    for path in sorted(paths):
        if path.is_dir():
            shutil.rmtree(path)
            removed.append(path)
    return removed
