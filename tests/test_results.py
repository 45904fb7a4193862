"""Results and provenance: what a chapter writes, how numbers are labelled, atomic writes."""

from __future__ import annotations

import json

import pytest

from toonlab import atomic
from toonlab.results import ChapterRun, Reported, compare, profile_label, reference, reference_summary


def test_chapter_run_writes_metrics_tables_figures_with_provenance(tmp_path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np
    import pandas as pd

    run = ChapterRun("01_data", {"profile": "ci", "seed": 7, "n": 3}, weights="tiny random weights", root=tmp_path)
    run.metric("n_images", np.int64(12))
    run.metric("mean_rgb", [np.float32(0.5), 0.25, 1.0])
    run.table("overview", pd.DataFrame({"a": [1, 2]}))
    fig, ax = plt.subplots()
    ax.plot([0, 1])
    run.figure("curve", fig)
    path = run.finish()

    assert path == tmp_path / "results" / "ci" / "01_data" / "metrics.json"
    record = json.loads(path.read_text())
    assert record["metrics"] == {"n_images": 12, "mean_rgb": [0.5, 0.25, 1.0]}
    assert record["tables"] == ["overview.csv"] and record["figures"] == ["curve.png"]
    assert record["label"] == "ours · ci · tiny random weights (smoke)" and "smoke" in record["note"]
    prov = record["provenance"]
    assert prov["profile"] == "ci" and prov["seed"] == 7 and prov["parameters"]["n"] == 3
    assert prov["packages"]["torch"] and prov["device"]["device"] in {"cpu", "cuda"}
    assert prov["wall_time_s"] >= 0 and "commit" in prov["git"]
    # every saved table is labelled in a first column of its own: the header is the label, each row says smoke
    assert (tmp_path / "results" / "ci" / "01_data" / "overview.csv").read_text().splitlines() == [
        "ours · ci · tiny random weights (smoke),a", "smoke: not a result,1", "smoke: not a result,2"]
    assert (tmp_path / "results" / "ci" / "01_data" / "curve.png").read_bytes()[:4] == b"\x89PNG"


def test_non_finite_metrics_are_refused(tmp_path):
    run = ChapterRun("01_data", {"profile": "ci"}, weights="w", root=tmp_path)
    with pytest.raises(ValueError, match="non-finite"):
        run.metric("fid", float("nan"))


def test_params_without_profile_are_refused(tmp_path):
    with pytest.raises(ValueError, match="profile"):
        ChapterRun("01_data", {"seed": 0}, weights="w", root=tmp_path)


def test_reference_prefers_full_over_gpu_and_says_when_none(tmp_path):
    assert reference("03_gan", tmp_path) is None
    assert "No committed reference results yet" in reference_summary("03_gan", tmp_path)
    for profile, fid in (("gpu", 40.0), ("full", 4.0)):
        run = ChapterRun("03_gan", {"profile": profile}, weights=f"{profile} weights", root=tmp_path)
        run.metric("fid", fid)
        run.finish()
    assert reference("03_gan", tmp_path)["metrics"]["fid"] == 4.0
    assert "profile `full`" in reference_summary("03_gan", tmp_path)


def test_compare_puts_the_source_number_beside_ours():
    label = profile_label("ci", "tiny random weights")
    frame = compare(
        [{"metric": "images", "reported": Reported("ToyHollyWood", 15300), "ours": 3900},
         {"metric": "classes", "reported": None, "ours": 9}],
        label,
        reference_record={"label": "ours · gpu · trained here", "metrics": {"images": 4000}},
    )
    assert list(frame.columns[:4]) == ["metric", "source project", "reported by source", label]
    assert frame.iloc[0].tolist()[:5] == ["images", "ToyHollyWood", "15300", "3900", "4000"]
    assert frame.iloc[1]["source project"] == "—" and frame.iloc[1]["ours · gpu · trained here"] == "—"


def test_compare_states_how_our_number_was_measured():
    from toonlab.results import distance_protocol

    measured = {"n_generated": 2048, "n_reference": 12800, "resize_generated": "PIL bicubic to 128 px",
                "resize_reference": "PIL bicubic to 128 px", "extractor": "pytorch-fid InceptionV3"}
    protocol = distance_protocol(measured)
    assert protocol == "2,048 generated vs 12,800 real images; PIL bicubic to 128 px; pytorch-fid InceptionV3"
    frame = compare([{"metric": "FID", "reported": Reported("ToyHollyWood", 4.01), "ours": 5.0, "protocol": protocol},
                     {"metric": "KID", "reported": None, "ours": 0.01}], "ours")
    assert frame["our protocol"].tolist() == [protocol, ""]


def test_atomic_write_leaves_old_file_when_the_writer_fails(tmp_path):
    target = tmp_path / "x.json"
    atomic.write_json(target, {"a": 1})
    with pytest.raises(RuntimeError):
        with atomic.atomic_open(target, "w") as handle:
            handle.write('{"a": 2, "half')
            raise RuntimeError("killed mid-write")
    assert json.loads(target.read_text()) == {"a": 1}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["x.json"]  # no temp file left behind
    with pytest.raises(ValueError, match="mode"):
        with atomic.atomic_open(target, "r"):
            pass


def _reference_result(root, profile, chapter="02_clustering", fingerprint=None, monkeypatch=None):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import pandas as pd

    if monkeypatch is not None:
        monkeypatch.setenv("TOONLAB_FINGERPRINT", fingerprint or "")
    run = ChapterRun(chapter, {"profile": profile}, weights=f"{profile} weights", root=root)
    run.data = f"{profile} data, 100 images"
    run.table("faithful_table", pd.DataFrame({"cell": ["a"], "accuracy": [0.5]}))
    fig, ax = plt.subplots()
    ax.plot([0, 1])
    run.figure("confusion", fig)
    plt.close(fig)
    run.metric("accuracy", 0.5)
    return run.finish()


def test_reference_view_shows_the_best_results_tables_and_figures_then_marks_the_live_smoke_run(tmp_path, monkeypatch):
    import pandas as pd
    from IPython.display import Image, Markdown

    from toonlab.results import reference_view

    for profile in ("cpu", "gpu"):
        _reference_result(tmp_path, profile, fingerprint=f"fp-{profile}", monkeypatch=monkeypatch)
    monkeypatch.setenv("TOONLAB_REFERENCE_FINGERPRINTS", '{"gpu": "fp-gpu", "cpu": "fp-cpu-changed"}')
    parts = reference_view("02_clustering", "ci", tables=["faithful_table", "missing"], figures=["confusion"],
                           root=tmp_path)
    label, table, missing, figure, others, live = parts
    assert isinstance(label, Markdown) and "profile `gpu`" in label.data and "gpu data, 100 images" in label.data
    assert "Stale" not in label.data  # gpu's fingerprint matches
    assert isinstance(table, pd.DataFrame) and table.columns[0] == "ours · gpu · gpu weights"
    assert table.iloc[0].tolist() == ["gpu", "a", 0.5]
    assert "`missing.csv` is not among these results" in missing.data
    assert isinstance(figure, Image) and figure.data[:4] == b"\x89PNG"
    assert "profile `cpu` (stale" in others.data
    assert "live `ci` run: a smoke check" in live.data

    # the cpu run itself shows only better profiles (gpu here); a full run shows none of the lower ones
    assert "profile `gpu`" in reference_view("02_clustering", "cpu", root=tmp_path)[0].data
    first = reference_view("02_clustering", "full", root=tmp_path)[0].data
    assert "No reference results better than this `full` run" in first and "`gpu`, `cpu`" in first


def test_freshness_and_the_stale_label_name_the_refresh_command(tmp_path, monkeypatch):
    from toonlab.results import freshness, reference_label

    path = _reference_result(tmp_path, "cpu", fingerprint="abc", monkeypatch=monkeypatch)
    record = json.loads(path.read_text())
    assert record["provenance"]["fingerprint"] == "abc" and record["data"] == "cpu data, 100 images"
    assert freshness(record, {"cpu": "abc"}) == "current"
    assert freshness(record, {"cpu": "def"}) == "stale"
    assert freshness(record, {}) == "unchecked"
    text = reference_label(record, "stale")
    assert "**Stale:**" in text and 'make book PROFILE=cpu CHAPTERS="02"' in text
    monkeypatch.delenv("TOONLAB_FINGERPRINT")
    unrun = json.loads(_reference_result(tmp_path, "gpu").read_text())
    assert unrun["provenance"]["fingerprint"] is None and freshness(unrun, {"gpu": "abc"}) == "unchecked"


def test_ci_glue_and_tables_carry_the_smoke_label(tmp_path, monkeypatch):
    import pandas as pd

    import toonlab.results as results

    glued = {}
    monkeypatch.setattr(results, "glue", lambda name, value, display=True: glued.__setitem__(name, value))
    smoke = ChapterRun("02_clustering", {"profile": "ci"}, weights="w", root=tmp_path)
    smoke.glue("accuracy", "0.412")
    smoke.glue("table", pd.DataFrame({"x": [1]}))
    assert glued["accuracy"] == "0.412 (ci smoke)"
    assert glued["table"].columns[0] == smoke.label and glued["table"].iloc[0, 0] == "smoke: not a result"
    compared = compare([{"metric": "m", "reported": None, "ours": 1}], f"{smoke.label} · emoji")
    assert smoke.labelled(compared) is compared  # compare() tables carry the label as their column already

    real = ChapterRun("02_clustering", {"profile": "cpu"}, weights="w", root=tmp_path)
    real.glue("accuracy", "0.412")
    assert glued["accuracy"] == "0.412"
    assert real.table("t", pd.DataFrame({"x": [1]})).iloc[0].tolist() == ["cpu", 1]


def test_a_table_read_from_a_committed_record_is_labelled_as_that_record_not_as_the_run(tmp_path):
    import pandas as pd

    smoke = ChapterRun("02_clustering", {"profile": "ci"}, weights="w", root=tmp_path)
    frame = smoke.table("heldout", pd.DataFrame({"acc": [0.9]}), source=("ToonCLIP · committed record", "toonclip.json"))
    assert list(frame.columns) == ["ToonCLIP · committed record", "acc"] and frame.iloc[0, 0] == "toonclip.json"
    assert "smoke" not in (tmp_path / "results/ci/02_clustering/heldout.csv").read_text()
    record = json.loads(smoke.finish().read_text())
    assert record["provenance"]["load_average_at_start"] is None or len(record["provenance"]["load_average_at_start"]) == 3


def test_a_refresh_of_committed_results_records_the_checkout_it_started_from(tmp_path):
    """Re-running a reference profile rewrites tracked files under results/ before metrics.json is written;
    the provenance must still say the run imported a clean commit."""
    import subprocess

    def git(*args):
        subprocess.run(["git", *args], cwd=tmp_path, check=True, capture_output=True)

    git("init", "-q")
    git("-c", "user.email=t@t", "-c", "user.name=t", "commit", "-q", "--allow-empty", "-m", "start")
    tracked = tmp_path / "results" / "cpu" / "09_demo" / "table.csv"
    tracked.parent.mkdir(parents=True)
    tracked.write_text("x\n1\n")
    git("add", "-A")
    git("-c", "user.email=t@t", "-c", "user.name=t", "commit", "-q", "-m", "results")

    run = ChapterRun("09_demo", {"profile": "cpu", "seed": 0}, weights="w", root=tmp_path)
    tracked.write_text("x\n2\n")  # the run refreshes its committed table
    record = json.loads(run.finish().read_text())
    assert record["provenance"]["git"]["dirty"] is False

    (tmp_path / "results" / "cpu" / "09_demo" / "table.csv").write_text("x\n3\n")  # dirty before the next run
    record = json.loads(ChapterRun("09_demo", {"profile": "cpu", "seed": 0}, weights="w", root=tmp_path).finish().read_text())
    assert record["provenance"]["git"]["dirty"] is True


def test_a_figure_over_the_size_cap_is_saved_at_a_lower_dpi_and_one_that_cannot_fit_is_refused(tmp_path, monkeypatch):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    from toonlab import results

    fig, ax = plt.subplots(figsize=(4, 4))
    ax.imshow(np.random.default_rng(0).random((200, 200, 3)))  # noise: PNG cannot compress it
    run = ChapterRun("01_data", {"profile": "ci", "seed": 0}, weights="w", root=tmp_path)
    uncapped = run.figure("noise", fig, dpi=100).stat().st_size
    monkeypatch.setattr(results, "MAX_FIGURE_BYTES", uncapped // 3)
    path = run.figure("noise", fig, dpi=100)
    assert path.stat().st_size <= uncapped // 3  # re-rendered smaller, and complete
    from PIL import Image

    assert Image.open(path).width < 400 * 0.8
    assert not list(path.parent.glob(".noise.png.*"))  # no temporary left behind
    monkeypatch.setattr(results, "MAX_FIGURE_BYTES", 100)  # nothing readable fits in 100 bytes
    with pytest.raises(ValueError, match="'noise' is .* MiB even at 40 dpi.*fewer"):
        run.figure("noise", fig, dpi=100)
    assert path.stat().st_size <= uncapped // 3  # the refused figure left the previous file as it was
    plt.close(fig)
