"""Reading rendered reports back the way a person would see them."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest


def pdf_text(pdf: bytes, folder: Path) -> str:
    """The PDF's text via poppler's ``pdftotext``, whitespace collapsed to single spaces."""
    if shutil.which("pdftotext") is None:
        pytest.skip("pdftotext (poppler-utils) is not installed; apt-get install poppler-utils")
    path = folder / "report.pdf"
    path.write_bytes(pdf)
    out = subprocess.run(
        ["pdftotext", "-layout", str(path), "-"], check=True, capture_output=True, timeout=30
    )
    return re.sub(r"\s+", " ", out.stdout.decode("utf-8"))
