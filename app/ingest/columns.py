"""Match a file's header to a line's schema, forgiving what a person would forgive.

``Flow m3h``, ``FLOW_M3H `` and ``flow_m3h [m3/h]`` all mean ``flow_m3h``; ``flwo_m3h`` is a
typo of it and is matched with a reported repair. ``temp_2`` is never taken for ``temp_1``:
names whose numbers differ are different sensors. A header unit that contradicts the line's
unit refuses the file, because a value in psi stored as bar is worse than no value.
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass, field

from app.ingest.policy import ValidationPolicy
from app.ingest.report import IngestError, locate

_UNIT = re.compile(r"^(?P<name>.*?)\s*[\[(](?P<unit>[^\[\]()]*)[\])]\s*$")
_SEPARATORS = re.compile(r"[\s_\-.]+")
_DIGITS = re.compile(r"\d+")


def split_unit(header: str) -> tuple[str, str | None]:
    """``'Pressure [bar]'`` -> ``('Pressure', 'bar')``; a header without unit -> ``(h, None)``."""
    match = _UNIT.match(header.strip())
    if match and match.group("name").strip() and match.group("unit").strip():
        return match.group("name").strip(), match.group("unit").strip()
    return header.strip(), None


def normalize(name: str) -> str:
    base, _unit = split_unit(name)
    return _SEPARATORS.sub("_", base.lower()).strip("_")


@dataclass(frozen=True)
class ColumnMap:
    """Schema column -> position in the file's header; plus what matching had to do."""

    timestamp: int | None
    features: dict[str, int]
    ignored: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def _fuzzy(target: str, candidates: dict[str, int], cutoff: float) -> int | None:
    if cutoff >= 1 or not candidates:
        return None
    wanted = normalize(target)
    digits = _DIGITS.findall(wanted)
    names = [n for n in candidates if _DIGITS.findall(n) == digits]
    close = difflib.get_close_matches(wanted, names, n=2, cutoff=cutoff)
    if not close:
        return None
    if len(close) == 2:
        first = difflib.SequenceMatcher(None, wanted, close[0]).ratio()
        second = difflib.SequenceMatcher(None, wanted, close[1]).ratio()
        if first - second < 0.05:
            return None  # two headers look equally like it: do not guess
    return candidates[close[0]]


def match_columns(
    header: list[str],
    features: list[str],
    timestamp: str | None,
    units: dict[str, str],
    policy: ValidationPolicy,
    filename: str,
) -> ColumnMap:
    """Map every schema column to a header position or raise naming what is missing."""
    wanted = ([timestamp] if timestamp else []) + list(features)
    found: dict[str, int] = {}
    notes: list[str] = []
    exact = {h: i for i, h in reversed(list(enumerate(header)))}
    by_norm: dict[str, list[int]] = {}
    for i, h in enumerate(header):
        by_norm.setdefault(normalize(h), []).append(i)
    for name in wanted:
        if name in exact:
            found[name] = exact[name]
            continue
        positions = [i for i in by_norm.get(normalize(name), []) if i not in found.values()]
        if len(positions) > 1:
            shown = ", ".join(repr(header[i]) for i in positions)
            raise IngestError(
                f"{locate(filename, 0, name)}: several headers could be this column ({shown})"
            )
        if positions:
            found[name] = positions[0]
            notes.append(f"header {header[positions[0]]!r} read as column {name!r}")
    for name in wanted:
        if name in found:
            continue
        free = {normalize(h): i for i, h in enumerate(header) if i not in found.values()}
        position = _fuzzy(name, free, policy.header_match_cutoff)
        if position is not None:
            found[name] = position
            notes.append(
                f"header {header[position]!r} looks like a typo of {name!r}; matched to it"
            )
    missing = [n for n in wanted if n not in found]
    if missing:
        which = "the timestamp column" if missing[0] == timestamp else "column"
        raise IngestError(
            f"{locate(filename, 0, missing[0])}: {which} {missing[0]!r} of the line is missing"
            + (f" (also missing: {', '.join(map(repr, missing[1:]))})" if missing[1:] else "")
            + f"; the file's header has {', '.join(map(repr, header))}"
        )
    for name, position in found.items():
        _base, unit = split_unit(header[position])
        expected = units.get(name)
        if unit and expected and unit.replace(" ", "") != str(expected).replace(" ", ""):
            raise IngestError(
                f"{locate(filename, 0, name)}: the header says {unit!r} but the line "
                f"stores {name!r} in {expected!r}; convert the file or fix the line's unit"
            )
    ignored = [h for i, h in enumerate(header) if i not in found.values()]
    if ignored and policy.extra_column == "error":
        raise IngestError(
            f"{locate(filename, 0, ignored[0])}: not a column of the line "
            f"(extra columns: {', '.join(map(repr, ignored))})"
        )
    if ignored:
        notes.append(f"ignored extra columns not in the line's schema: {', '.join(ignored)}")
    return ColumnMap(
        timestamp=found[timestamp] if timestamp else None,
        features={n: found[n] for n in features},
        ignored=ignored,
        notes=notes,
    )
