"""Malformed (and well-formed) files generated on the fly, each with the exact expected outcome.

Every case writes one file and says either what counts ingest must report (and which rows it
must reject, for which column and why) or which words the error must contain. Row numbers are
data rows: row 1 is the line after the header.
"""

from __future__ import annotations

import codecs
import io
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import openpyxl
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from app.ingest import ValidationPolicy

FEATURES = ("flow_m3h", "pressure", "temp_1", "temp_2")
HEADER = ("timestamp", *FEATURES)
UNITS = {"pressure": "bar"}


@dataclass(frozen=True)
class Expect:
    received: int
    accepted: int
    rejected: int
    repaired: int = 0
    problems: dict[int, tuple[str | None, str]] = field(default_factory=dict)
    note: str | None = None  # a substring of one of report.repairs
    values: dict[int, dict[str, float]] = field(default_factory=dict)  # row -> some values
    times: dict[int, str] = field(default_factory=dict)  # row -> UTC ISO time
    rows: tuple[int, ...] | None = None  # exact accepted data row numbers


@dataclass(frozen=True)
class Fail:
    words: tuple[str, ...]


@dataclass(frozen=True)
class Case:
    filename: str
    make: Callable[[Path], None]
    outcome: Expect | Fail
    policy: ValidationPolicy | None = None


def rows(n: int = 5, start: str = "2024-01-01 00:00:00", freq: str = "min") -> list[list[str]]:
    times = pd.date_range(start, periods=n, freq=freq)
    return [
        [t.strftime("%Y-%m-%d %H:%M:%S"), f"{1 + i}.5", f"{2 + i / 10}", f"{20 + i}", f"{30 + i}"]
        for i, t in enumerate(times)
    ]


def text(
    body: list[list[str]],
    header: tuple[str, ...] = HEADER,
    sep: str = ",",
    end: str = "\n",
    final_newline: bool = True,
) -> str:
    lines = [sep.join(header)] + [sep.join(r) for r in body]
    return end.join(lines) + (end if final_newline else "")


def write_text(content: str, encoding: str = "utf-8") -> Callable[[Path], None]:
    return lambda path: path.write_bytes(content.encode(encoding))


def write_bytes(content: bytes) -> Callable[[Path], None]:
    return lambda path: path.write_bytes(content)


def with_cell(body: list[list[str]], row: int, col: int, value: str) -> list[list[str]]:
    out = [list(r) for r in body]
    out[row - 1][col] = value
    return out


def parquet_bytes(null_row: int | None = None) -> bytes:
    times = pd.date_range("2024-01-01", periods=5, freq="min", tz="Europe/Berlin")
    pressure = [2.0 + i / 10 for i in range(5)]
    if null_row is not None:
        pressure[null_row - 1] = None  # type: ignore[call-overload]
    table = pa.table(
        {
            "timestamp": pa.array(times),
            "flow_m3h": pa.array([1.5 + i for i in range(5)]),
            "pressure": pa.array(pressure, type=pa.float64()),
            "temp_1": pa.array(list(range(20, 25)), type=pa.int64()),
            "temp_2": pa.array([30.0 + i for i in range(5)]),
        }
    )
    out = io.BytesIO()
    pq.write_table(table, out)
    return out.getvalue()


def xlsx(path: Path, sheet_first: bool, bad_row: int | None = None) -> None:
    book = openpyxl.Workbook()
    info = book.active
    info.title = "Info"
    info.append(["exported by", "SCADA"])
    data = book.create_sheet("Data", 0 if sheet_first else 1)
    data.append(list(HEADER))
    for i, t in enumerate(pd.date_range("2024-01-01", periods=5, freq="min")):
        flow: object = 1.5 + i
        if bad_row == i + 1:
            flow = "x"
        data.append([t.to_pydatetime(), flow, 2.0 + i / 10, 20 + i, 30 + i])
    book.save(path)


def _missing_hour() -> list[list[str]]:
    body = rows(5, freq="h")
    return body[:2] + body[3:]


def _dst() -> list[list[str]]:
    body = rows(3)
    times = ("2024-03-31 01:30:00", "2024-03-31 02:30:00", "2024-03-31 03:30:00")
    for r, t in zip(body, times, strict=True):
        r[0] = t
    return body


def _offsets() -> list[list[str]]:
    body = rows(3)
    body[0][0] = "2024-01-01T02:00:00+02:00"
    body[1][0] = "2024-01-01T01:00:00+01:00"  # the same instant as row 1
    body[2][0] = "2024-01-01 00:02:00"
    return body


def _fill() -> list[list[str]]:
    body = rows(7)
    for row in (2, 4, 5, 6):
        body[row - 1][1] = ""
    return body


def _garbage() -> bytes:
    seed = bytes(range(256))
    return (seed * 40)[::7] + b"\x00\x01\x02" * 50


_QUOTED = (
    "timestamp,flow_m3h,pressure,temp_1,temp_2,comment\n"
    '2024-01-01 00:00:00,1.5,2.0,20,30,"valve a, then b"\n'
    '2024-01-01 00:01:00,2.5,2.1,21,31,"two\nlines"\n'
    "2024-01-01 00:02:00,3.5,2.2,22,32,plain\n"
)

CASES: list[Case] = [
    Case("clean.csv", write_text(text(rows())), Expect(5, 5, 0, rows=(1, 2, 3, 4, 5))),
    Case(
        "semicolon_decimal_comma.csv",
        write_text(text([[c.replace(".", ",") for c in r] for r in rows()], sep=";")),
        Expect(5, 5, 0, note="decimal comma", values={1: {"flow_m3h": 1.5, "pressure": 2.0}}),
    ),
    Case(
        "header_typo.csv",
        write_text(text(rows(), header=("Timestamp", "FLOW_M3H ", "pressur", "temp_1", "temp_2"))),
        Expect(5, 5, 0, note="'pressur' looks like a typo of 'pressure'"),
    ),
    Case("missing_hour.csv", write_text(text(_missing_hour())), Expect(4, 4, 0)),
    Case(
        "dst_gap.csv",
        write_text(text(_dst())),
        Expect(
            3,
            2,
            1,
            problems={2: ("timestamp", "does not exist or is ambiguous in Europe/Berlin")},
            times={1: "2024-03-31T00:30:00+00:00", 3: "2024-03-31T01:30:00+00:00"},
        ),
        ValidationPolicy(naive_timezone="Europe/Berlin"),
    ),
    Case(
        "nan.csv",
        write_text(text(with_cell(rows(), 2, 1, "NaN"))),
        Expect(5, 4, 1, problems={2: ("flow_m3h", "'NaN' is not a finite number")}),
    ),
    Case(
        "inf.csv",
        write_text(text(with_cell(with_cell(rows(), 3, 2, "inf"), 4, 3, "-Infinity"))),
        Expect(
            5,
            3,
            2,
            problems={
                3: ("pressure", "'inf' is not a finite number"),
                4: ("temp_1", "'-Infinity' is not a finite number"),
            },
        ),
    ),
    Case(
        "text_in_numeric.csv",
        write_text(text(with_cell(rows(), 3, 1, "abc"))),
        Expect(5, 4, 1, problems={3: ("flow_m3h", "'abc' is not a number")}),
    ),
    Case(
        "duplicate_ts.csv",
        write_text(text(with_cell(rows(), 3, 0, "2024-01-01 00:01:00"))),
        Expect(5, 4, 1, problems={3: ("timestamp", "row 2 has the same time")}),
    ),
    Case(
        "duplicate_ts_reject.csv",
        write_text(text(with_cell(rows(), 3, 0, "2024-01-01 00:01:00"))),
        Expect(5, 3, 2, problems={2: ("timestamp", "2 rows"), 3: ("timestamp", "duplicate")}),
        ValidationPolicy(duplicate_timestamp="reject"),
    ),
    Case(
        "truncated.csv",
        write_text(text(rows(5)) + "2024-01-01 00:05:00,6.5,2.5"),
        Expect(6, 5, 1, problems={6: (None, "cut short (3 of 5 fields)")}),
    ),
    Case(
        "cp1252.csv",
        write_text(
            text(
                [r + ["Öl ok °C"] for r in with_cell(rows(), 2, 1, "n/a")],
                header=(*HEADER, "Bemerkung"),
                sep=";",
            ),
            "cp1252",
        ),
        Expect(5, 4, 1, problems={2: ("flow_m3h", "value is missing")}, note="cp1252"),
    ),
    Case(
        "utf8_bom.csv",
        write_text(text(rows()), "utf-8-sig"),
        Expect(5, 5, 0, note="UTF-8 with byte-order mark"),
    ),
    Case("utf16.csv", write_text(text(rows(), sep="\t"), "utf-16"), Expect(5, 5, 0, note="UTF-16")),
    Case(
        "bom_then_cp1252.csv",
        write_bytes(
            codecs.BOM_UTF8
            + text([r + ["schön"] for r in rows()], header=(*HEADER, "Grüße")).encode("cp1252")
        ),
        Expect(5, 5, 0, note="a UTF-8 byte-order mark precedes non-UTF-8 text"),
    ),
    Case(
        "sheet.xlsx",
        lambda p: xlsx(p, sheet_first=False),
        Expect(5, 5, 0, note="'Data'"),
        ValidationPolicy(sheet="Data"),
    ),
    Case(
        "first_sheet.xlsx",
        lambda p: xlsx(p, sheet_first=True, bad_row=3),
        Expect(5, 4, 1, problems={3: ("flow_m3h", "'x' is not a number")}),
    ),
    Case(
        "data.parquet",
        write_bytes(parquet_bytes(null_row=2)),
        Expect(
            5,
            4,
            1,
            problems={2: ("pressure", "value is missing")},
            times={1: "2023-12-31T23:00:00+00:00"},
            values={1: {"temp_1": 20.0}},
        ),
    ),
    Case("empty.csv", write_bytes(b""), Fail(("empty.csv", "empty"))),
    Case("header_only.csv", write_text(text([])), Fail(("header_only.csv", "no data rows"))),
    Case(
        "extra_column.csv",
        write_text(text([r + ["x"] for r in rows()], header=(*HEADER, "comment"))),
        Expect(5, 5, 0, note="ignored extra columns not in the line's schema: comment"),
    ),
    Case(
        "extra_column_strict.csv",
        write_text(text([r + ["x"] for r in rows()], header=(*HEADER, "comment"))),
        Fail(("extra_column_strict.csv", "header row", "column 'comment'")),
        ValidationPolicy(extra_column="error"),
    ),
    Case(
        "missing_column.csv",
        write_text(text([r[:4] for r in rows()], header=HEADER[:4])),
        Fail(("missing_column.csv", "header row", "column 'temp_2'", "missing")),
    ),
    Case("garbage.csv", write_bytes(_garbage()), Fail(("garbage.csv", "binary"))),
    Case(
        "parquet_named.csv",
        write_bytes(parquet_bytes()),
        Expect(5, 5, 0, note="named '.csv' but contains PARQUET"),
    ),
    Case(
        "ragged.csv",
        write_text(text(with_cell(rows(), 2, 1, "1,2"))),
        Expect(5, 4, 1, problems={2: (None, "row has 6 fields, the header has 5")}),
    ),
    Case(
        "blank_lines.csv",
        write_text(
            "timestamp,flow_m3h,pressure,temp_1,temp_2\n"
            + "\n".join(
                ",".join(r) if r else "" for r in [*rows()[:2], [], *rows()[2:4], [], rows()[4]]
            )
            + "\n"
        ),
        Expect(5, 5, 0, rows=(1, 2, 4, 5, 7), note="skipped 2 blank lines (rows 3, 6)"),
    ),
    Case(
        "bad_timestamp.csv",
        write_text(text(with_cell(rows(), 2, 0, "yesterday"))),
        Expect(5, 4, 1, problems={2: ("timestamp", "'yesterday' is not a timestamp")}),
    ),
    Case(
        "offsets.csv",
        write_text(text(_offsets())),
        Expect(
            3,
            2,
            1,
            problems={2: ("timestamp", "row 1 has the same time")},
            times={1: "2024-01-01T00:00:00+00:00", 3: "2024-01-01T00:02:00+00:00"},
        ),
    ),
    Case("quoted.csv", write_text(_QUOTED), Expect(3, 3, 0, rows=(1, 2, 3))),
    Case(
        "fill_forward.csv",
        write_text(text(_fill())),
        Expect(
            7,
            6,
            1,
            repaired=3,
            problems={6: ("flow_m3h", "value is missing")},
            values={2: {"flow_m3h": 1.5}, 5: {"flow_m3h": 3.5}},
            note="3 missing values filled forward",
        ),
        ValidationPolicy(missing="fill_forward", max_fill_gap=2),
    ),
    Case(
        "missing_value.csv",
        write_text(text(with_cell(rows(), 2, 1, ""))),
        Expect(5, 4, 1, problems={2: ("flow_m3h", "value is missing")}),
    ),
    Case(
        "dayfirst.csv",
        write_text(
            text(
                [
                    [pd.Timestamp(r[0]).strftime("%d.%m.%Y %H:%M:%S"), *r[1:]]
                    for r in rows(5, start="2024-01-31 08:00")
                ],
                sep=";",
            )
        ),
        Expect(5, 5, 0, times={1: "2024-01-31T08:00:00+00:00"}, note="%d.%m.%Y %H:%M:%S"),
    ),
    Case(
        "old_excel.xls",
        write_bytes(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(512)),
        Fail(("old_excel.xls", ".xls")),
    ),
    Case(
        "unit_mismatch.csv",
        write_text(
            text(rows(), header=("timestamp", "flow_m3h", "pressure [psi]", "temp_1", "temp_2"))
        ),
        Fail(("unit_mismatch.csv", "header row", "column 'pressure'", "'psi'")),
    ),
    Case("crlf.csv", write_text(text(rows(), end="\r\n")), Expect(5, 5, 0, rows=(1, 2, 3, 4, 5))),
    Case(
        "all_rows_bad.csv",
        write_text(text([[r[0], "--", *r[2:]] for r in rows(3)])),
        Expect(3, 0, 3, problems={1: ("flow_m3h", "'--' is not a number")}),
    ),
]
