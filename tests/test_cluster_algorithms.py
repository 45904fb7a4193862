"""Clustering benchmark: every algorithm scored by the metrics module, sparse path == dense path."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import sparse
from sklearn.cluster import AgglomerativeClustering
from sklearn.datasets import make_blobs
from sklearn.metrics import adjusted_rand_score

from toonlab.cluster import ALGORITHMS, ClusterConfig, cluster, run_benchmark, summarize
from toonlab.cluster import algorithms
from toonlab.cluster import graph as graphs
from toonlab.cluster.algorithms import SCALING, Ward
from toonlab.cluster.benchmark import METRICS, best_run, pretty
from toonlab.cluster.beyond import BEYOND, cluster_beyond, whiten
from toonlab.metrics.clustering import cluster_scores


@pytest.fixture(scope="module")
def blobs():
    # overlapping blobs: the partitions are not trivial, so equal labels from two paths mean something
    x, y = make_blobs(n_samples=240, n_features=16, centers=5, cluster_std=3.5, random_state=3)
    return x, y


@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_each_algorithm_scored_by_metrics_module(blobs, algorithm):
    x, y = blobs
    labels, note = cluster(x, algorithm, k=5, seed=0)
    assert labels.shape == (240,) and labels.dtype == np.int64
    assert len(np.unique(labels)) == 5
    scores = cluster_scores(y, labels)
    assert scores["hungarian_accuracy"] > 0.6, (algorithm, scores)  # random labels would score ~0.2
    assert scores["purity"] >= scores["hungarian_accuracy"] - 1e-12
    again, _ = cluster(x, algorithm, k=5, seed=0)
    np.testing.assert_array_equal(labels, again)  # fixed seed -> identical labels


@pytest.mark.parametrize("method", BEYOND)
def test_beyond_methods(blobs, method):
    x, y = blobs
    labels, _ = cluster_beyond(x, method, k=5, seed=0)
    assert cluster_scores(y, labels)["hungarian_accuracy"] > 0.6


def test_sparse_rbf_affinity_with_all_neighbours_equals_dense(blobs):
    x = SCALING["spectral"](blobs[0])
    gamma = graphs.median_gamma(x)
    dense = graphs.dense_rbf_affinity(x, gamma)
    knn = graphs.knn_rbf_affinity(x, len(x) - 1, gamma)
    assert sparse.issparse(knn)
    np.testing.assert_allclose(knn.toarray(), dense, rtol=1e-12, atol=1e-15)


def test_sparse_knn_affinity_is_symmetric_and_small(blobs):
    x = SCALING["spectral"](blobs[0])
    knn = graphs.knn_rbf_affinity(x, 10, graphs.median_gamma(x))
    assert abs(knn - knn.T).max() == 0
    assert knn.nnz <= len(x) * (2 * 10 + 1)
    np.testing.assert_array_equal(knn.diagonal(), 1.0)


@pytest.mark.parametrize("algorithm", ["spectral", "agglomerative", "birch"])
def test_knn_path_with_all_neighbours_equals_dense_path(blobs, algorithm):
    x, _ = blobs
    n = len(x)
    dense, dense_note = cluster(x, algorithm, 5, seed=1, config=ClusterConfig(graph="dense"))
    knn, knn_note = cluster(x, algorithm, 5, seed=1, config=ClusterConfig(graph="knn", n_neighbors=n - 1))
    assert dense_note.startswith("dense") and knn_note.startswith("knn")
    np.testing.assert_array_equal(knn, dense)


def test_sparse_path_close_to_dense_with_few_neighbours(blobs):
    x, y = blobs
    dense, _ = cluster(x, "agglomerative", 5, config=ClusterConfig(graph="dense"))
    knn, _ = cluster(x, "agglomerative", 5, config=ClusterConfig(graph="knn", n_neighbors=15))
    assert adjusted_rand_score(dense, knn) > 0.7


def test_spectral_affinity_is_built_once_per_features(blobs, monkeypatch):
    x, _ = blobs
    calls = []
    original = graphs.knn_rbf_affinity
    monkeypatch.setattr(graphs, "knn_rbf_affinity", lambda *a: calls.append(1) or original(*a))
    config = ClusterConfig(graph="knn", n_neighbors=11)
    first = [cluster(x, "spectral", 5, seed=s, config=config)[0] for s in (0, 1)]
    assert len(calls) == 1  # the second seed reused the graph
    cluster(x + 1e-3, "spectral", 5, seed=0, config=config)
    assert len(calls) == 2  # other features: a new graph
    algorithms._AFFINITY_CACHE.clear()
    np.testing.assert_array_equal(cluster(x, "spectral", 5, seed=1, config=config)[0], first[1])


def test_auto_graph_switches_at_dense_limit(blobs):
    x, _ = blobs
    assert cluster(x, "spectral", 5, config=ClusterConfig(dense_limit=1000))[1] == "dense"
    assert cluster(x, "spectral", 5, config=ClusterConfig(dense_limit=100))[1] == "knn"
    ward = Ward(5, ClusterConfig(dense_limit=100)).fit(SCALING["agglomerative"](x))
    assert ward.graph_ == "knn"


def test_ward_equals_sklearn_dense_ward(blobs):
    x = SCALING["agglomerative"](blobs[0])
    ours = Ward(5, ClusterConfig(graph="dense")).fit(x).labels_
    reference = AgglomerativeClustering(5, linkage="ward").fit_predict(x)
    np.testing.assert_array_equal(ours, reference)


def test_bad_inputs_fail_clearly(blobs):
    x, _ = blobs
    with pytest.raises(ValueError, match="unknown algorithm"):
        cluster(x, "dbscan", 5)
    with pytest.raises(ValueError, match="k must be"):
        cluster(x, "kmeans", 1)
    bad = x.copy()
    bad[0, 0] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        cluster(bad, "kmeans", 5)
    with pytest.raises(ValueError, match="N x D"):
        cluster(x[:, 0], "kmeans", 5)
    with pytest.raises(ValueError, match="graph must be"):
        ClusterConfig(graph="sparse")
    with pytest.raises(ValueError, match="identical"):
        graphs.median_gamma(np.ones((10, 3)))


def test_run_benchmark_and_summary(blobs):
    x, y = blobs
    features = {"a": x, "b": x[:, ::-1].copy()}
    runs = run_benchmark(features, y, methods=("kmeans", "agglomerative", "l2_kmeans"), seeds=(0, 1), progress=False,
                         keep_labels=True)
    # deterministic ward runs once; seeded methods once per seed
    assert len(runs) == 2 * (2 + 1 + 2)
    assert set(runs["graph"][runs["method"] == "agglomerative"]) == {"dense"}
    assert (runs["wall_s"] > 0).all()
    row = runs.iloc[0]
    expected = cluster_scores(y, cluster(x, "kmeans", 5, seed=0)[0])
    for metric in METRICS:
        assert row[metric] == pytest.approx(expected[metric])
    summary = summarize(runs)
    assert len(summary) == 6
    ward = summary[(summary["method"] == "agglomerative") & (summary["extractor"] == "a")].iloc[0]
    assert ward["runs"] == 1 and ward["hungarian_accuracy_std"] == 0.0
    kmeans = summary[(summary["method"] == "kmeans") & (summary["extractor"] == "a")].iloc[0]
    ours = runs[(runs["method"] == "kmeans") & (runs["extractor"] == "a")]["hungarian_accuracy"]
    assert kmeans["hungarian_accuracy_mean"] == pytest.approx(ours.mean())
    assert kmeans["hungarian_accuracy_std"] == pytest.approx(ours.std())
    assert "±" in pretty(summary).iloc[0]["hungarian_accuracy"]
    assert best_run(runs)["hungarian_accuracy"] == runs["hungarian_accuracy"].max()


def test_run_benchmark_rejects_mismatched_rows(blobs):
    x, y = blobs
    with pytest.raises(ValueError, match="rows"):
        run_benchmark({"a": x[:10]}, y, progress=False)
    with pytest.raises(ValueError, match="unknown clustering method"):
        run_benchmark({"a": x}, y, methods=("nope",), progress=False)


def test_whiten_decorrelates(blobs):
    white = whiten(blobs[0], seed=0)
    cov = np.cov(white, rowvar=False)
    np.testing.assert_allclose(cov, np.eye(cov.shape[0]), atol=1e-6)
