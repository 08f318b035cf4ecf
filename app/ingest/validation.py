"""Apply a :class:`ValidationPolicy` to chunks: accepted rows out, every other row explained.

The validator is stateful across chunks (fill-forward carries the last good value, duplicate
timestamps are remembered for the whole file), so a file gives the same result whatever the
chunk size.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from app.ingest.columns import ColumnMap
from app.ingest.dedup import SeenTimes
from app.ingest.numbers import MISSING, NOT_FINITE, NOT_NUMBER, OK, parse_numbers
from app.ingest.policy import ValidationPolicy
from app.ingest.readers import RawChunk, TextColumn
from app.ingest.report import RowProblem
from app.ingest.timestamps import TimestampParser

# Given sorted unique UTC epoch-ns timestamps, which are already stored for the line:
# {ts: (batch_id, row_number)}.
StoredLookup = Callable[[np.ndarray], dict[int, tuple[int, int]]]


@dataclass
class ChunkResult:
    """Accepted rows (schema order) and the rows rejected in this chunk."""

    row_numbers: np.ndarray
    ts: np.ndarray | None  # UTC epoch ns
    values: np.ndarray  # (n_accepted, n_features)
    repaired: np.ndarray
    rejected: list[RowProblem]
    # Rows accepted from an earlier chunk and now rejected (duplicate_timestamp="reject").
    retracted: list[tuple[int, str]] = field(default_factory=list)


def show_ts(ns: int) -> str:
    return pd.Timestamp(int(ns), tz="UTC").isoformat()


class Validator:
    def __init__(
        self,
        features: list[str],
        timestamp: str | None,
        columns: ColumnMap,
        policy: ValidationPolicy,
        filename: str,
        decimal_comma: bool,
        stored: StoredLookup | None = None,
    ) -> None:
        self.features = features
        self.columns = columns
        self.policy = policy
        self.decimal_comma = decimal_comma
        self.stored = stored
        self.parser = (
            TimestampParser(policy.naive_timezone, filename, timestamp) if timestamp else None
        )
        self.seen = SeenTimes()
        self.retracted_ts: set[int] = set()
        k = len(features)
        self._carry_value = np.full(k, np.nan)
        self._carry_since = np.full(k, np.iinfo(np.int32).max, dtype=np.int64)
        self.filled: dict[str, int] = dict.fromkeys(features, 0)

    def rules_applied(self) -> list[str]:
        notes = [self.parser.describe()] if self.parser and self.parser.format else []
        for name, count in self.filled.items():
            if count:
                notes.append(
                    f"column {name!r}: {count} missing values filled forward from the previous "
                    f"value (at most {self.policy.max_fill_gap} rows in a row)"
                )
        return notes

    def validate(self, chunk: RawChunk) -> ChunkResult:
        n = len(chunk)
        k = len(self.features)
        reasons: dict[int, list[tuple[str | None, str]]] = {}
        ts = None
        if self.parser is not None and self.columns.timestamp is not None:
            ts, ts_errors = self.parser.parse(
                chunk.columns[self.columns.timestamp], chunk.row_numbers
            )
            for pos, reason in ts_errors.items():
                reasons.setdefault(pos, []).append((self.parser.column, reason))
        values = np.empty((n, k), dtype=np.float64)
        repaired = np.zeros(n, dtype=bool)
        for j, name in enumerate(self.features):
            column = chunk.columns[self.columns.features[name]]
            col_values, status = parse_numbers(column, self.decimal_comma)
            if self.policy.missing == "fill_forward":
                filled = self._fill_forward(j, col_values, status)
                repaired |= filled
                self.filled[name] += int(filled.sum())
            values[:, j] = col_values
            for pos in np.flatnonzero(status != OK):
                code = status[pos]
                if code == MISSING:
                    reason = "value is missing"
                else:
                    cell = _cell(column, int(pos))
                    reason = (
                        f"{cell!r} is not a number"
                        if code == NOT_NUMBER
                        else f"{cell!r} is not a finite number"
                    )
                    assert code in (NOT_NUMBER, NOT_FINITE)
                reasons.setdefault(int(pos), []).append((name, reason))
        retracted: list[tuple[int, str]] = []
        if ts is not None:
            self._duplicates(chunk, ts, reasons, retracted)
        bad = np.zeros(n, dtype=bool)
        if reasons:
            bad[list(reasons)] = True
        keep = ~bad
        rejected = [_problem(chunk, pos, reasons[pos]) for pos in sorted(reasons)]
        if ts is not None:
            self.seen.add(ts[keep], chunk.row_numbers[keep])
        return ChunkResult(
            row_numbers=chunk.row_numbers[keep],
            ts=ts[keep] if ts is not None else None,
            values=values[keep],
            repaired=repaired[keep],
            rejected=rejected,
            retracted=retracted,
        )

    def _fill_forward(self, j: int, values: np.ndarray, status: np.ndarray) -> np.ndarray:
        """Fill MISSING cells in place from the last valid value; returns the filled mask."""
        n = len(values)
        positions = np.arange(n)
        valid = status == OK
        last = np.maximum.accumulate(np.where(valid, positions, -1)) if n else positions
        from_carry = last < 0
        gap = np.where(from_carry, positions + 1 + self._carry_since[j], positions - last)
        source = np.where(from_carry, self._carry_value[j], values[np.maximum(last, 0)])
        fill = (status == MISSING) & (gap <= self.policy.max_fill_gap) & np.isfinite(source)
        values[fill] = source[fill]
        status[fill] = OK
        if valid.any():
            end = int(np.flatnonzero(valid)[-1])
            self._carry_value[j] = values[end]
            self._carry_since[j] = n - 1 - end
        else:
            self._carry_since[j] += n
        return fill

    def _duplicates(
        self,
        chunk: RawChunk,
        ts: np.ndarray,
        reasons: dict[int, list[tuple[str | None, str]]],
        retracted: list[tuple[int, str]],
    ) -> None:
        column = self.parser.column if self.parser else None
        reject_all = self.policy.duplicate_timestamp == "reject"
        candidates = np.array([p for p in range(len(ts)) if p not in reasons], dtype=np.int64)
        if not len(candidates):
            return
        # 1. against rows accepted from earlier chunks of this file
        earlier = self.seen.lookup(ts[candidates])
        for pos, first_row in zip(candidates[earlier > 0], earlier[earlier > 0], strict=True):
            stamp = int(ts[pos])
            reasons[int(pos)] = [
                (column, f"duplicate timestamp {show_ts(stamp)}: row {first_row} has the same time")
            ]
            if reject_all and stamp not in self.retracted_ts:
                self.retracted_ts.add(stamp)
                retracted.append(
                    (
                        int(first_row),
                        f"duplicate timestamp {show_ts(stamp)}: row "
                        f"{chunk.row_numbers[pos]} has the same time",
                    )
                )
        candidates = candidates[earlier == 0]
        # 2. within this chunk
        if len(candidates):
            _uniq, first_idx, inverse, counts = np.unique(
                ts[candidates], return_index=True, return_inverse=True, return_counts=True
            )
            first_pos = candidates[first_idx[inverse]]
            times = counts[inverse]
            repeated = times > 1
            for pos, first, count in zip(
                candidates[repeated], first_pos[repeated], times[repeated], strict=True
            ):
                stamp = show_ts(int(ts[pos]))
                if pos == first:
                    if not reject_all:
                        continue
                    reason = f"duplicate timestamp {stamp}: {count} rows have this time"
                else:
                    reason = (
                        f"duplicate timestamp {stamp}: row {chunk.row_numbers[first]} "
                        "has the same time"
                    )
                reasons[int(pos)] = [(column, reason)]
            candidates = np.array([p for p in candidates if p not in reasons], dtype=np.int64)
        # 3. against samples already stored for the line
        if self.stored is not None and len(candidates):
            hits = self.stored(np.unique(ts[candidates]))
            if hits:
                for pos in candidates:
                    hit = hits.get(int(ts[pos]))
                    if hit is not None:
                        reasons[int(pos)] = [
                            (
                                column,
                                f"timestamp {show_ts(int(ts[pos]))} is already stored for "
                                f"this line (batch #{hit[0]}, row {hit[1]})",
                            )
                        ]


def _cell(column: object, pos: int) -> str:
    if isinstance(column, TextColumn):
        value = column.values[pos]
        return "" if value is None else value.strip()
    values = getattr(column, "values", None)
    if values is None:
        return ""
    value = values.iloc[pos] if isinstance(values, pd.Series) else values[pos]
    return str(value)


def _problem(chunk: RawChunk, pos: int, found: list[tuple[str | None, str]]) -> RowProblem:
    column, reason = found[0]
    extra = [f"column {c!r}: {r}" if c else r for c, r in found[1:]]
    if extra:
        reason = "; ".join([reason, *extra])
    return RowProblem(int(chunk.row_numbers[pos]), column, reason, chunk.raw_text(pos))
