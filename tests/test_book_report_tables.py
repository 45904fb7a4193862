"""The report PDF's tables: pandas HTML outputs turned into docutils tables for LaTeX."""

from __future__ import annotations

import pandas as pd
from docutils import nodes

from toonlab.book.report_tables import html_rows, table_node


def test_a_dataframe_becomes_its_header_and_rows_without_the_range_index():
    frame = pd.DataFrame({"model": ["ours · ci · tiny (smoke)", "FastGAN (reported)"], "FD": [12.5, 30.25]})
    head, body = html_rows(frame.to_html())
    assert head == [["model", "FD"]]
    assert body == [["ours · ci · tiny (smoke)", "12.50"], ["FastGAN (reported)", "30.25"]]


def test_a_named_index_is_kept_and_wide_frames_are_not_elided():
    frame = pd.DataFrame({f"column {i}": [i * 1.5] for i in range(25)}, index=pd.Index(["CLIP"], name="features"))
    head, body = html_rows(frame.to_html(max_cols=None))
    assert body == [["CLIP", *[f"{i * 1.5}" for i in range(25)]]]
    assert len(head[0]) == 26 and "..." not in sum(body, [])


def test_a_table_node_has_one_entry_per_cell():
    table = table_node([["a", "b"]], [["1", "2"], ["3", "4"]])
    assert isinstance(table, nodes.table) and table.astext().split() == ["a", "b", "1", "2", "3", "4"]
    assert len(list(table.findall(nodes.entry))) == 6 and len(list(table.findall(nodes.colspec))) == 2


def test_html_without_a_table_gives_no_rows():
    assert html_rows("<div><p>just text</p></div>") == ([], [])


def test_long_words_get_latex_break_points_and_keep_their_text():
    from toonlab.book.report_tables import breakable

    digest = "5c8dc113146a6f44813e66875ec781d759cb3d4b"
    pieces = breakable(f"sha {digest} images/000001.png")
    assert "".join(p.astext() for p in pieces if not isinstance(p, nodes.raw)) == f"sha {digest} images/000001.png"
    breaks = [p for p in pieces if isinstance(p, nodes.raw)]
    assert len(breaks) >= 4 and all(p.get("format") == "latex" for p in breaks)
    assert not any(isinstance(p, nodes.raw) for p in breakable("short words only"))


def test_a_wide_single_row_table_is_turned_on_its_side_and_wide_tables_set_smaller():
    from toonlab.book.report_tables import fit_to_page, sized

    names = [f"failed: reason {i}" for i in range(12)]
    head, body = fit_to_page([["", *names]], [["count", *map(str, range(12))]])
    assert head == [["", "count"]] and body[0] == ["failed: reason 0", "0"] and len(body) == 12
    assert fit_to_page([["a", "b"]], [["1", "2"]]) == ([["a", "b"]], [["1", "2"]])
    wide = sized(table_node([list("abcdefg")], [list("1234567")]), 7)
    assert [n.astext() for n in wide if isinstance(n, nodes.raw)] == [r"\begingroup\footnotesize", r"\endgroup"]
    assert len(sized(table_node([["a"]], [["1"]]), 1)) == 1


def test_a_glued_table_inside_a_figure_is_converted_and_prose_html_is_not():
    from toonlab.book.report_tables import is_output_table

    figure = nodes.figure()
    glued = nodes.raw("", pd.DataFrame({"a": [1]}).to_html(), format="html")
    figure += glued
    prose = nodes.raw("", "<span>not a table</span>", format="html")
    paragraph = nodes.paragraph()
    paragraph += prose
    assert is_output_table(glued) and not is_output_table(prose)


def test_long_decimals_are_shortened_for_the_pdf_and_nothing_else_is():
    from toonlab.book.report_tables import compact_number

    assert compact_number("3119.355469") == "3,119" and compact_number("18004.806622") == "18,005"
    assert compact_number("3.531376") == "3.531" and compact_number("0.969174") == "0.9692"
    assert compact_number("-0.139164") == "-0.1392"
    for kept in ("0.97", "1200", "12.5 MB", "3e-05", "gan_cpu_toyhollywood_stylegan2", "0.45 / 0.28", "nan"):
        assert compact_number(kept) == kept
    table = table_node([["s / step", "label"]], [["17.809485", "ours · cpu"]])
    assert table.astext().split() == ["s", "/", "step", "label", "17.81", "ours", "·", "cpu"]
