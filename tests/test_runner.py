"""The papermill runner: cache decision, failure handling, parameter checks, the scaffold."""

from __future__ import annotations

import json
import os

import nbformat
import pytest
from nbformat.v4 import new_code_cell

from toonlab.book.chapters import discover, fingerprint, recorded_run, select
from toonlab.book.runner import ChapterFailed, chapter_parameters, run
from toonlab.book.scaffold import bootstrap, new_chapter
from toonlab.params import ParameterError


def add_chapter(root, stem="01_demo", extra_cells=(), parameters_extra=""):
    path = new_chapter(stem, "Demo", root / "notebooks")
    notebook = nbformat.read(path, as_version=4)
    if parameters_extra:
        notebook.cells[3].source += "\n" + parameters_extra
    notebook.cells += [new_code_cell(source) for source in extra_cells]
    nbformat.write(notebook, path)
    return path


WRITE_RESULT = 'run.metric("steps", steps); run.finish(); glue("steps", steps)'


def quiet(*_):
    pass


# An import the fingerprint sees (it reads import statements, also inside functions) but the kernel never runs:
# the temporary checkout's lib/toonlab/module.py only exists to feed the fingerprint.
USES_MODULE = "def _depends_on():\n    from toonlab import module"


def test_runs_then_skips_unchanged_and_reruns_what_changed(book_root):
    add_chapter(book_root, "01_demo", [WRITE_RESULT, USES_MODULE], "steps: int = 100  # training steps")
    add_chapter(book_root, "02_other", ['print("hello")'])
    (book_root / "notebooks/params/ci.yaml").write_text("common:\n  seed: 0\n01_demo:\n  steps: 3\n")

    first = run("ci", root=book_root, echo=quiet)
    assert [r.status for r in first.results] == ["ran", "ran"]
    executed = book_root / "book/chapters/01_demo.ipynb"
    record = recorded_run(executed)
    assert record["status"] == "ok" and record["profile"] == "ci" and record["parameters"]["steps"] == 3
    assert record["wall_time_s"] > 0
    metrics = json.loads((book_root / "results/ci/01_demo/metrics.json").read_text())
    assert metrics["metrics"] == {"steps": 3}  # the kernel wrote into this checkout (TOONLAB_ROOT)

    assert [r.status for r in run("ci", root=book_root, echo=quiet).results] == ["cached", "cached"]

    # a chapter's notebook changed -> only that chapter runs
    nb_path = book_root / "notebooks/02_other.ipynb"
    nb = nbformat.read(nb_path, as_version=4)
    nb.cells[-1].source = 'print("changed")'
    nbformat.write(nb, nb_path)
    assert [r.status for r in run("ci", root=book_root, echo=quiet).results] == ["cached", "ran"]

    # its parameters changed -> only that chapter runs
    (book_root / "notebooks/params/ci.yaml").write_text("common:\n  seed: 0\n01_demo:\n  steps: 4\n")
    assert [r.status for r in run("ci", root=book_root, echo=quiet).results] == ["ran", "cached"]

    # a library module changed -> the chapters that import it run; a module none imports -> no chapter
    (book_root / "lib/toonlab/module.py").write_text("VALUE = 2\n")
    assert [r.status for r in run("ci", root=book_root, echo=quiet).results] == ["ran", "cached"]
    (book_root / "lib/toonlab/unused.py").write_text("VALUE = 3\n")
    assert [r.status for r in run("ci", root=book_root, echo=quiet).results] == ["cached", "cached"]
    # a library data file (read by name, not imported) or the data registry changed -> every chapter runs
    (book_root / "lib/toonlab/table.yaml").write_text("a: 1\n")
    assert [r.status for r in run("ci", root=book_root, echo=quiet).results] == ["ran", "ran"]
    (book_root / "data/registry.yaml").write_text("sources: {emoji: {}}\n")
    assert [r.status for r in run("ci", root=book_root, echo=quiet).results] == ["ran", "ran"]

    # --force and --chapters
    report = run("ci", ["02"], root=book_root, force=True, echo=quiet)
    assert [(r.chapter, r.status) for r in report.results] == [("02_other", "ran")]

    # --missing: only chapters with no executed copy (make book CHAPTERS=... fills the rest before building)
    (book_root / "book/chapters/02_other.ipynb").unlink()
    report = run("ci", root=book_root, missing_only=True, echo=quiet)
    assert [(r.chapter, r.status) for r in report.results] == [("02_other", "ran")]
    assert run("ci", root=book_root, missing_only=True, echo=quiet).results == []


def test_failing_chapter_names_the_cell_and_leaves_nothing_behind(book_root):
    add_chapter(book_root, "01_demo", ["x = 1", 'raise ValueError("the data is broken")'])
    out = book_root / "book/chapters"
    out.mkdir(parents=True)
    (out / "01_demo.ipynb").write_text("{}")  # a stale executed copy from an earlier run

    with pytest.raises(ChapterFailed) as failure:
        run("ci", root=book_root, echo=quiet)
    assert failure.value.chapter == "01_demo"
    assert failure.value.cell_index == 6 and failure.value.ename == "ValueError"
    assert "the data is broken" in str(failure.value) and "cell 6" in str(failure.value)
    assert list(out.iterdir()) == []  # neither the stale copy nor a half-written one


def test_invalid_parameter_value_fails_in_the_validation_cell(book_root):
    add_chapter(book_root, "01_demo", [], "steps: int = 100  # training steps")
    (book_root / "notebooks/params/ci.yaml").write_text("common:\n  seed: 0\n01_demo:\n  steps: many\n")
    with pytest.raises(ChapterFailed, match=r"ParameterError: parameter 'steps' must be int, got str 'many'"):
        run("ci", root=book_root, echo=quiet)


def test_unknown_parameter_in_profile_file_is_caught_before_running(book_root):
    add_chapter(book_root, "01_demo")
    (book_root / "notebooks/params/ci.yaml").write_text("common:\n  seed: 0\n01_demo:\n  stesp: 3\n")
    chapter = discover(book_root / "notebooks")[0]
    with pytest.raises(ParameterError, match=r"\['stesp'\] given for chapter 01_demo but not declared"):
        chapter_parameters(chapter, "ci", book_root / "notebooks/params")


def test_selection_and_discovery_errors(book_root):
    add_chapter(book_root, "01_demo")
    chapters = discover(book_root / "notebooks")
    assert [c.stem for c in select(chapters, ["01"])] == ["01_demo"]
    assert [c.stem for c in select(chapters, ["01_demo"])] == ["01_demo"]
    with pytest.raises(ValueError, match="no chapter '07'"):
        select(chapters, ["07"])
    (book_root / "notebooks/01_again.ipynb").write_text("{}")
    with pytest.raises(ValueError, match="share the number"):
        discover(book_root / "notebooks")


def test_fingerprint_is_stable_and_depends_on_parameters(book_root):
    add_chapter(book_root, "01_demo")
    chapter = discover(book_root / "notebooks")[0]
    a = fingerprint(chapter, {"profile": "ci", "seed": 0}, book_root)
    assert a == fingerprint(chapter, {"seed": 0, "profile": "ci"}, book_root)
    assert a != fingerprint(chapter, {"profile": "ci", "seed": 1}, book_root)
    (book_root / "data/cache").mkdir()
    (book_root / "data/cache/big.bin").write_bytes(b"downloads do not count")
    assert a == fingerprint(chapter, {"profile": "ci", "seed": 0}, book_root)


def test_scaffold_has_standard_cells_and_refuses_to_overwrite(tmp_path):
    import papermill

    path = new_chapter("05_demo", "Demo", tmp_path)
    notebook = nbformat.read(path, as_version=4)
    assert notebook.cells[2].source == bootstrap() and "remove-cell" in notebook.cells[2].metadata.tags
    assert notebook.cells[3].metadata.tags == ["parameters"]
    declared = papermill.inspect_notebook(str(path))
    assert declared["profile"]["default"] == '"full"' and declared["profile"]["help"]
    with pytest.raises(FileExistsError):
        new_chapter("05_demo", "Demo", tmp_path)
    with pytest.raises(ValueError, match="NN_name"):
        new_chapter("demo", "Demo", tmp_path)


def test_scaffold_creates_the_chapter_module_the_conventions_ask_for(book_root, capsys):
    """``python -m toonlab.book new`` writes lib/toonlab/chapters/<name>.py (docstring naming the chapter and
    its steps, ``CHAPTER``), imported by the new notebook as ``chapter``; it overwrites nothing."""
    import ast
    import importlib.util

    from toonlab.book.__main__ import main

    assert main(["new", "06_demo", "Demo things"]) == 0
    module_path = book_root / "lib/toonlab/chapters/demo.py"
    assert f"created {book_root / 'notebooks/06_demo.ipynb'} and {module_path}" in capsys.readouterr().out
    docstring = ast.get_docstring(ast.parse(module_path.read_text()))
    assert docstring.startswith("Chapter 06 — Demo things") and "steps the notebook calls" in docstring
    spec = importlib.util.spec_from_file_location("scaffolded_demo", module_path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert module.CHAPTER == "06_demo"
    validation = nbformat.read(book_root / "notebooks/06_demo.ipynb", as_version=4).cells[4].source
    assert validation.startswith("from toonlab.chapters import demo as chapter\n")
    assert 'ChapterRun(chapter.CHAPTER, params' in validation and "show_reference(chapter.CHAPTER," in validation

    (book_root / "notebooks/06_demo.ipynb").unlink()  # the module is left: nothing is written
    assert main(["new", "06_demo", "Demo things"]) == 2
    assert "demo.py exists" in capsys.readouterr().err and not (book_root / "notebooks/06_demo.ipynb").exists()
    assert main(["new", "09_3d", "3D"]) == 2
    assert "'3d' is not a Python identifier; pass one with --module" in capsys.readouterr().err
    assert main(["new", "09_3d", "3D", "--module", "shape3d"]) == 0
    assert (book_root / "lib/toonlab/chapters/shape3d.py").is_file()


def test_notebook_opened_on_its_own_runs_bootstrap_and_parameter_cells(tmp_path, monkeypatch):
    """No papermill: the defaults (profile `full`) validate, and a bad edit gives a clear error."""
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError

    monkeypatch.setenv("TOONLAB_ROOT", str(tmp_path))
    (tmp_path / "_config.yml").write_text("repository:\n  url: https://github.com/example/toonlab-fork\n")
    path = new_chapter("05_demo", "Demo", tmp_path)
    notebook = nbformat.read(path, as_version=4)
    NotebookClient(notebook, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}).execute()
    outputs = notebook.cells[4].outputs
    assert "No committed reference results yet" in outputs[0]["data"]["text/markdown"]

    notebook = nbformat.read(path, as_version=4)
    notebook.cells[3].source = notebook.cells[3].source.replace('"full"', '"fast"')
    with pytest.raises(CellExecutionError, match="'profile' is 'fast'; it must be one of"):
        NotebookClient(notebook, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}).execute()
    assert not os.path.exists(tmp_path / "results")  # validation wrote nothing


def test_results_overview_lists_reference_and_smoke_runs(book_root):
    from toonlab.book import overview
    from toonlab.results import ChapterRun

    add_chapter(book_root, "01_demo")
    add_chapter(book_root, "02_other")
    for profile, value in (("gpu", 12.5), ("ci", 99.0)):
        chapter_run = ChapterRun("01_demo", {"profile": profile}, weights=f"{profile} weights", root=book_root)
        chapter_run.metric("fd_toon", value)
        chapter_run.metric("per_class", [1, 2])  # lists are not "key numbers"
        chapter_run.finish()
    page = overview.write(book_root).read_text()
    rows = [line for line in page.splitlines() if line.startswith("| 0")]
    # made outside the runner: no fingerprint recorded, so its freshness is unchecked
    assert rows[0].startswith("| 01_demo | `gpu` | unchecked | — | gpu weights | fd_toon = 12.5 |")
    assert rows[1].startswith("| 01_demo | `ci` (smoke) | smoke (this build) | — | ci weights | fd_toon = 99 |")
    assert rows[2] == "| 02_other | — | no results yet | — | — | — | — | — | — |"
    assert "No committed reference results hold a source project's number yet." in page


# --- the cache key sees installed packages and downloaded data -------------------------------------------


def test_the_cache_key_follows_what_a_chapter_imports(book_root, monkeypatch):
    from toonlab.book import dependencies, imports

    (book_root / "lib/toonlab/helper.py").write_text("def f():\n    import yaml  # a lazy import counts too\n")
    (book_root / "lib/toonlab/module.py").write_text("from .helper import f\nVALUE = 1\n")
    add_chapter(book_root, "01_demo", ["import numpy as np", "%matplotlib inline\nfrom toonlab.module import VALUE"])
    chapter = discover(book_root / "notebooks")[0]
    modules = dependencies.third_party_modules(imports.notebook_imports(chapter.source), book_root)
    assert {"numpy", "yaml", "IPython"} <= modules and "toonlab" not in modules
    packages = dependencies.chapter_packages(chapter.source, book_root)
    assert packages["numpy"] and packages["pyyaml"] and "python" in packages
    assert "diffusers" not in packages  # not imported by this chapter, nor required by what it imports

    before = fingerprint(chapter, {"seed": 0}, book_root)
    real = dependencies._version
    monkeypatch.setattr(dependencies, "_version", lambda d: "0.0.1" if d == "diffusers" else real(d))
    assert fingerprint(chapter, {"seed": 0}, book_root) == before  # an upgrade elsewhere: still cached
    monkeypatch.setattr(dependencies, "_version", lambda d: "99.0" if d == "numpy" else real(d))
    assert fingerprint(chapter, {"seed": 0}, book_root) != before  # numpy upgraded: run again


def test_ipython_syntax_does_not_hide_a_cells_imports(book_root):
    from toonlab.book import imports

    add_chapter(book_root, "01_demo", ["files = !ls\nimport yaml", "np?\nimport numpy as np",
                                       "%%time\nimport PIL.Image", "%matplotlib inline\nfrom packaging import version"])
    found = imports.notebook_imports(discover(book_root / "notebooks")[0].source)
    assert {"yaml", "numpy", "PIL.Image", "packaging"} <= found


def test_source_manifest_digests_hash_only_the_named_sources_under_root(book_root, monkeypatch):
    from toonlab.book import dependencies
    from toonlab.paths import source_manifest_path

    monkeypatch.delenv("TOONLAB_CACHE", raising=False)
    monkeypatch.delenv("TOONLAB_ROOT", raising=False)  # ``root`` alone says where the cache is
    manifest = book_root / ".cache/data/comic/manifest.csv"
    assert source_manifest_path("comic", book_root) == manifest
    assert dependencies.source_manifest_digests(["comic"], book_root) == {"comic": "missing"}
    manifest.parent.mkdir(parents=True)
    manifest.write_text("path,label,sha256,bytes,attributes\na.png,x,00,1,{}\n")
    (book_root / ".cache/data/other").mkdir()
    (book_root / ".cache/data/other/manifest.csv").write_text("unrelated\n")
    digests = dependencies.source_manifest_digests(["comic"], book_root)
    assert list(digests) == ["comic"] and digests["comic"] != "missing"
    assert not (book_root / ".cache/data/files").exists()  # nothing created


# A chapter that loads a folder source: the data layer writes the source's manifest and notes its use.
LOAD_SOURCE = """
import os
from toonlab.paths import note_source_used, source_manifest_path
manifest = source_manifest_path("x")
manifest.parent.mkdir(parents=True, exist_ok=True)
if not manifest.is_file():
    manifest.write_text("path,label,sha256,bytes,attributes\\na.png,x,00,1,{}\\n")
note_source_used("x")
"""


def test_the_cache_key_follows_the_data_manifests_a_chapter_used_and_no_other(book_root, tmp_path, monkeypatch):
    cache = tmp_path / "cache"
    monkeypatch.setenv("TOONLAB_CACHE", str(cache))
    add_chapter(book_root, "01_demo", [LOAD_SOURCE])
    assert [r.status for r in run("ci", root=book_root, echo=quiet).results] == ["ran"]
    record = recorded_run(book_root / "book/chapters/01_demo.ipynb")
    assert list(record["environment"]["source_manifests"]) == ["x"]  # what it loaded, written by itself
    # its own manifest, written during its run, is part of the stored key: the next run is cached
    assert [r.status for r in run("ci", root=book_root, echo=quiet).results] == ["cached"]
    # another data set downloaded (or a rendered cache written): still cached
    (cache / "data/other").mkdir(parents=True)
    (cache / "data/other/manifest.csv").write_text("path,label,sha256,bytes,attributes\nb.png,y,11,1,{}\n")
    (cache / "data/x/r64-pad-s0-nall-abc").mkdir()
    (cache / "data/x/r64-pad-s0-nall-abc/manifest.csv").write_text("rendered\n")
    assert [r.status for r in run("ci", root=book_root, echo=quiet).results] == ["cached"]
    # the data it used changed: it runs again
    (cache / "data/x/manifest.csv").write_text("path,label,sha256,bytes,attributes\na.png,x,22,1,{}\n")
    assert [r.status for r in run("ci", root=book_root, echo=quiet).results] == ["ran"]
    assert [r.status for r in run("ci", root=book_root, echo=quiet).results] == ["cached"]
    assert not list((book_root / "book/chapters").glob(".*.sources"))


def test_a_folder_source_notes_that_a_chapter_loaded_it(tmp_path, monkeypatch):
    from toonlab.data.registry import get_spec
    from toonlab.data.sources.folder import FolderSource
    from toonlab.paths import SOURCES_USED_ENV

    monkeypatch.setenv("TOONLAB_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv(SOURCES_USED_ENV, str(tmp_path / "used"))
    folder = tmp_path / "images" / "cats"
    folder.mkdir(parents=True)
    from PIL import Image
    Image.new("RGB", (4, 4)).save(folder / "a.png")
    source = FolderSource(get_spec("toyhollywood"))
    source.manifest(tmp_path / "images")
    assert (tmp_path / "used").read_text().split() == ["toyhollywood"]
    assert source.manifest_path() == tmp_path / "cache/data/toyhollywood/manifest.csv"


def test_an_upgraded_package_reruns_the_chapter_and_is_recorded(book_root, monkeypatch):
    from toonlab.book import dependencies

    add_chapter(book_root, "01_demo", ["import numpy"])
    assert [r.status for r in run("ci", root=book_root, echo=quiet).results] == ["ran"]
    record = recorded_run(book_root / "book/chapters/01_demo.ipynb")
    assert record["environment"]["packages"]["numpy"]
    assert [r.status for r in run("ci", root=book_root, echo=quiet).results] == ["cached"]
    real = dependencies._version
    monkeypatch.setattr(dependencies, "_version", lambda d: "99.0" if d == "numpy" else real(d))
    assert [r.status for r in run("ci", root=book_root, echo=quiet).results] == ["ran"]



def test_reference_results_record_their_fingerprint_and_turn_stale_when_the_chapter_changes(book_root, monkeypatch):
    """A reference run through the runner records its fingerprint; the overview says current, then stale with
    the refresh command once the chapter's parameters change; its compare() tables are shown beside the source."""
    from toonlab.book import overview

    write_gpu_result = ('import pandas as pd\nfrom toonlab.results import Reported, compare\n'
                        'run.table("vs_source", compare([{"metric": "fd", "reported": Reported("Src", 4.0), '
                        '"ours": float(steps)}], run.label))\nrun.table("plain", pd.DataFrame({"x": [1]}))\n'
                        'run.metric("steps", steps); run.finish()')
    add_chapter(book_root, "01_demo", [write_gpu_result], "steps: int = 100  # training steps")
    (book_root / "notebooks/params/gpu.yaml").write_text("common:\n  seed: 0\n01_demo:\n  steps: 5\n")
    run("gpu", root=book_root, out_dir=book_root / "gpu-run", echo=quiet)
    assert "TOONLAB_FINGERPRINT" not in os.environ  # set for the kernel only, not left behind in this process
    record = json.loads((book_root / "results/gpu/01_demo/metrics.json").read_text())
    assert record["provenance"]["fingerprint"] == recorded_run(book_root / "gpu-run/01_demo.ipynb")["code_fingerprint"]
    assert record["provenance"]["load_average_at_end"] is not None

    page = overview.render(book_root)
    assert "| 01_demo | `gpu` | current |" in page
    assert "### 01_demo: `vs_source.csv` (profile `gpu`)" in page and "| fd | Src | 4 | 5 |" in page
    assert "plain.csv" not in page  # only tables with the source's numbers

    (book_root / "notebooks/params/gpu.yaml").write_text("common:\n  seed: 0\n01_demo:\n  steps: 6\n")
    page = overview.render(book_root)
    assert '| 01_demo | `gpu` | **stale**: refresh with `make book PROFILE=gpu CHAPTERS="01"` |' in page

    # the chapter itself, built in ci by the runner, shows the gpu result with its tables, marked stale
    run("ci", root=book_root, echo=quiet)
    executed = nbformat.read(book_root / "book/chapters/01_demo.ipynb", as_version=4)
    shown = "\n".join(str(output.get("data", {})) for cell in executed.cells for output in cell.get("outputs", []))
    assert "Reference results, profile `gpu`" in shown and "Stale:" in shown
    assert "live `ci` run: a smoke check" in shown

    # committing new reference results re-runs the ci chapter that shows them, though its code is unchanged
    assert [r.status for r in run("ci", root=book_root, echo=quiet).results] == ["cached"]
    (book_root / "results/gpu/01_demo/plain.csv").write_text("x\n2\n")
    assert [r.status for r in run("ci", root=book_root, echo=quiet).results] == ["ran"]


def test_chapter_fingerprint_follows_imports_transitively_and_only_them(tmp_path):
    """The lib files a chapter depends on: what its notebook imports, what those import (also inside
    functions, and a package's lazily exported modules), their parent packages; nothing else of lib/."""
    from toonlab.book.chapters import imported_lib_files

    lib = tmp_path / "lib" / "toonlab"
    for relative, source in {
        "__init__.py": "",
        "a.py": "from toonlab.pkg import b\n",
        "pkg/__init__.py": "",
        "pkg/b.py": "def f():\n    import toonlab.c as c\n",
        "c.py": "import numpy\n",
        "lazy/__init__.py": "_EXPORTS = {'thing': 'toonlab.lazy.impl'}\n",
        "lazy/impl.py": "",
        "unrelated.py": "import toonlab.a\n",
    }.items():
        (lib / relative).parent.mkdir(parents=True, exist_ok=True)
        (lib / relative).write_text(source)
    found = {p.relative_to(lib).as_posix() for p in imported_lib_files(["from toonlab import a\nimport toonlab.lazy"], tmp_path)}
    assert found == {"__init__.py", "a.py", "pkg/__init__.py", "pkg/b.py", "c.py", "lazy/__init__.py", "lazy/impl.py"}


def test_the_fingerprint_and_the_package_versions_walk_the_same_imports(book_root):
    """One walker for both: a module reached through a relative import is hashed into the fingerprint, as
    its third-party imports are looked up for the package versions."""
    from toonlab.book import dependencies
    from toonlab.book.chapters import chapter_lib_files, code_fingerprint

    (book_root / "lib/toonlab/helper.py").write_text("def f():\n    import yaml\n")
    (book_root / "lib/toonlab/module.py").write_text("from .helper import f\nVALUE = 1\n")
    add_chapter(book_root, "01_demo", ["from toonlab.module import VALUE"])
    chapter = discover(book_root / "notebooks")[0]
    lib = book_root / "lib/toonlab"
    assert {lib / "helper.py", lib / "module.py"} <= set(chapter_lib_files(chapter, book_root))
    assert "yaml" in dependencies.third_party_modules({"toonlab.module"}, book_root)
    before = code_fingerprint(chapter, {"seed": 0}, book_root)
    (book_root / "lib/toonlab/helper.py").write_text("def f():\n    import yaml\n    return 2\n")
    assert code_fingerprint(chapter, {"seed": 0}, book_root) != before


def test_real_chapters_depend_on_their_own_modules_not_on_other_chapters_or_the_book_tooling():
    from conftest import REPO
    from toonlab.book.chapters import chapter_lib_files

    chapters = {c.stem: c for c in discover(REPO / "notebooks")}
    files = {p.relative_to(REPO / "lib" / "toonlab").as_posix() for p in chapter_lib_files(chapters["02_clustering"], REPO)}
    assert {"chapters/clustering.py", "results.py", "params.py", "cluster/baselines.py", "metrics/clustering.py"} <= files
    assert "chapters/gan.py" not in files and "book/overview.py" not in files


def test_reference_profiles_give_a_cell_longer_than_ci():
    from toonlab.book.runner import default_cell_timeout

    assert default_cell_timeout("ci") == 1800
    assert all(default_cell_timeout(p) >= 3 * 3600 for p in ("cpu", "gpu", "full"))


def test_a_chapters_own_exports_do_not_make_its_results_stale(book_root):
    """Re-running chapter 03 rewrites its generator exports and their sha256: its results stay current, the
    chapter that loads them (05) and a chapter with no relation to them see the change."""
    from toonlab.book.chapters import code_fingerprint

    add_chapter(book_root, "03_gan")
    add_chapter(book_root, "05_inversion")
    weights = book_root / "data" / "weights"
    weights.mkdir()
    (weights / "gan.safetensors").write_bytes(b"first")
    registry = book_root / "data" / "registry.yaml"

    def publish(content: bytes, sha: str) -> None:
        (weights / "gan.safetensors").write_bytes(content)
        registry.write_text("sources: {}\nweights:\n  gan_cpu:\n    file: data/weights/gan.safetensors\n"
                            f"    sha256: {sha}\n    chapter: 03_gan\n")

    publish(b"first", "aaa")
    gan, inversion = discover(book_root / "notebooks")
    before = {c.stem: code_fingerprint(c, {}, book_root) for c in (gan, inversion)}
    publish(b"second", "bbb")
    after = {c.stem: code_fingerprint(c, {}, book_root) for c in (gan, inversion)}
    assert after["03_gan"] == before["03_gan"]
    assert after["05_inversion"] != before["05_inversion"]
    (book_root / "data" / "other.csv").write_text("a\n")  # any other data file still counts for every chapter
    assert code_fingerprint(gan, {}, book_root) != after["03_gan"]


def test_a_data_set_for_other_chapters_does_not_make_results_stale(book_root):
    """A source whose registry entry names its chapters (``chapters: [08_fewshot]``) counts only for them."""
    from toonlab.book.chapters import code_fingerprint

    add_chapter(book_root, "03_gan")
    add_chapter(book_root, "08_fewshot")
    gan, fewshot = discover(book_root / "notebooks")
    before = {c.stem: code_fingerprint(c, {}, book_root) for c in (gan, fewshot)}
    (book_root / "data" / "dreambench").mkdir()
    (book_root / "data" / "dreambench" / "00.jpg").write_bytes(b"image")
    (book_root / "data" / "manifests").mkdir()
    (book_root / "data" / "manifests" / "dreambench.csv").write_text("file\n00.jpg\n")
    (book_root / "data" / "registry.yaml").write_text(
        "sources: {}\ndreambench:\n  chapters: [08_fewshot]\n")  # its manifest: manifests/<name>.csv
    after = {c.stem: code_fingerprint(c, {}, book_root) for c in (gan, fewshot)}
    assert after["08_fewshot"] != before["08_fewshot"]
    assert after["03_gan"] == before["03_gan"]
    (book_root / "data" / "dreambench" / "00.jpg").write_bytes(b"another image")
    assert code_fingerprint(gan, {}, book_root) == before["03_gan"]
    assert code_fingerprint(fewshot, {}, book_root) != after["08_fewshot"]
    (book_root / "data" / "registry.yaml").write_text("sources: {emoji: {}}\ndreambench:\n  chapters: [08_fewshot]\n")
    assert code_fingerprint(gan, {}, book_root) != before["03_gan"]  # the rest of the registry still counts


def test_a_chapter_loading_a_source_that_does_not_name_it_fails(book_root):
    add_chapter(book_root, "01_demo", ['from toonlab.paths import note_source_used; note_source_used("dreambench")'])
    (book_root / "data" / "registry.yaml").write_text("sources: {}\ndreambench:\n  chapters: [08_fewshot]\n")
    with pytest.raises(ChapterFailed, match="add '01_demo' to that list"):
        run("ci", root=book_root, echo=quiet)
    assert not (book_root / "book/chapters/01_demo.ipynb").exists()
    (book_root / "data" / "registry.yaml").write_text("sources: {}\ndreambench:\n  chapters: [08_fewshot, 01_demo]\n")
    assert [r.status for r in run("ci", root=book_root, echo=quiet).results] == ["ran"]


READS_MAKER_COST = ('from toonlab import other_chapters; '
                    'table = other_chapters.read_table("cpu", "03_maker", "cost.csv"); print(table)')


def declare_reads(notebook_path, paths) -> None:
    notebook = nbformat.read(notebook_path, as_version=4)
    notebook.metadata["toonlab_reads_results"] = list(paths)
    nbformat.write(notebook, notebook_path)


def test_a_chapter_reading_another_chapters_results_must_declare_them(book_root):
    """Reading chapter 03's committed table without declaring it fails the run (the file would not be in the
    reader's fingerprint); declared, it runs; a missing file counts as read too."""
    reader = add_chapter(book_root, "04_user", [READS_MAKER_COST])
    with pytest.raises(ChapterFailed, match="results/cpu/03_maker/cost.csv.*toonlab_reads_results"):
        run("ci", root=book_root, echo=quiet)
    assert not (book_root / "book/chapters/04_user.ipynb").exists()
    assert not list((book_root / "book/chapters").glob(".*.results-read"))
    declare_reads(reader, ["results/cpu/03_maker/cost.csv"])
    assert [r.status for r in run("ci", root=book_root, echo=quiet).results] == ["ran"]


def test_declared_results_stale_their_reader_only(book_root):
    """Re-making chapter 03's table stales the chapter that declares reading it, not the maker nor a third
    chapter; creating the declared file (missing before) stales the reader too."""
    from toonlab.book.chapters import code_fingerprint

    for stem in ("01_demo", "03_maker"):
        add_chapter(book_root, stem, ['print("hi")'])
    declare_reads(add_chapter(book_root, "04_user", [READS_MAKER_COST]), ["results/cpu/03_maker/cost.csv"])
    table = book_root / "results" / "cpu" / "03_maker" / "cost.csv"

    def fingerprints() -> dict[str, str]:
        return {c.stem: code_fingerprint(c, {}, book_root) for c in discover(book_root / "notebooks")}

    missing = fingerprints()
    table.parent.mkdir(parents=True)
    table.write_text("preset,train s/step (this run)\nfastgan,0.5\n")
    first = fingerprints()
    table.write_text("preset,train s/step (this run)\nfastgan,0.6\n")
    second = fingerprints()
    assert [stem for stem in missing if missing[stem] != first[stem]] == ["04_user"]
    assert [stem for stem in first if first[stem] != second[stem]] == ["04_user"]


def test_a_chapter_may_not_declare_its_own_results_or_a_malformed_list(book_root):
    from toonlab.book.chapters import declared_results

    path = add_chapter(book_root, "04_user")
    chapter = discover(book_root / "notebooks")[0]
    declare_reads(path, ["results/cpu/04_user/cost.csv"])
    with pytest.raises(ValueError, match="own results"):
        declared_results(chapter)
    notebook = nbformat.read(path, as_version=4)
    notebook.metadata["toonlab_reads_results"] = "results/cpu/03_gan/cost.csv"
    nbformat.write(notebook, path)
    with pytest.raises(ValueError, match="must be a list of paths"):
        declared_results(chapter)


def test_chapter_04_declares_the_chapter_03_tables_it_reads(repo):
    """The real declaration: chapter 04's budget table reads chapter 03's cost and presets tables."""
    from toonlab.book.chapters import declared_results

    chapter = {c.stem: c for c in discover(repo / "notebooks")}["04_diffusion"]
    assert declared_results(chapter) == ["results/cpu/03_gan/cost.csv", "results/cpu/03_gan/presets.csv"]


def test_weights_that_list_their_users_stale_only_the_maker_s_users(book_root):
    from toonlab.book.chapters import code_fingerprint

    for stem in ("01_demo", "03_maker", "04_user"):
        add_chapter(book_root, stem, ['print("hi")'])
    (book_root / "data" / "weights").mkdir()
    weights = book_root / "data" / "weights" / "g.safetensors"
    entry = ("weights:\n  g:\n    file: data/weights/g.safetensors\n    chapter: 03_maker\n"
             "    chapters: [04_user]\n    sha256: {sha}\n")

    def fingerprints(sha: str) -> dict[str, str]:
        weights.write_bytes(sha.encode())
        (book_root / "data" / "registry.yaml").write_text(entry.format(sha=sha))
        return {c.stem: code_fingerprint(c, {}, book_root) for c in discover(book_root / "notebooks")}

    before, after = fingerprints("ab" * 32), fingerprints("cd" * 32)
    assert [stem for stem in before if before[stem] != after[stem]] == ["04_user"]


def test_every_chapter_that_loads_committed_generators_is_listed_as_their_user(repo):
    """The `chapters:` list of a weights entry keeps it out of the other chapters' fingerprints, so it must name
    every chapter whose code (the modules it reaches) loads committed generators."""
    import yaml

    from toonlab.book.chapters import chapter_lib_files

    weights = yaml.safe_load((repo / "data" / "registry.yaml").read_text())["weights"]
    for name, entry in weights.items():
        if "chapters" not in entry:
            continue
        for chapter in discover(repo / "notebooks"):
            if chapter.stem == entry.get("chapter"):
                continue
            loads = any("load_committed_generator(" in line and not line.lstrip().startswith("def ")
                        for path in chapter_lib_files(chapter, repo) if path.suffix == ".py"
                        for line in path.read_text().splitlines())
            if loads:
                assert chapter.stem in entry["chapters"], f"{chapter.stem} loads committed generators: add it to {name}"
