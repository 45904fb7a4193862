"""Every profile's parameters pass every chapter's own validation — types and rules — without running it.

A chapter validates its parameters in the cell after the ``parameters`` cell (``validate(globals(),
rules={...})``). Here that cell's ``rules`` expression and the parameters cell are read from the notebook,
the profile's values are laid over the defaults (what papermill's injected cell does), and
:func:`toonlab.params.validate` is run on the result: a ``cpu`` or ``gpu`` value of the wrong type or out of
range fails here, not 40 minutes into a reference run that CI never executes.
"""

from __future__ import annotations

import ast

import nbformat
import pytest

from toonlab.book.chapters import discover
from toonlab.params import PROFILES, ParameterError, Rule, profile_params, validate

from conftest import REPO

CHAPTERS = discover(REPO / "notebooks")
PARAMS_DIR = REPO / "notebooks" / "params"


def _code_cells(chapter) -> list[str]:
    notebook = nbformat.read(chapter.source, as_version=4)
    return [cell.source for cell in notebook.cells if cell.cell_type == "code"]


def declared_namespace(chapter) -> dict:
    """The parameters cell executed: its defaults and its ``__annotations__``, nothing else."""
    namespace: dict = {}
    exec(compile(_code_cells(chapter)[1], f"{chapter.stem}:parameters", "exec"), namespace)  # noqa: S102 - our cell
    return namespace


def chapter_rules(chapter) -> dict[str, Rule]:
    """The ``rules=`` mapping of the chapter's ``validate(globals(), rules=...)`` call, evaluated."""
    tree = ast.parse(_code_cells(chapter)[2])
    calls = [node for node in ast.walk(tree) if isinstance(node, ast.Call)
             and getattr(node.func, "id", None) == "validate"]
    assert len(calls) == 1, f"{chapter.stem}: expected one validate(...) call after the parameters cell"
    rules = [kw.value for kw in calls[0].keywords if kw.arg == "rules"]
    if not rules:
        return {}
    return eval(compile(ast.Expression(rules[0]), f"{chapter.stem}:rules", "eval"), {"Rule": Rule})  # noqa: S307


@pytest.mark.parametrize("profile", PROFILES)
@pytest.mark.parametrize("chapter", CHAPTERS, ids=lambda c: c.stem)
def test_every_profile_passes_the_chapters_own_validation(chapter, profile):
    namespace = declared_namespace(chapter)
    values = profile_params(profile, chapter.stem, PARAMS_DIR)
    undeclared = sorted(set(values) - set(namespace["__annotations__"]))
    assert not undeclared, f"{profile}.yaml sets {undeclared}, which {chapter.source.name} does not declare"
    namespace.update(values)
    params = validate(namespace, chapter_rules(chapter))
    assert params.profile == profile


def test_the_check_catches_a_wrong_type_and_an_out_of_range_value():
    """The test above can fail: a string where an int is declared, and a value below a rule's minimum."""
    chapter = next(c for c in CHAPTERS if c.stem == "02_clustering")
    rules = chapter_rules(chapter)
    assert rules["vae_steps"].min == 1
    namespace = {**declared_namespace(chapter), **profile_params("cpu", chapter.stem, PARAMS_DIR)}
    with pytest.raises(ParameterError, match="'vae_steps' must be int"):
        validate({**namespace, "vae_steps": "3000"}, rules)
    with pytest.raises(ParameterError, match="'vae_steps' is 0; it must be >= 1"):
        validate({**namespace, "vae_steps": 0}, rules)
