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
    assert (tmp_path / "results" / "ci" / "01_data" / "overview.csv").read_text().splitlines() == ["a", "1", "2"]
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
