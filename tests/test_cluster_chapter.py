"""Chapter 02's steps: the faithful table, VAE features on the shared loop, figures, cost tables."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import dataclasses

import numpy as np
import pandas as pd
import pytest
import torch
from sklearn.datasets import make_blobs

from toonlab.chapters.clustering import (SOURCE_ACCURACY, VAERecipe, dists_model, weights_label, extractor_cost_table,
                                         faithful_table, metric_key, record_metrics, train_vae_features, wall_time_table)
from toonlab.cluster import run_benchmark, summarize
from toonlab.cluster.figures import aligned_confusion, embed_2d, largest_clusters, sample_grid_figure, scatter_figure
from toonlab.metrics.clustering import hungarian_accuracy


class FakeImages:
    def __init__(self, n: int = 12, size: int = 16) -> None:
        self.images = torch.rand(n, 3, size, size, generator=torch.Generator().manual_seed(0))
        self.labels = [i % 3 for i in range(n)]
        self.sha256 = [f"{i:064d}" for i in range(n)]

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, i: int):
        return self.images[i], self.labels[i]


@pytest.fixture(scope="module")
def benchmark():
    x, y = make_blobs(n_samples=150, n_features=8, centers=3, cluster_std=3.0, random_state=0)
    features = {"CLIP": x, "VAE": x[:, ::-1].copy(), "VAE-DISTS": x * 2}
    return run_benchmark(features, y, seeds=(0, 1), progress=False, keep_labels=True), y


def test_faithful_table_puts_source_beside_ours(benchmark):
    runs, _ = benchmark
    summary = summarize(runs.drop(columns="labels"))
    table = faithful_table(summary, "ours · ci")
    assert len(table) == 15  # 5 algorithms x 3 extractors, as in the source
    row = table[table["metric"] == "CLIP + Birch"].iloc[0]
    assert row["reported by source"] == "0.316" and row["source project"] == "ToyHollyWood"
    cell = summary[(summary.extractor == "CLIP") & (summary.method == "birch")].iloc[0]
    assert row["ours · ci"] == f"{cell['hungarian_accuracy_mean']:.3f} ± 0.000"
    reference = {"label": "gpu reference", "metrics": {metric_key("CLIP", "birch"): 0.5}}
    with_ref = faithful_table(summary, "ours · ci", reference)
    assert with_ref[with_ref["metric"] == "CLIP + Birch"].iloc[0]["gpu reference"] == "0.5"
    assert SOURCE_ACCURACY["birch"]["CLIP"] == max(v for d in SOURCE_ACCURACY.values() for v in d.values())


def test_faithful_table_states_both_protocols_and_ends_with_the_trivial_baselines(benchmark):
    from toonlab.chapters.clustering import VAERecipe, baseline_runs, baseline_sentence, feature_protocols

    runs, y = benchmark
    summary = summarize(runs.drop(columns="labels"))
    baselines = summarize(baseline_runs(y, seeds=(0, 1)))
    protocols = feature_protocols(["clip"], "cpu", VAERecipe(image_size=64, base_width=8, latent_dim=64, steps=500))
    assert "ToonCLIP" in protocols["CLIP"] and "500 steps, 64 px, widths 8-64" in protocols["VAE"]
    table = faithful_table(summary, "ours · cpu", baselines=baselines, protocols=protocols, profile="cpu",
                           dataset="emoji", n_images=150, k=3)
    assert len(table) == 17 and table["metric"].iloc[-2:].str.startswith("trivial baseline").all()
    clip = table[table["metric"] == "CLIP + Birch"].iloc[0]
    assert "ToonCLIP" in clip["our protocol"] and "150 emoji images, k = 3" in clip["our protocol"]
    assert "OpenCLIP ViT-L-14" in clip["note"]
    assert clip["comparable with the source"].startswith("no: other images") and "stand-in" in clip["comparable with the source"]
    floor = table[table["metric"] == "trivial baseline: all in one cluster (largest class)"].iloc[0]
    assert floor["ours · cpu"] == "0.333 ± 0.000" and floor["reported by source"] == "—"  # blobs: 3 equal classes
    assert faithful_table(summary, "ours · full", profile="full")["comparable with the source"].iloc[0].startswith("yes")
    sentence = baseline_sentence(summary, baselines)
    assert sentence.startswith("15 of 15 cells are above") or "of 15 cells are above" in sentence


def test_beyond_comparison_reads_the_verdict_from_the_numbers():
    import pandas as pd

    from toonlab.chapters.clustering import beyond_comparison, beyond_sentence

    def cells(rows):
        return pd.DataFrame([{"extractor": e, "method": m, "hungarian_accuracy_mean": a, "hungarian_accuracy_std": s}
                             for e, m, a, s in rows])

    ours = cells([("CLIP", "kmeans", 0.40, 0.01), ("CLIP", "birch", 0.45, 0.0), ("VAE", "kmeans", 0.30, 0.02)])
    other = cells([("CLIP", "l2_kmeans", 0.50, 0.01), ("VAE", "l2_kmeans", 0.31, 0.02)])
    table = beyond_comparison(ours, other)
    assert table.set_index("features")["verdict"].to_dict() == {"CLIP": "beyond is better", "VAE": "within noise"}
    assert table.set_index("features").loc["CLIP", "difference"] == 0.05
    assert beyond_sentence(table).startswith("the best method beyond the source beats the best of the source's "
                                             "algorithms by more than the seed spread on 1 of 2 feature sets")


def test_record_metrics_and_wall_table(benchmark):
    runs, _ = benchmark
    summary = summarize(runs.drop(columns="labels"))

    class Run:
        metrics: dict = {}

        def metric(self, name, value):
            self.metrics[name] = value

    run = Run()
    record_metrics(run, summary)
    assert len(run.metrics) == 15 * 4 * 2
    walls = wall_time_table(summary)
    assert list(walls["extractor"]) == ["CLIP", "VAE", "VAE-DISTS"] and "Birch" in walls.columns


def test_aligned_confusion_diagonal_is_hungarian_accuracy(benchmark):
    runs, y = benchmark
    for _, row in runs.iterrows():
        matrix = aligned_confusion(y, row["labels"])
        assert matrix.sum() == len(y)
        assert np.trace(matrix) / len(y) == pytest.approx(hungarian_accuracy(y, row["labels"]))


def test_embeddings_and_figures(benchmark):
    runs, y = benchmark
    x = make_blobs(n_samples=150, n_features=8, centers=3, cluster_std=3.0, random_state=0)[0]
    coords = {}
    for method in ("pca", "tsne"):
        coords[method], shown = embed_2d(x, method, seed=0, max_points=100)
        assert coords[method].shape == (100, 2) and len(np.unique(shown)) == 100
    again, _ = embed_2d(x, "pca", seed=0, max_points=100)
    np.testing.assert_allclose(again, coords["pca"])
    fig = scatter_figure(coords, y[shown], runs.iloc[0]["labels"][shown], ["a", "b", "c"])
    assert len(fig.axes) == 4
    with pytest.raises(ValueError, match="method"):
        embed_2d(x, "umap")
    predicted = np.array([0, 0, 0, 1, 1, 2, 0, 1, 2, 0, 0, 1])
    assert largest_clusters(predicted, 2) == [0, 1]
    grid = sample_grid_figure(FakeImages(), predicted, n_clusters=2, per_cluster=3, class_names=["a", "b", "c"])
    assert len(grid.axes) == 2 and "6 items" in grid.axes[0].get_title(loc="left")


def test_train_vae_features_resumes_and_caches(tmp_path, monkeypatch):
    monkeypatch.setenv("TOONLAB_CACHE", str(tmp_path))
    recipe = VAERecipe(image_size=16, base_width=4, latent_dim=8, steps=2, batch_size=4, checkpoint_every=2)
    data = FakeImages(size=16)
    dists = dists_model("ci")
    first = train_vae_features(data, recipe, "ci", dists=dists, progress=False)
    assert first["name"] == "VAE-DISTS" and first["features"].shape == (12, 8)
    assert "DISTS-toon" in first["extractor"].weights_label()  # offline: the toon classifier, never random VGG16
    assert "DISTS-toon" in weights_label(["clip"], "ci", 2) and "piq DISTS" in weights_label(["clip"], "full", 2)
    again = train_vae_features(data, recipe, "ci", dists=dists, progress=False)
    assert again["resumed_from"] == 2  # finished run reloaded, not retrained
    np.testing.assert_array_equal(first["features"], again["features"])
    plain = train_vae_features(data, recipe, "ci", progress=False)
    assert plain["out_dir"] != first["out_dir"]
    longer = train_vae_features(data, dataclasses.replace(recipe, steps=4), "ci", progress=False)
    assert longer["out_dir"] == plain["out_dir"] and longer["resumed_from"] == 2  # continues, not restarts
    assert not np.array_equal(longer["features"], plain["features"])
    costs = extractor_cost_table({"VAE": plain["extractor"]}, data, batch=4, train_seconds={"VAE": 1.0})
    assert isinstance(costs, pd.DataFrame) and costs.iloc[0]["dim"] == 8 and costs.iloc[0]["images/s"] > 0
