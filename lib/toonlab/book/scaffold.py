"""``python -m toonlab.book new NN_name "Title"``: a new chapter notebook with the standard first cells.

Every chapter opens the same way (DESIGN.md, "Notebook conventions"): title, launch badges, an
environment bootstrap, one ``parameters`` cell of typed literals (defaults = ``full``), the validation
of those parameters, and the committed reference results. Generating these cells keeps them identical
across chapters; a test checks that every chapter still has them.
"""

from __future__ import annotations

from pathlib import Path

from toonlab import atomic
from toonlab.book.chapters import CHAPTER_PATTERN

REPOSITORY_URL = "https://github.com/toonlab/toonlab"
BRANCH = "main"

BOOTSTRAP = f'''\
# Environment bootstrap: on Colab/Kaggle fetch the toonlab repository (its data registry, parameters and
# small committed weights live there, not in the package) and install it; elsewhere nothing.
import os, subprocess, sys
from pathlib import Path

if "google.colab" in sys.modules or "KAGGLE_KERNEL_RUN_TYPE" in os.environ:
    checkout = Path(os.environ.get("TOONLAB_ROOT") or Path.cwd() / "toonlab")
    if not (checkout / "pyproject.toml").is_file():
        subprocess.run(["git", "clone", "--depth", "1", "--branch", "{BRANCH}",
                        "{REPOSITORY_URL}", str(checkout)], check=True)
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "-e", f"{{checkout}}[book]"], check=True)
    os.environ["TOONLAB_ROOT"] = str(checkout)
    sys.path.insert(0, str(checkout / "lib"))  # the editable install is not on this kernel's path yet'''

PARAMETERS = '''\
profile: str = "full"  # ci | gpu | full: the scale to run at (defaults here are `full`, as on Colab)
seed: int = 0  # random seed for every generator in the chapter'''

VALIDATION = '''\
from IPython.display import Markdown

from toonlab.params import Rule, validate
from toonlab.results import ChapterRun, glue, reference_summary

params = validate(globals(), rules={{}})
run = ChapterRun("{stem}", params, weights="(say which models produce this chapter's numbers)")
Markdown(reference_summary("{stem}"))'''


def badges(stem: str) -> str:
    path = f"{REPOSITORY_URL.removeprefix('https://github.com/')}/blob/{BRANCH}/notebooks/{stem}.ipynb"
    return (
        "```{only} html\n"
        f"[![Open in Colab](https://colab.research.google.com/assets/colab-badge.svg)]"
        f"(https://colab.research.google.com/github/{path})\n"
        f"[![Open in Kaggle](https://kaggle.com/static/images/open-in-kaggle.svg)]"
        f"(https://kaggle.com/kernels/welcome?src=https://github.com/{path})\n"
        "```"
    )


def new_chapter(stem: str, title: str, notebooks_dir: Path) -> Path:
    import nbformat
    from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

    if not CHAPTER_PATTERN.match(stem):
        raise ValueError(f"chapter name {stem!r} must look like NN_name (two digits, lowercase), e.g. 03_gan")
    target = Path(notebooks_dir) / f"{stem}.ipynb"
    if target.exists():
        raise FileExistsError(f"{target} exists; refusing to overwrite a chapter")
    cells = [
        new_markdown_cell(f"# {stem[:2]} — {title}\n\n(What the source project did, and what this chapter does.)"),
        new_markdown_cell(badges(stem)),
        new_code_cell(BOOTSTRAP, metadata={"tags": ["remove-cell"]}),
        new_code_cell(PARAMETERS, metadata={"tags": ["parameters"]}),
        new_code_cell(VALIDATION.format(stem=stem)),
    ]
    notebook = new_notebook(cells=cells, metadata={
        "kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"},
        "language_info": {"name": "python"},
    })
    with atomic.atomic_open(target, "w", encoding="utf-8") as handle:
        nbformat.write(notebook, handle)
    return target
