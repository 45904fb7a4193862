"""The report PDF (`make pdf`), looked at with poppler: pages, figures, no code, nothing off the page.

Uses the chapters tests/test_book.py executed (session fixture ``executed_book``); TeX and poppler-utils
come from `.ci/install-tex`, which `make test` runs.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import xml.etree.ElementTree as ET
from pathlib import Path

import nbformat
import numpy as np
import pytest
from PIL import Image

from toonlab.book.build import build
from toonlab.book.chapters import discover

from conftest import REPO

pytestmark = [pytest.mark.slow, pytest.mark.timeout(2400)]
# Ink this far (in PDF points) inside the paper's right edge is off the text block: a cut-off line.
RIGHT_MARGIN_PT = 36
BLANK_STD = 4.0  # grey levels; a rendered figure region flatter than this shows nothing


def poppler(tool: str) -> str:
    found = shutil.which(tool)
    if not found:
        pytest.fail(f"{tool} not found: run `bash .ci/install-tex` (installs TeX and poppler-utils)")
    return found


@pytest.fixture(scope="module")
def pdf(executed_book, tmp_path_factory) -> Path:
    latex = build("pdflatex", root=REPO, path_output=tmp_path_factory.mktemp("pdf"))
    path = latex / "toonlab.pdf"
    assert path.is_file(), f"no PDF in {latex}"
    (REPO / "_build").mkdir(exist_ok=True)
    shutil.copy2(path, REPO / "_build" / "toonlab-report.pdf")  # beside the screenshots, for a person to read
    return path


@pytest.fixture(scope="module")
def layout(pdf, tmp_path_factory) -> ET.Element:
    """Every page's text and image boxes in PDF points (pdftohtml -xml -zoom 1)."""
    out = tmp_path_factory.mktemp("xml") / "layout"
    subprocess.run([poppler("pdftohtml"), "-xml", "-q", "-nodrm", "-zoom", "1", str(pdf), str(out)], check=True)
    return ET.parse(f"{out}.xml").getroot()


def page_count(pdf: Path) -> int:
    info = subprocess.run([poppler("pdfinfo"), str(pdf)], check=True, capture_output=True, text=True).stdout
    return int(re.search(r"^Pages:\s+(\d+)", info, re.M)[1])


def figure_outputs() -> int:
    count = 0
    for chapter in discover(REPO / "notebooks"):
        notebook = nbformat.read(REPO / "book" / "chapters" / f"{chapter.stem}.ipynb", as_version=4)
        count += sum("image/png" in output.get("data", {}) for cell in notebook.cells if cell.cell_type == "code"
                     for output in cell.outputs)
    return count


def images(layout: ET.Element) -> list[tuple[int, dict]]:
    return [(int(page.get("number")), {k: float(v) for k, v in image.attrib.items() if k != "src"})
            for page in layout.iter("page") for image in page.iter("image")]


def test_page_count_and_every_figure_output_is_in_the_pdf(pdf, layout):
    pages = page_count(pdf)
    chapters = len(discover(REPO / "notebooks"))
    assert 2 + chapters <= pages <= 25 * chapters, f"{pages} pages for {chapters} chapters"
    assert len(images(layout)) >= figure_outputs() > 0


def test_rendered_figures_are_not_blank_and_span_the_text_width(pdf, layout, tmp_path):
    found = images(layout)
    text_right = max(float(t.get("left")) + float(t.get("width")) for t in layout.iter("text"))
    pages = sorted({page for page, _ in found})[:4]  # a few pages, rendered as a reader sees them
    for number in pages:
        prefix = tmp_path / f"page{number}"
        subprocess.run([poppler("pdftoppm"), "-r", "72", "-gray", "-png", "-f", str(number), "-l", str(number),
                        str(pdf), str(prefix)], check=True)
        rendered = np.asarray(Image.open(next(tmp_path.glob(f"page{number}*.png"))).convert("L"), dtype=float)
        page = next(p for p in layout.iter("page") if int(p.get("number")) == number)
        scale = rendered.shape[1] / float(page.get("width"))  # pdftohtml's units to rendered pixels
        for _, box in (item for item in found if item[0] == number):
            top, left = int(box["top"] * scale), int(box["left"] * scale)
            region = rendered[top: top + int(box["height"] * scale), left: left + int(box["width"] * scale)]
            assert region.size and region.std() > BLANK_STD, f"a blank figure on page {number} at {box}"
    widths = [box["width"] for _, box in found]
    # 100% of the text width: the widest figures reach the text block's width (within 5 %).
    left_margin = min(float(t.get("left")) for t in layout.iter("text"))
    assert max(widths) >= 0.95 * (text_right - left_margin)


def test_no_code_cells_and_no_line_runs_off_the_page(pdf, layout):
    text = subprocess.run([poppler("pdftotext"), "-layout", str(pdf), "-"], check=True, capture_output=True,
                          text=True).stdout
    # Code cells leave a `cell_input` container in the LaTeX source (myst-nb); prose may quote code, so the
    # PDF text alone cannot tell a code example in a page from a code cell.
    tex = next(pdf.parent.glob("*.tex")).read_text()
    assert "{sphinxuseclass}{cell_output}" in tex, "cell containers are marked in the LaTeX (the check below is live)"
    assert "{cell_input}" not in tex and "params = validate(" not in text, "code cells are hidden in the report PDF"
    for page in layout.iter("page"):
        limit = float(page.get("width")) - RIGHT_MARGIN_PT
        for box in [*page.iter("text"), *page.iter("image")]:
            right = float(box.get("left")) + float(box.get("width"))
            assert right <= limit, (f"page {page.get('number')}: {''.join(box.itertext())[:80]!r} runs to "
                                    f"{right:.0f} of {page.get('width')} (cut off)")
