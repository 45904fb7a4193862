"""Chapter 09's table steps: seed selection uses CLIP only, published rows stay apart from ours."""

from __future__ import annotations

import pandas as pd
import pytest

from toonlab.chapters import shape3d as chapter


def frame(rows):
    base = {"variant": "v", "status": "ok", "seconds": 1.0, "peak memory (MiB)": 10.0, "F@0.1": 0.5, "F@0.2": 0.7,
            chapter.CHAMFER_SQUARED: 0.01}
    return pd.DataFrame([{**base, **row} for row in rows])


def test_best_of_k_picks_by_clip_not_by_chamfer():
    multi = frame([
        {"toy": "a", "seed": 0, chapter.CHAMFER: 0.1, "CLIP front": 0.5, "CLIP around (8)": 0.5},
        {"toy": "a", "seed": 1, chapter.CHAMFER: 0.3, "CLIP front": 0.9, "CLIP around (8)": 0.8},
        {"toy": "b", "seed": 0, chapter.CHAMFER: 0.2, "CLIP front": 0.7, "CLIP around (8)": 0.7},
        {"toy": "b", "seed": 1, "status": "failed", chapter.CHAMFER: None, "CLIP front": None, "CLIP around (8)": None},
    ])
    best = chapter.select_best(multi)
    assert dict(zip(best["toy"], best["seed"])) == {"a": 1, "b": 0}
    single = frame([{"toy": "a", "seed": 0, chapter.CHAMFER: 0.15, "CLIP front": 0.6, "CLIP around (8)": 0.6,
                     "seconds": 2.5}])
    table = chapter.selection_table(multi, single, k=2).set_index("strategy")
    assert table.loc["best of 2 seeds by CLIP-I", chapter.CHAMFER] == pytest.approx(0.25)
    assert table.loc["best of 2 seeds by CLIP-I", "seconds / object"] == pytest.approx(1.5)  # all seeds' time
    assert table.loc["one seed, 2× steps (equal budget)", "seconds / object"] == pytest.approx(2.5)
    assert table.loc["seed 0 alone", chapter.CHAMFER] == pytest.approx(0.15)


def test_single_seed_row_uses_the_seed_it_is_given():
    multi = frame([
        {"toy": "a", "seed": 3, chapter.CHAMFER: 0.1, "CLIP front": 0.5, "CLIP around (8)": 0.5},
        {"toy": "a", "seed": 4, chapter.CHAMFER: 0.3, "CLIP front": 0.9, "CLIP around (8)": 0.8},
    ])
    table = chapter.selection_table(multi, multi.iloc[:1], k=2, seed=3).set_index("strategy")
    assert table.loc["seed 3 alone", chapter.CHAMFER] == pytest.approx(0.1)
    assert table.loc["seed 3 alone", "objects"] == 1


def test_published_numbers_keep_their_own_rows_and_protocol():
    protocol = chapter.Protocol()
    table = chapter.published_table({"Chamfer": 0.3, "F@0.1": 0.2, "F@0.2": 0.4, "seconds / object": 9.0},
                                    "ours · ci · tiny (smoke)", protocol)
    published = table[table["who measured"] == "SPAR3D (published)"]
    assert list(published["Chamfer"]) == [0.204, 0.145, 0.135]
    assert list(published["F@0.1"]) == [0.359, 0.501, 0.545]
    assert list(published["seconds / object"]) == [3.1, 0.2, 36.0]
    assert (published["protocol"] == chapter.PUBLISHED_PROTOCOL).all()
    ours = table[table["who measured"] != "SPAR3D (published)"]
    assert len(ours) == 1 and "smoke" in ours["method"].item() and protocol.describe() in ours["protocol"].item()
    assert len(chapter.published_table(None, "x", protocol)) == 3


def test_unknown_toys_are_named():
    with pytest.raises(ValueError, match="unknown toys \\['dragon'\\]"):
        chapter.build_testbed(["funko", "dragon"], 64, 0)


def test_real_size_cost_times_warm_calls_and_scales_only_the_prior(monkeypatch):
    from toonlab.metrics import shape3d as metrics
    from toonlab.zoo.shap_e import TinyShapEConfig

    timed = []
    real_measure = metrics.measure_call

    def counting(fn, device="cpu"):
        result, cost = real_measure(fn, device)
        timed.append(cost.seconds)
        return result, cost

    monkeypatch.setattr(chapter, "measure_call", counting)
    with pytest.raises(ValueError, match="at least 2"):
        chapter.real_size_cost("cpu", steps=4, measured_steps=1, grid_size=8, config=TinyShapEConfig())
    table = chapter.real_size_cost("cpu", steps=4, measured_steps=2, grid_size=8, config=TinyShapEConfig())
    encoder, prior, decode = table.to_dict("records")
    assert len(timed) == 3
    # the image encoding is once per lift: not scaled; the prior: 2 calls timed, 2 * 4 - 1 = 7 calls a lift
    assert encoder["seconds for a lift (estimate)"] == encoder["seconds measured"]
    assert prior["seconds for a lift (estimate)"] == pytest.approx(prior["seconds measured"] / 2 * 7)
    assert decode["seconds for a lift (estimate)"] == decode["seconds measured"]
    assert "→" in table["load average (1 min, before → after)"].iloc[0]


def test_missing_mesh_or_turntable_files_are_named(tmp_path):
    from toonlab.shape3d.batch import BatchReport
    from toonlab.shape3d.toys import toy

    case = chapter.testbed.Case("funko", toy("funko"), None, None, None)
    record = {"key": "funko/seed0", "object": "funko", "seed": 0, "status": "ok", "files": ["funko/seed0.glb"]}
    report = BatchReport(tmp_path, records=[record])
    with pytest.raises(FileNotFoundError, match=r"funko/seed0 .* no \.ply file.*formats including 'ply'"):
        chapter.evaluate_batch(report, [case], clip=None, protocol=chapter.Protocol(), render_size=32, variant="v")
    with pytest.raises(FileNotFoundError, match=r"no \.gif file.*turntable on"):
        chapter.turntable_figure(report, case)


def test_unpaired_images_get_clip_scores_and_keep_failures(tmp_path, monkeypatch):
    import trimesh
    from PIL import Image

    from toonlab.shape3d.batch import BatchReport

    (tmp_path / "toy").mkdir()
    trimesh.creation.box().export(tmp_path / "toy/seed0.ply")
    Image.new("RGB", (16, 16)).save(tmp_path / "toy/seed0_input.png")
    records = [{"key": "toy/seed0", "object": "toy", "seed": 0, "status": "ok", "seconds": 2.0,
                "files": ["toy/seed0.ply", "toy/seed0_input.png"]},
               {"key": "bad/seed0", "object": "bad", "seed": 0, "status": "failed", "failure": "bad input", "error": "empty"}]
    monkeypatch.setattr(chapter, "clip_view_similarity",
                        lambda clip, image, mesh, size: {"clip_front": 0.7, "clip_around": 0.5})
    table = chapter.evaluate_unpaired(BatchReport(tmp_path, records=records), None, 32, "dreambench").set_index("object")
    assert table.loc["toy", "CLIP front"] == 0.7 and table.loc["toy", "faces"] == 12
    assert table.loc["bad", "status"] == "failed" and "empty" in table.loc["bad", "error"]
    assert chapter.CHAMFER not in table  # no truth, no geometry
