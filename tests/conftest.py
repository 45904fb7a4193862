"""Shared test fixtures. Tests run on CPU, offline, with tiny models; see DESIGN.md."""

from __future__ import annotations

import os
import shutil
import signal
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]

# Two cores on the build machines: one intra-op thread per test process keeps runs predictable.
os.environ.setdefault("OMP_NUM_THREADS", "1")


@pytest.fixture(scope="session", autouse=True)
def _torch_threads():
    try:
        import torch

        torch.set_num_threads(1)
    except ImportError:
        pass


class FailAt:
    """A training-loop callback (the interface of ``toonlab.train.loop.Callback``) that fails at ``step``: it
    raises ``error`` (default: KeyboardInterrupt, as Ctrl-C does) or, with ``sigkill``, kills its own
    process as the OOM killer would (run the training in a child process then)."""

    every, at_start = 1, False

    def __init__(self, step: int, error: BaseException | None = None, sigkill: bool = False) -> None:
        self.step, self.error, self.sigkill = step, error, sigkill

    def __call__(self, trainer, step: int) -> None:
        if step == self.step:
            if self.sigkill:
                os.kill(os.getpid(), signal.SIGKILL)
            raise self.error or KeyboardInterrupt(f"simulated crash at step {step}")


@pytest.fixture
def repo() -> Path:
    return REPO


@pytest.fixture
def book_root(tmp_path, monkeypatch) -> Path:
    """A minimal book checkout in a temporary folder: notebooks/, params, lib/, data/, _toc.yml, _config.yml.

    Notebooks in it import the real (installed) toonlab; ``lib/`` here only feeds the fingerprint.
    """
    root = tmp_path / "book"
    (root / "notebooks" / "params").mkdir(parents=True)
    (root / "lib" / "toonlab").mkdir(parents=True)
    (root / "lib" / "toonlab" / "module.py").write_text("VALUE = 1\n")
    (root / "data").mkdir()
    (root / "data" / "registry.yaml").write_text("sources: {}\n")
    (root / "pyproject.toml").write_text("[project]\nname = 'toonlab'\n")
    (root / "_toc.yml").write_text("format: jb-book\nroot: intro\n")
    (root / "_config.yml").write_text("repository:\n  url: https://github.com/example/toonlab-fork\n  branch: dev\n")
    for profile in ("ci", "cpu", "gpu", "full"):
        (root / "notebooks" / "params" / f"{profile}.yaml").write_text("common:\n  seed: 0\n")
    monkeypatch.setenv("TOONLAB_ROOT", str(root))
    return root


def copy_repo_file(relative: str, root: Path) -> None:
    target = root / relative
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy2(REPO / relative, target)


# The book is executed and built once per test session, and every book test looks at that build:
# executing all chapters in `ci` takes minutes of CPU (the runner caches them by fingerprint).
@pytest.fixture(scope="session")
def executed_book():
    from toonlab.book.runner import run

    first = run("ci", root=REPO)
    second = run("ci", root=REPO)
    return first, second


@pytest.fixture(scope="session")
def html_book(executed_book, tmp_path_factory) -> Path:
    """The HTML book built with warnings as errors (``-W -n --keep-going``) into a temporary folder."""
    from toonlab.book.build import build

    return build("html", strict=True, root=REPO, path_output=tmp_path_factory.mktemp("book"))
