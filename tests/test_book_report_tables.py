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
