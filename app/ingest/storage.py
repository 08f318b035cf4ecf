"""Keep every ingested file byte-for-byte, addressed by its sha256, never overwritten.

One pass over the file computes the hash, copies the bytes and checks how the text decodes, so
a 2 GB upload is read once before parsing, and the parser reads the stored copy: what is in
the database always came from exactly the bytes that are kept.
"""

from __future__ import annotations

import codecs
import hashlib
import os
import uuid
from dataclasses import dataclass
from pathlib import Path

BLOCK = 1 << 20
HEAD_BYTES = 1 << 16
# Bytes that cp1252 leaves undefined: a file containing them is not cp1252.
CP1252_UNDEFINED = (b"\x81", b"\x8d", b"\x8f", b"\x90", b"\x9d")


@dataclass(frozen=True)
class FileFacts:
    """What one pass over the bytes learnt: identity plus hints for the text decoder."""

    sha256: str
    size: int
    head: bytes  # the first 64 KiB, for format sniffing
    utf8_ok: bool  # the bytes after any UTF-8 BOM decode as UTF-8
    cp1252_ok: bool  # no byte that cp1252 leaves undefined


def _scan(path: Path, copy_to: Path | None) -> FileFacts:
    digest = hashlib.sha256()
    decoder = codecs.getincrementaldecoder("utf-8")()
    utf8_ok = True
    cp1252_ok = True
    size = 0
    head = b""
    out = copy_to.open("wb") if copy_to is not None else None
    try:
        with path.open("rb") as src:
            while block := src.read(BLOCK):
                if size == 0:
                    head = block[:HEAD_BYTES]
                    text_block = block[3:] if block.startswith(codecs.BOM_UTF8) else block
                else:
                    text_block = block
                size += len(block)
                digest.update(block)
                if out is not None:
                    out.write(block)
                if utf8_ok:
                    try:
                        decoder.decode(text_block)
                    except UnicodeDecodeError:
                        utf8_ok = False
                if cp1252_ok and any(b in block for b in CP1252_UNDEFINED):
                    cp1252_ok = False
        if utf8_ok:
            try:
                decoder.decode(b"", final=True)
            except UnicodeDecodeError:
                utf8_ok = False
        if out is not None:
            out.flush()
            os.fsync(out.fileno())
    finally:
        if out is not None:
            out.close()
    return FileFacts(digest.hexdigest(), size, head, utf8_ok, cp1252_ok)


def inspect_file(path: Path) -> FileFacts:
    """Hash and sniff without keeping a copy (preview)."""
    return _scan(path, None)


def stored_relpath(sha256: str) -> str:
    """Where a file with this hash lives, relative to the data directory (``Batch.raw_path``)."""
    return f"raw/{sha256[:2]}/{sha256}"


def raw_file(data_dir: Path, raw_path: str) -> Path:
    """The stored file of a batch: ``raw_file(settings.data_dir, batch.raw_path)``."""
    return data_dir / raw_path


def store_file(path: Path, data_dir: Path) -> tuple[FileFacts, Path]:
    """Copy ``path`` into the content-addressed store; an existing copy is left untouched.

    The copy is written to a temporary name and hard-linked into place, so the final name only
    ever appears complete, and a second writer with the same content never replaces it.
    """
    incoming = data_dir / "raw" / "incoming"
    incoming.mkdir(parents=True, exist_ok=True)
    tmp = incoming / f"{uuid.uuid4().hex}.part"
    try:
        facts = _scan(path, tmp)
        final = data_dir / stored_relpath(facts.sha256)
        final.parent.mkdir(parents=True, exist_ok=True)
        try:
            os.link(tmp, final)
        except FileExistsError:
            pass  # same bytes already stored: keep the first copy
        except OSError:  # no hard links on this filesystem
            if not final.exists():
                os.replace(tmp, final)
        return facts, final
    finally:
        tmp.unlink(missing_ok=True)
