"""One repository URL (_config.yml) behind the badges, bootstrap cell and README; the Pages workflow."""

from __future__ import annotations

import re
import shlex

import nbformat
import pytest
import yaml

from toonlab.book.__main__ import build_parser
from toonlab.book.chapters import discover
from toonlab.book.repository import Repository, repository
from toonlab.book.scaffold import badges, bootstrap, is_badge_cell, new_chapter, sync_notebooks

from conftest import REPO

WORKFLOW = REPO / ".github" / "workflows" / "book.yml"
STANDARD_ACTIONS = {"actions/checkout", "actions/setup-python", "actions/configure-pages",
                    "actions/upload-pages-artifact", "actions/deploy-pages"}


def test_repository_derives_launch_and_pages_addresses():
    repo = Repository("https://github.com/example/toonlab-fork", "dev")
    assert repo.colab_url("03_gan") == \
        "https://colab.research.google.com/github/example/toonlab-fork/blob/dev/notebooks/03_gan.ipynb"
    assert repo.kaggle_url("03_gan") == \
        "https://kaggle.com/kernels/welcome?src=https://github.com/example/toonlab-fork/blob/dev/notebooks/03_gan.ipynb"
    assert repo.pages_url == "https://example.github.io/toonlab-fork/"
    assert Repository("https://github.com/Example/example.github.io", "main").pages_url == "https://example.github.io/"


@pytest.mark.parametrize("url", ["https://github.com/toonlab/toonlab/", "https://github.com/toonlab/toonlab.git ",
                                 "https://gitlab.com/toonlab/toonlab", "github.com/toonlab/toonlab"])
def test_a_repository_url_that_is_not_a_github_repository_is_refused(url):
    with pytest.raises(ValueError, match="must look like https://github.com/<owner>/<name>"):
        Repository(url, "main")


def test_missing_repository_section_names_the_fix(tmp_path):
    (tmp_path / "_config.yml").write_text("title: a book\n")
    with pytest.raises(ValueError, match="has no repository.url"):
        repository(tmp_path)


def test_a_fork_changes_one_line_and_sync_rewrites_the_generated_cells(book_root):
    new_chapter("01_demo", "Demo", book_root / "notebooks")
    path = book_root / "notebooks" / "01_demo.ipynb"
    fork = repository(book_root)
    assert "https://github.com/example/toonlab-fork" in bootstrap(fork) and '"dev"' in bootstrap(fork)
    assert sync_notebooks(book_root / "notebooks") == []  # already in sync: not rewritten

    config = book_root / "_config.yml"
    config.write_text(config.read_text().replace("example/toonlab-fork", "someone/toys"))
    assert sync_notebooks(book_root / "notebooks") == [path]
    notebook = nbformat.read(path, as_version=4)
    moved = Repository("https://github.com/someone/toys", "dev")
    assert notebook.cells[1].source == badges("01_demo", moved) and "someone/toys/blob/dev/notebooks/01_demo" in \
        notebook.cells[1].source
    assert [c for c in notebook.cells if c.cell_type == "code"][0].source == bootstrap(moved)
    assert "example/toonlab-fork" not in path.read_text()


def test_sync_refuses_a_notebook_without_its_badge_cell(book_root):
    new_chapter("01_demo", "Demo", book_root / "notebooks")
    path = book_root / "notebooks" / "01_demo.ipynb"
    notebook = nbformat.read(path, as_version=4)
    notebook.cells = [c for c in notebook.cells if not is_badge_cell(c)]
    nbformat.write(notebook, path)
    with pytest.raises(ValueError, match="exactly one badge cell"):
        sync_notebooks(book_root / "notebooks")


def test_readme_clones_and_links_the_configured_repository():
    repo, readme = repository(REPO), (REPO / "README.md").read_text()
    assert f"git clone {repo.url} " in readme, "README's clone command must use _config.yml's repository.url"
    assert f"<{repo.pages_url}>" in readme, "README must link the published book at the address Pages gives"
    assert set(re.findall(r"https://[\w.-]+\.github\.io/[\w./-]*", readme)) == {repo.pages_url}


def load_workflow() -> dict:
    workflow = yaml.safe_load(WORKFLOW.read_text())
    workflow["on"] = workflow.pop(True, workflow.get("on"))  # YAML 1.1 reads the key `on` as true
    return workflow


def makefile_targets() -> set[str]:
    return set(re.findall(r"^([A-Za-z][\w-]*):", (REPO / "Makefile").read_text(), re.M))


def check_command(line: str) -> None:
    """Every command a `run:` step executes exists here: make targets, scripts, our CLI and its options."""
    words = shlex.split(line)
    while words and re.match(r"^[A-Z_]+=", words[0]):  # leading environment assignments
        words.pop(0)
    assert words, f"empty command in {line!r}"
    if words[0] == "make":
        targets = [w for w in words[1:] if "=" not in w]
        assert targets and set(targets) <= makefile_targets(), f"{line!r}: no such make target"
        flags = [w.split("=", 1)[1] for w in words[1:] if w.startswith("CHECK_FLAGS=")]
        if flags:
            build_parser().parse_args(["check", *shlex.split(flags[0])])
    elif words[0] == "bash":
        assert (REPO / words[1]).is_file(), f"{line!r}: no script {words[1]}"
    elif words[:3] == [".venv/bin/python", "-m", "toonlab.book"]:
        build_parser().parse_args(words[3:])  # exits (SystemExit) on an unknown command or option
    else:
        raise AssertionError(f"{line!r}: the workflow should only call make, .ci scripts or python -m toonlab.book")


def test_pages_workflow_uses_the_standard_actions_and_commands_that_exist():
    workflow = load_workflow()
    assert "push" in workflow["on"] and workflow["permissions"] == {"contents": "read", "pages": "write",
                                                                    "id-token": "write"}
    steps = [step for job in workflow["jobs"].values() for step in job["steps"]]
    used = {step["uses"].split("@")[0] for step in steps if "uses" in step}
    assert used == STANDARD_ACTIONS
    upload = next(step for step in steps if step.get("uses", "").startswith("actions/upload-pages-artifact"))
    assert upload["with"]["path"] == "_build/html"
    assert workflow["jobs"]["deploy"]["needs"] == "build"

    runs = [line.strip() for step in steps for line in step.get("run", "").splitlines() if line.strip()]
    for line in runs:
        check_command(line)
    readme = (REPO / "README.md").read_text()
    install = runs[0]
    assert install == "make venv" and f"`{install}`" in readme, "install with the README's command"
    assert any(line.startswith("make chapters PROFILE=ci") for line in runs)
    assert ".venv/bin/python -m toonlab.book build --strict" in runs
    assert any("make check-book" in line for line in runs), "the published book passed the browser check"


def test_the_command_check_catches_what_does_not_exist():
    for bad in ["make publish", "bash .ci/nothing", ".venv/bin/python -m toonlab.book deploy", "curl x | sh"]:
        with pytest.raises((AssertionError, SystemExit)):
            check_command(bad)
    check_command('TOONLAB_CHROMIUM="$(command -v google-chrome)" make check-book')
    with pytest.raises(SystemExit):
        check_command("make check-book CHECK_FLAGS=--offline")


def test_the_project_url_is_one_constant_that_pyproject_repeats():
    """pyproject.toml cannot import toonlab.project.REPOSITORY_URL: its Homepage literal must match it, and
    the scraper's User-Agent must name it."""
    import tomllib

    from toonlab.data.scrape.config import USER_AGENT
    from toonlab.project import REPOSITORY_URL

    homepage = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["urls"]["Homepage"]
    assert homepage == REPOSITORY_URL, "pyproject.toml's Homepage and toonlab.project.REPOSITORY_URL disagree"
    assert f"(+{REPOSITORY_URL};" in USER_AGENT
