"""``python -m toonlab.book new NN_name "Title"``: a new chapter notebook with the standard first cells,
and its chapter module.

Every chapter opens the same way (DESIGN.md, "Notebook conventions"): title, launch badges, an
environment bootstrap, one ``parameters`` cell of typed literals (defaults = ``full``), the validation
of those parameters, and the committed reference results. Generating these cells keeps them identical
across chapters; a test checks that every chapter still has them.

Its steps live in ``lib/toonlab/chapters/<name>.py`` (DESIGN.md, "Package layering", layer 6; the
convention is in :mod:`toonlab.chapters`): the module is created with the docstring and ``CHAPTER``
constant the convention asks for, and the notebook imports it as ``chapter``.
"""

from __future__ import annotations

from pathlib import Path

from toonlab import atomic
from toonlab.book.chapters import CHAPTER_PATTERN
from toonlab.book.repository import COLAB_BADGE, KAGGLE_BADGE, Repository, repository

# The repository URL and branch come from _config.yml (toonlab.book.repository); ``sync_notebooks``
# rewrites these generated cells in every chapter when they change.
BOOTSTRAP_TEMPLATE = '''\
# Environment bootstrap: on Colab/Kaggle fetch the toonlab repository (its data registry, parameters and
# small committed weights live there, not in the package) and install it; elsewhere nothing.
import os, subprocess, sys
from pathlib import Path

if "google.colab" in sys.modules or "KAGGLE_KERNEL_RUN_TYPE" in os.environ:
    checkout = Path(os.environ.get("TOONLAB_ROOT") or Path.cwd() / "toonlab")
    if not (checkout / "pyproject.toml").is_file():
        subprocess.run(["git", "clone", "--depth", "1", "--branch", "{branch}",
                        "{url}", str(checkout)], check=True)
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "-e", f"{{checkout}}[book]"], check=True)
    os.environ["TOONLAB_ROOT"] = str(checkout)
    sys.path.insert(0, str(checkout / "lib"))  # the editable install is not on this kernel's path yet'''

PARAMETERS = '''\
profile: str = "full"  # ci | cpu | gpu | full: the scale to run at (defaults here are `full`, as on Colab)
seed: int = 0  # random seed for every generator in the chapter'''

VALIDATION = '''\
{chapter_import}from toonlab.params import Rule, validate
from toonlab.results import ChapterRun, glue, show_reference

params = validate(globals(), rules={{}})
run = ChapterRun({chapter_name}, params, weights="(say which models produce this chapter's numbers)")
# The best committed reference results (full > gpu > cpu), then the live run; name the saved tables/figures.
show_reference({chapter_name}, params.profile, tables=[], figures=[])'''

# lib/toonlab/chapters/<name>.py: what tests/test_conventions.py asks of a chapter module, and nothing else
CHAPTER_MODULE = '''\
"""Chapter {number} — {title}: (one line: what the chapter reproduces and measures).

What the chapter does: (the source projects it re-implements, on which data, with which metrics; where
METHODS.md is silent, what was chosen).

The steps the notebook calls, in order:

* (one line per step as it is written, e.g. ``:func:`load_images` — the chapter's data at its resolution``)

Layer 6 (DESIGN.md, "Package layering"): this module composes data, networks, training and metrics into
those steps and holds no model code of its own; it imports no other chapter module.
"""

from __future__ import annotations

CHAPTER = "{stem}"

__all__ = ["CHAPTER"]
'''


def bootstrap(repo: Repository | None = None) -> str:
    """The first code cell of every chapter, cloning the configured repository on Colab/Kaggle."""
    repo = repo or repository()
    return BOOTSTRAP_TEMPLATE.format(url=repo.url, branch=repo.branch)


def badges(stem: str, repo: Repository | None = None) -> str:
    """The second cell of every chapter: launch badges for its source notebook (HTML only)."""
    repo = repo or repository()
    return (
        "```{only} html\n"
        f"[![Open in Colab]({COLAB_BADGE})]({repo.colab_url(stem)})\n"
        f"[![Open in Kaggle]({KAGGLE_BADGE})]({repo.kaggle_url(stem)})\n"
        "```"
    )


def is_badge_cell(cell) -> bool:
    return cell.cell_type == "markdown" and cell.source.startswith("```{only} html") and "colab" in cell.source


def sync_notebooks(notebooks_dir: Path, repo: Repository | None = None) -> list[Path]:
    """Rewrite the bootstrap and badge cells of every chapter from ``_config.yml``; return the changed files.

    Only those two generated cells are touched, and a notebook already in sync is not rewritten.
    """
    import nbformat

    from toonlab.book.chapters import discover

    repo = repo or repository()
    changed = []
    for chapter in discover(notebooks_dir):
        notebook = nbformat.read(chapter.source, as_version=4)
        code = [cell for cell in notebook.cells if cell.cell_type == "code"]
        badge_cells = [cell for cell in notebook.cells if is_badge_cell(cell)]
        if not code or len(badge_cells) != 1:
            raise ValueError(f"{chapter.source} needs a bootstrap code cell and exactly one badge cell "
                             f"(found {len(badge_cells)}); compare with `python -m toonlab.book new`")
        wanted = {id(code[0]): bootstrap(repo), id(badge_cells[0]): badges(chapter.stem, repo)}
        stale = [cell for cell in (code[0], badge_cells[0]) if cell.source != wanted[id(cell)]]
        if not stale:
            continue
        for cell in stale:
            cell.source = wanted[id(cell)]
        with atomic.atomic_open(chapter.source, "w", encoding="utf-8") as handle:
            nbformat.write(notebook, handle)
        changed.append(chapter.source)
    return changed


def chapter_module_name(stem: str, module: str | None = None) -> str:
    """The chapter module's name: ``module`` if given, else the stem without its number (``05_inversion`` ->
    ``inversion``); it must be a Python identifier."""
    name = module or stem[3:]
    if not name.isidentifier():
        raise ValueError(f"chapter module name {name!r} is not a Python identifier; pass one with --module "
                         f"(09_3d uses shape3d)")
    return name


def new_chapter(stem: str, title: str, notebooks_dir: Path, chapters_dir: Path | None = None,
                module: str | None = None) -> Path:
    """Create ``notebooks_dir/<stem>.ipynb`` with the standard first cells. Given ``chapters_dir``
    (``lib/toonlab/chapters``) also create the chapter module ``<module>.py`` there (:data:`CHAPTER_MODULE`;
    ``module`` defaults to the stem's name) and import it in the notebook as ``chapter``. Nothing is written
    if either file exists already."""
    import nbformat
    from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

    if not CHAPTER_PATTERN.match(stem):
        raise ValueError(f"chapter name {stem!r} must look like NN_name (two digits, lowercase), e.g. 03_gan")
    target = Path(notebooks_dir) / f"{stem}.ipynb"
    module_path = None
    if chapters_dir is not None:
        name = chapter_module_name(stem, module)
        module_path = Path(chapters_dir) / f"{name}.py"
        if module_path.exists():
            raise FileExistsError(f"{module_path} exists; refusing to overwrite a chapter module (pass another "
                                  f"name with --module)")
    if target.exists():
        raise FileExistsError(f"{target} exists; refusing to overwrite a chapter")
    if module_path is None:
        validation = VALIDATION.format(chapter_import="", chapter_name=repr(stem))
    else:
        validation = VALIDATION.format(chapter_import=f"from toonlab.chapters import {module_path.stem} as chapter\n",
                                       chapter_name="chapter.CHAPTER")
    repo = repository()
    cells = [
        new_markdown_cell(f"# {stem[:2]} — {title}\n\n(What the source project did, and what this chapter does.)"),
        new_markdown_cell(badges(stem, repo)),
        new_code_cell(bootstrap(repo), metadata={"tags": ["remove-cell"]}),
        new_code_cell(PARAMETERS, metadata={"tags": ["parameters"]}),
        new_code_cell(validation),
    ]
    notebook = new_notebook(cells=cells, metadata={
        "kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"},
        "language_info": {"name": "python"},
    })
    if module_path is not None:
        atomic.write_text(module_path, CHAPTER_MODULE.format(number=stem[:2], title=title, stem=stem))
    with atomic.atomic_open(target, "w", encoding="utf-8") as handle:
        nbformat.write(notebook, handle)
    return target
