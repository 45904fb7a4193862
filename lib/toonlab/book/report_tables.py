"""Sphinx extension for the report PDF: the chapters' HTML table outputs become real LaTeX tables.

Chapters show their metric tables as pandas DataFrames, whose outputs carry ``text/html`` and
``text/plain``. LaTeX cannot use the HTML, so by default the PDF printed the ``text/plain`` repr, which
pandas wraps at 80 characters and elides (``...``) when wide. The report build (``build.REPORT_CONFIG``)
lets myst-nb prefer ``text/html`` for LaTeX, and this extension turns each such output into a docutils
table, which Sphinx typesets with tabulary at the text width (cells wrap, nothing is cut off).

Written here because neither myst-nb nor Sphinx converts HTML tables for LaTeX; the HTML is parsed with
BeautifulSoup. An HTML output that holds no table is printed as its text, so nothing disappears.
"""

from __future__ import annotations

import re

from docutils import nodes

HTML_TABLE_CLASS = "report-table"
# Long unbroken strings (sha256 digests, paths, URLs) would run off the page: LaTeX may break them after
# these characters, and every BREAK_EVERY characters of a longer run.
BREAK_AFTER = re.compile(r"(?<=[/_\-.,:=])")
BREAK_EVERY = 10
LONG_WORD = 14
# A row or two of many columns (crawl counters, per-metric summaries) reads better turned on its side.
TRANSPOSE_COLUMNS = 8
# Wide tables set smaller, so columns fit the text width: (at least this many columns, LaTeX size).
FONT_SIZES = ((10, r"\scriptsize"), (6, r"\footnotesize"))


def html_rows(html: str) -> tuple[list[list[str]], list[list[str]]]:
    """(header rows, body rows) of the first ``<table>`` in ``html``, cells as text; ``([], [])`` if none."""
    from bs4 import BeautifulSoup

    table = BeautifulSoup(html, "html.parser").find("table")
    if table is None:
        return [], []

    def cells(tr) -> list[str]:
        row = []
        for cell in tr.find_all(["th", "td"], recursive=False):
            row += [cell.get_text(" ", strip=True)] * int(cell.get("colspan", 1) or 1)
        return row

    head = [cells(tr) for tr in table.select("thead > tr")]
    body = [cells(tr) for tr in table.select("tbody > tr")] or [cells(tr) for tr in table.find_all("tr")]
    if not head and body and table.find("tr").find("th") and not table.find("tr").find("td"):
        head, body = body[:1], body[1:]
    width = max(len(row) for row in head + body)
    head = [row + [""] * (width - len(row)) for row in head]
    body = [row + [""] * (width - len(row)) for row in body]
    # pandas' default RangeIndex (an unnamed column 0, 1, 2, ...) says nothing in a report.
    index = [row[0] for row in body]
    if body and all(not row[0] for row in head) and index == [str(i) for i in range(len(body))]:
        head, body = [row[1:] for row in head], [row[1:] for row in body]
    return head, body


# pandas prints floats with 6 decimals (3119.355469); in a PDF column that is width without information, and a
# column of them overruns its neighbours. The report shows such cells to 4 significant digits (thousands and more
# as whole numbers); the HTML book and the committed CSVs keep every digit.
LONG_DECIMAL = re.compile(r"-?\d+\.\d{5,}")


def compact_number(text: str) -> str:
    """``text`` shortened for the PDF if it is one long decimal (``0.969174`` -> ``0.9692``), else unchanged."""
    if not LONG_DECIMAL.fullmatch(text):
        return text
    value = float(text)
    return f"{value:,.0f}" if abs(value) >= 1000 else f"{value:.4g}"


def breakable(text: str) -> list[nodes.Node]:
    """``text`` as docutils nodes with LaTeX break points (``\\allowbreak``) inside long words."""
    pieces: list[nodes.Node] = []
    for index, word in enumerate(text.split(" ")):
        if index:
            pieces.append(nodes.Text(" "))
        if len(word) < LONG_WORD:
            pieces.append(nodes.Text(word))
            continue
        chunks = [part[i:i + BREAK_EVERY] for part in BREAK_AFTER.split(word) if part
                  for i in range(0, len(part), BREAK_EVERY)]
        for position, chunk in enumerate(chunks):
            if position:
                pieces.append(nodes.raw("", r"\allowbreak{}", format="latex"))
            pieces.append(nodes.Text(chunk))
    return pieces


def fit_to_page(head: list[list[str]], body: list[list[str]]) -> tuple[list[list[str]], list[list[str]]]:
    """Transpose a one- or two-row table with many columns (one header row): names down, values across."""
    if len(head) == 1 and len(body) <= 2 and len(head[0]) > TRANSPOSE_COLUMNS:
        columns = list(zip(head[0], *body))
        first = columns[0] if not columns[0][0] else ("", *columns[0][1:])
        return [list(first)], [list(column) for column in columns[1:]]
    return head, body


def sized(table: nodes.table, columns: int) -> list[nodes.Node]:
    """The table in a LaTeX group at a smaller size when it has many columns."""
    size = next((command for least, command in FONT_SIZES if columns >= least), None)
    if size is None:
        return [table]
    return [nodes.raw("", rf"\begingroup{size}", format="latex"), table,
            nodes.raw("", r"\endgroup", format="latex")]


def table_node(head: list[list[str]], body: list[list[str]]) -> nodes.table:
    columns = len((head or body)[0])
    body = [[compact_number(value) for value in row] for row in body]
    widths = [max([len(row[c]) for row in head + body] + [3]) for c in range(columns)]
    table = nodes.table(classes=[HTML_TABLE_CLASS])
    group = nodes.tgroup(cols=columns)
    table += group
    for width in widths:
        group += nodes.colspec(colwidth=min(width, 40))

    def row_node(values: list[str]) -> nodes.row:
        row = nodes.row()
        for value in values:
            entry = nodes.entry()
            entry += nodes.paragraph("", "", *breakable(value))
            row += entry
        return row

    if head:
        group += nodes.thead("", *[row_node(r) for r in head])
    group += nodes.tbody("", *[row_node(r) for r in body])
    return table


def in_cell_output(node: nodes.Node) -> bool:
    parent = node.parent
    while parent is not None:
        if "cell_output" in parent.get("classes", []):
            return True
        parent = parent.parent
    return False


def is_output_table(node: nodes.raw) -> bool:
    """HTML that a notebook produced: a cell's output, or a DataFrame pasted elsewhere by ``{glue:figure}``.

    Glued tables sit in a ``figure`` node, not in a cell output; LaTeX drops raw HTML, so without this the
    chapters' comparison tables (ours beside the source's numbers) would leave an empty figure in the PDF.
    """
    if in_cell_output(node):
        return True
    glued = isinstance(node.parent, nodes.figure) or any(isinstance(a, nodes.figure) for a in _ancestors(node))
    return glued and "<table" in node.astext()


def _ancestors(node: nodes.Node):
    parent = node.parent
    while parent is not None:
        yield parent
        parent = parent.parent


def convert_html_outputs(app, doctree: nodes.document, docname: str) -> None:
    if app.builder.format != "latex":
        return
    for raw in list(doctree.findall(nodes.raw)):
        if "html" not in raw.get("format", "").split() or not is_output_table(raw):
            continue
        head, body = fit_to_page(*html_rows(raw.astext()))
        if body:
            raw.replace_self(sized(table_node(head, body), len(body[0])))
        else:
            from bs4 import BeautifulSoup

            text = BeautifulSoup(raw.astext(), "html.parser").get_text("\n", strip=True)
            raw.replace_self(nodes.literal_block(text, text) if text else [])


def setup(app):
    app.connect("doctree-resolved", convert_html_outputs)
    return {"version": "1", "parallel_read_safe": True, "parallel_write_safe": True}
