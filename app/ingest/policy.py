"""The validation rules a user can read before committing a file, and choose between."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from app.services.errors import ValidationError

MissingRule = Literal["reject", "fill_forward"]
DuplicateRule = Literal["keep_first", "reject"]
ExtraColumnRule = Literal["ignore", "error"]

# Cell texts read as "no value" (compared case-insensitively after trimming spaces).
MISSING_MARKERS = frozenset({"", "na", "n/a", "#n/a", "null", "none", "-"})


@dataclass(frozen=True)
class ValidationPolicy:
    """How ingest treats imperfect rows. Defaults reject rather than guess.

    Only ``missing`` and ``duplicate_timestamp`` offer a choice that accepts altered data;
    non-numeric and non-finite values are always rejected, because a detector trained on an
    invented value learns the invention.
    """

    missing: MissingRule = "reject"
    max_fill_gap: int = 3  # fill_forward: at most this many consecutive missing rows per column
    duplicate_timestamp: DuplicateRule = "keep_first"
    extra_column: ExtraColumnRule = "ignore"
    naive_timezone: str = "UTC"  # timestamps without an offset are read in this zone
    header_match_cutoff: float = 0.8  # difflib similarity for typo'd headers; 1.0 disables
    encoding: str | None = None  # None: detect (BOM, UTF-8, else cp1252 / latin-1)
    delimiter: str | None = None  # None: sniff ; , tab |
    decimal: str | None = None  # None: detect decimal comma
    sheet: str | None = None  # Excel: sheet name; None: the first sheet
    max_problems: int = 100  # rejected rows shown in the report; all go to the quarantine

    def __post_init__(self) -> None:
        if self.missing not in ("reject", "fill_forward"):
            raise ValidationError(
                f"missing must be 'reject' or 'fill_forward', not {self.missing!r}"
            )
        if self.duplicate_timestamp not in ("keep_first", "reject"):
            raise ValidationError(
                "duplicate_timestamp must be 'keep_first' or 'reject', "
                f"not {self.duplicate_timestamp!r}"
            )
        if self.extra_column not in ("ignore", "error"):
            raise ValidationError(
                f"extra_column must be 'ignore' or 'error', not {self.extra_column!r}"
            )
        if self.max_fill_gap < 1:
            raise ValidationError("max_fill_gap must be at least 1 row")
        if not 0 < self.header_match_cutoff <= 1:
            raise ValidationError("header_match_cutoff must be in (0, 1]")
        if self.decimal not in (None, ".", ","):
            raise ValidationError(f"decimal must be '.' or ',', not {self.decimal!r}")
        try:
            ZoneInfo(self.naive_timezone)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValidationError(f"Unknown time zone {self.naive_timezone!r}") from exc

    def describe(self) -> list[str]:
        """The rules in words, in the order they are applied, for the report and the UI."""
        if self.missing == "fill_forward":
            missing = (
                "Missing value (empty cell, NA, N/A, #N/A, null, None, -): filled with the "
                f"column's previous value if at most {self.max_fill_gap} rows in a row are "
                "missing (row marked repaired); otherwise the row is rejected."
            )
        else:
            missing = "Missing value (empty cell, NA, N/A, #N/A, null, None, -): row rejected."
        dup = (
            "Duplicate timestamp: the first row with that time is kept, later ones are rejected."
            if self.duplicate_timestamp == "keep_first"
            else "Duplicate timestamp: every row with that time is rejected."
        )
        fuzzy = (
            "Header names must match the schema exactly."
            if self.header_match_cutoff >= 1
            else "Header names are matched to the schema ignoring case, spaces, '_'/'-' and a "
            f"unit suffix like ' [bar]'; typos with similarity >= {self.header_match_cutoff:.2f} "
            "are matched and reported (never when the numbers differ: 'temp_2' is not 'temp_1')."
        )
        return [
            fuzzy,
            "Missing schema column: the whole file is refused, naming the column.",
            "Extra column: ignored and reported."
            if self.extra_column == "ignore"
            else "Extra column: the whole file is refused.",
            f"Timestamp without offset: read as {self.naive_timezone} time; times that do not "
            "exist or are ambiguous there (clock change) are rejected. Stored times are UTC.",
            "Unreadable timestamp: row rejected.",
            missing,
            "Text in a numeric column: row rejected.",
            "NaN or +/-inf: row rejected.",
            dup + " A time already stored for the line is never overwritten: the new row is "
            "rejected.",
            "Row with too many or too few fields (ragged or cut-off last line): row rejected.",
            "Blank lines are skipped (they are not rows).",
        ]
