"""What an ingest tells the person who started it: counts, repairs and rejected rows.

Row numbers everywhere in kdmon's ingest are *data* row numbers: row 1 is the first line after
the header, the header itself is row 0. Blank lines keep their number but are not data. In a
plain CSV, row N is therefore file line N + 1; in a spreadsheet whose header sits on sheet row 1,
row N is sheet row N + 1; in Parquet, row N is the N-th record.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from app.services.errors import KdmonError


class IngestError(KdmonError):
    """A whole file cannot be ingested; the message names the file, and the row and column."""


def locate(filename: str, row_number: int | None = None, column: str | None = None) -> str:
    """``pump_a.csv, row 1043, column 'flow_m3h'`` - the prefix of every message we print."""
    parts = [filename]
    if row_number is not None:
        parts.append("header row" if row_number == 0 else f"row {row_number}")
    if column is not None:
        parts.append(f"column {column!r}")
    return ", ".join(parts)


@dataclass(frozen=True)
class RowProblem:
    """Why one row was rejected; ``column`` is None for row-level problems (ragged rows)."""

    row_number: int
    column: str | None
    reason: str
    raw: str

    def message(self, filename: str) -> str:
        return f"{locate(filename, self.row_number, self.column)}: {self.reason}"


@dataclass(frozen=True)
class IngestReport:
    """Outcome of one ingest (or preview); ``problems`` is a capped sample, the DB has all."""

    line: str
    filename: str
    sha256: str
    batch_id: int | None
    duplicate: bool
    n_received: int
    n_accepted: int
    n_repaired: int
    n_rejected: int
    problems: list[RowProblem] = field(default_factory=list)
    repairs: list[str] = field(default_factory=list)

    def summary(self) -> str:
        if self.duplicate:
            return (
                f"{self.filename} was already ingested into line {self.line!r} as batch "
                f"#{self.batch_id} (sha256 {self.sha256[:12]}...): nothing written. It had "
                f"{self.n_accepted} accepted and {self.n_rejected} rejected rows."
            )
        head = (
            f"{self.filename} -> line {self.line!r}: {self.n_received} rows received, "
            f"{self.n_accepted} accepted ({self.n_repaired} repaired), "
            f"{self.n_rejected} rejected"
        )
        if self.batch_id is None:
            head = f"Preview (nothing written): {head}"
        else:
            head = f"{head}; batch #{self.batch_id}"
        lines = [head + "."]
        lines += [f"  rule: {r}" for r in self.repairs]
        lines += [f"  rejected: {p.message(self.filename)}" for p in self.problems]
        if self.n_rejected > len(self.problems):
            where = "the batch's quarantine" if self.batch_id is not None else "the full list"
            lines.append(f"  ... {self.n_rejected - len(self.problems)} more rejected in {where}")
        return "\n".join(lines)
