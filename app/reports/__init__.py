"""Reports on lines over a period: what was scored, what was flagged and what reviewers said.

One concern per module:

- ``request``: what a report is about (lines and a UTC period), validated once at the boundary.
- ``data``: the plain dataclasses every renderer reads (``ReportData`` and its parts).
- ``collect``: gathers ``ReportData`` with SQL aggregates, so a month of scores costs a few
  grouped queries, not a pass over every row in Python.
- ``charts``: the score timeline as a PNG (Matplotlib's Agg canvas; no browser, no kaleido).
- ``pdf``: the PDF (fpdf2), with a capped table of the most anomalous flagged samples.
- ``tables``: CSV and XLSX exports with every flagged sample.

``app.services.reports`` is the public entry: it opens the unit of work, picks the renderer
and archives the nightly report.
"""
