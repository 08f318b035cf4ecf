"""The PDF report (fpdf2): cover, KPI summary, timelines and the most anomalous flagged samples.

Text is set in DejaVu Sans from Matplotlib's bundled fonts, so line names and comments in any
European script print as typed; without it, a core font and Latin-1 fallbacks are used. The
flagged-sample table is capped at ``PDF_FLAGGED_LIMIT`` rows (the CSV/XLSX list all of them),
so a noisy month cannot produce a thousand-page PDF.
"""

from __future__ import annotations

import io
from collections.abc import Iterable
from pathlib import Path

import matplotlib
from fpdf import FPDF, FontFace
from fpdf.enums import TableCellFillMode, XPos, YPos

from app.reports import formatting as fmt
from app.reports.charts import timeline_png
from app.reports.data import FlaggedSample, LineKpis, ReportData

PDF_FLAGGED_LIMIT = 500
COMMENT_CHARS = 120
_FONT_DIR = Path(matplotlib.get_data_path()) / "fonts" / "ttf"
_HEADING_FILL = (225, 232, 240)
_STRIPE_FILL = (246, 248, 250)
_ACCENT = (31, 95, 153)


def render_pdf(data: ReportData, *, flagged_limit: int = PDF_FLAGGED_LIMIT) -> bytes:
    pdf = _ReportPdf(data)
    _cover(pdf, data)
    _timelines(pdf, data)
    _flagged_table(pdf, data, flagged_limit)
    return bytes(pdf.output())


class _ReportPdf(FPDF):
    def __init__(self, data: ReportData) -> None:
        super().__init__(orientation="portrait", unit="mm", format="A4")
        self.data = data
        self.unicode = _add_fonts(self)
        self.set_margins(15, 15, 15)
        self.set_auto_page_break(True, margin=15)
        self.set_title(f"kdmon report: {', '.join(data.request.lines)}")
        self.set_author("kdmon")
        self.set_creator("kdmon")
        self.set_creation_date(data.generated_at)
        self.alias_nb_pages()
        self.add_page()

    def text_(self, value: str) -> str:
        """What the current font can print (core fonts know only Latin-1)."""
        return value if self.unicode else _latin1(value)

    def footer(self) -> None:
        self.set_y(-11)
        self.set_font(self.family_, size=7)
        self.set_text_color(110)
        left = f"kdmon report · {', '.join(self.data.request.lines)} · "
        left += fmt.period(self.data.request)
        self.cell(0, 5, self.text_(fmt.clean(left, 120)), align="L")
        self.set_x(self.l_margin)
        self.cell(0, 5, f"Page {self.page_no()} of {{nb}}", align="R")
        self.set_text_color(0)

    @property
    def family_(self) -> str:
        return "DejaVu" if self.unicode else "Helvetica"

    def heading(self, text: str, size: float = 13) -> None:
        self.set_font(self.family_, "B", size)
        self.set_text_color(*_ACCENT)
        self.cell(0, size * 0.55, self.text_(text), new_x=XPos.LMARGIN, new_y=YPos.NEXT)
        self.set_text_color(0)
        self.ln(1.5)

    def paragraph(self, text: str, size: float = 9.5, style: str = "") -> None:
        self.set_font(self.family_, style, size)
        self.multi_cell(0, size * 0.5, self.text_(text), new_x=XPos.LMARGIN, new_y=YPos.NEXT)

    def room_left(self) -> float:
        return self.page_break_trigger - self.get_y()


def _add_fonts(pdf: FPDF) -> bool:
    files = {"": "DejaVuSans.ttf", "B": "DejaVuSans-Bold.ttf"}
    if not all((_FONT_DIR / name).is_file() for name in files.values()):
        return False
    for style, name in files.items():
        pdf.add_font("DejaVu", style, str(_FONT_DIR / name))
    return True


def _latin1(value: str) -> str:
    replacements = {"–": "-", "—": "-", "…": "...", "·": "|", "“": '"', "”": '"', "’": "'"}
    for old, new in replacements.items():
        value = value.replace(old, new)
    return value.encode("latin-1", "replace").decode("latin-1")


def _cover(pdf: _ReportPdf, data: ReportData) -> None:
    request = data.request
    pdf.set_font(pdf.family_, "B", 22)
    pdf.set_text_color(*_ACCENT)
    pdf.cell(0, 11, "kdmon anomaly report", new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    pdf.set_text_color(0)
    pdf.set_font(pdf.family_, "B", 13)
    names = fmt.clean(", ".join(request.lines), 300)
    pdf.multi_cell(0, 6.5, pdf.text_(names), new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    pdf.ln(1)
    pdf.paragraph(f"Period: {fmt.period(request)}", size=10.5)
    pdf.paragraph(f"Generated: {fmt.when(data.generated_at)} UTC", size=9)
    pdf.ln(4)

    pdf.heading("Models and thresholds")
    pdf.set_font(pdf.family_, size=9)
    with pdf.table(
        col_widths=(55, 65, 30, 30),
        text_align=("LEFT", "LEFT", "RIGHT", "RIGHT"),
        headings_style=FontFace(emphasis="BOLD", fill_color=_HEADING_FILL),
        borders_layout="HORIZONTAL_LINES",
        line_height=5.5,
        width=180,
    ) as table:
        table.row([pdf.text_(h) for h in ("Line", "Model version(s)", "Threshold", "Now")])
        for line in data.lines:
            now = fmt.number(line.current_threshold) if line.current_threshold is not None else "–"
            row = (fmt.clean(line.name, 80), fmt.models(line), fmt.thresholds(line), now)
            table.row([pdf.text_(c) for c in row])
    pdf.set_font(pdf.family_, size=7.5)
    pdf.set_text_color(90)
    pdf.multi_cell(
        0, 4,
        pdf.text_("Threshold: the value(s) flags in the period were decided with; "
                  "Now: the threshold in force today."),
        new_x=XPos.LMARGIN, new_y=YPos.NEXT,
    )  # fmt: skip
    pdf.set_text_color(0)
    pdf.ln(4)

    pdf.heading("Summary")
    pdf.set_font(pdf.family_, size=9)
    headings = (
        "Line", "Scored", "Flagged", "Flagged %", "Reviewed %",
        "Confirmed", "Dismissed", "Unsure",
    )  # fmt: skip
    rows = [(line.name, line.kpis) for line in data.lines]
    if len(rows) > 1:
        rows.append(("All lines", _total(k for _, k in rows)))
    with pdf.table(
        col_widths=(38, 17, 17, 22, 25, 21, 21, 19),
        text_align=("LEFT", *("RIGHT",) * 7),
        headings_style=FontFace(emphasis="BOLD", fill_color=_HEADING_FILL),
        borders_layout="HORIZONTAL_LINES",
        line_height=5.5,
        width=180,
    ) as table:
        table.row([pdf.text_(h) for h in headings])
        for name, k in rows:
            style = FontFace(emphasis="BOLD") if name == "All lines" and len(rows) > 1 else None
            cells = (
                fmt.clean(name, 60), f"{k.scored:,}", f"{k.flagged:,}", fmt.share(k.flagged_share),
                fmt.share(k.reviewed_share), f"{k.confirmed:,}", f"{k.dismissed:,}",
                f"{k.unsure:,}",
            )  # fmt: skip
            table.row([pdf.text_(c) for c in cells], style=style)
    pdf.set_font(pdf.family_, size=7.5)
    pdf.set_text_color(90)
    pdf.multi_cell(
        0, 4,
        pdf.text_("Reviewed share and verdicts count flagged samples by their current "
                  "(newest) verdict. A sample scored by several models counts once, with its "
                  "newest score."),
        new_x=XPos.LMARGIN, new_y=YPos.NEXT,
    )  # fmt: skip
    pdf.set_text_color(0)
    pdf.ln(4)
    if data.scored_total == 0:
        pdf.paragraph("No samples were scored in this period, so there were no flags.", 10.5, "B")
        pdf.ln(4)
    elif data.flagged_total == 0:
        pdf.paragraph("No samples were flagged in this period.", 10.5, "B")
        pdf.ln(4)


def _total(kpis: Iterable[LineKpis]) -> LineKpis:
    items = list(kpis)
    return LineKpis(*(sum(getattr(k, f) for k in items) for f in LineKpis.__dataclass_fields__))


def _timelines(pdf: _ReportPdf, data: ReportData) -> None:
    chart_w = 180.0
    chart_h = chart_w * 2.5 / 7.2
    first = True
    for line in data.lines:
        needed = 14 + (chart_h if line.timeline else 8)
        if first or pdf.room_left() < needed:
            if pdf.room_left() < needed + (12 if first else 0):
                pdf.add_page()
            if first:
                pdf.heading("Score timelines")
                first = False
        pdf.set_font(pdf.family_, "B", 10)
        title = f"{fmt.clean(line.name, 90)} · {line.kpis.scored:,} scored, "
        title += f"{line.kpis.flagged:,} flagged"
        pdf.cell(0, 6, pdf.text_(title), new_x=XPos.LMARGIN, new_y=YPos.NEXT)
        if not line.timeline:
            pdf.paragraph("No scores in this period.", 9)
            pdf.ln(3)
            continue
        png = timeline_png(
            line, data.flagged, data.request.start, data.request.end, data.bucket_seconds
        )
        pdf.image(io.BytesIO(png), x=pdf.l_margin, w=chart_w, h=chart_h)
        pdf.ln(3)


_Column = tuple[str, float, str]
# Widths (mm, landscape A4 less margins: 267) fit a full timestamp and each bold heading.
_FLAGGED_COLUMNS: tuple[_Column, ...] = (
    ("Sample", 16, "RIGHT"),
    ("Time (UTC)", 32, "LEFT"),
    ("Line", 28, "LEFT"),
    ("Score", 15, "RIGHT"),
    ("Threshold", 18, "RIGHT"),
    ("Model", 12, "CENTER"),
    ("Verdict", 21, "LEFT"),
    ("Reviewer", 22, "LEFT"),
    ("Comment", 53, "LEFT"),
    ("Top features", 50, "LEFT"),
)
_RISK_COLUMN: _Column = ("Risk", 14, "RIGHT")  # P(extreme event ahead), xTime's lines only


def _flagged_table(pdf: _ReportPdf, data: ReportData, limit: int) -> None:
    total = data.flagged_total
    if total == 0:
        return  # the cover already says so; no page for an empty table
    pdf.add_page(orientation="landscape")
    pdf.heading("Flagged samples")
    shown = _most_anomalous(data.flagged, limit)
    if len(shown) < total:
        pdf.paragraph(
            f"Showing the {len(shown):,} most anomalous of {total:,} flagged samples (highest "
            "score above threshold), by line and time. The CSV and XLSX exports list all of them.",
            9,
        )
    else:
        pdf.paragraph(f"All {total:,} flagged samples, by line and time.", 9)
    pdf.ln(2)
    one_line = len(data.lines) == 1
    with_risk = any(f.extreme_risk is not None for f in shown)
    columns = _flagged_columns(one_line, with_risk)
    pdf.set_font(pdf.family_, size=7.5)
    with pdf.table(
        col_widths=tuple(w for _, w, _ in columns),
        text_align=tuple(a for _, _, a in columns),
        headings_style=FontFace(emphasis="BOLD", fill_color=_HEADING_FILL),
        cell_fill_color=_STRIPE_FILL,
        cell_fill_mode=TableCellFillMode.ROWS,
        borders_layout="HORIZONTAL_LINES",
        line_height=4,
        width=sum(w for _, w, _ in columns),
    ) as table:
        table.row([pdf.text_(name) for name, _, _ in columns])
        for f in shown:
            cells = [
                str(f.sample_id),
                fmt.when(f.ts),
                fmt.clean(f.line, 40),
                fmt.number(f.score),
                fmt.number(f.threshold),
                f"v{f.model_version}",
                f.verdict or "not reviewed",
                fmt.clean(f.reviewer, 30),
                fmt.clean(f.comment, COMMENT_CHARS),
                fmt.clean(fmt.features(f.top_features), 120),
            ]
            if with_risk:
                cells.insert(5, "" if f.extreme_risk is None else f"{f.extreme_risk:.0%}")
            if one_line:
                del cells[2]
            table.row([pdf.text_(c) for c in cells])


def _flagged_columns(one_line: bool, with_risk: bool = False) -> tuple[_Column, ...]:
    """With a single line the Line column says nothing: its width goes to the comment.

    Lines whose model forecasts extreme events get a Risk column after the threshold; its
    width comes out of the two free-text columns.
    """
    columns = list(_FLAGGED_COLUMNS)
    if with_risk:
        at = next(i for i, (name, _, _) in enumerate(columns) if name == "Threshold") + 1
        columns.insert(at, _RISK_COLUMN)
        half = _RISK_COLUMN[1] / 2
        columns = [
            (name, w - half if name in ("Comment", "Top features") else w, align)
            for name, w, align in columns
        ]
    if not one_line:
        return tuple(columns)
    spare = next(w for name, w, _ in columns if name == "Line")
    return tuple(
        (name, w + spare if name == "Comment" else w, align)
        for name, w, align in columns
        if name != "Line"
    )


def _most_anomalous(rows: tuple[FlaggedSample, ...], limit: int) -> list[FlaggedSample]:
    """The ``limit`` rows furthest above their threshold, back in line-and-time order."""
    if len(rows) <= limit:
        return list(rows)
    keep = set(id(r) for r in sorted(rows, key=lambda r: (-r.margin, r.sample_id))[: max(0, limit)])
    return [r for r in rows if id(r) in keep]
