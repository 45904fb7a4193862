"""Clustering scores: Hungarian accuracy equals a brute-force search over label maps; purity, NMI, ARI."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from toonlab.metrics.checks import MetricInputError
from toonlab.metrics.clustering import TABLE_METRIC, ari, cluster_scores, hungarian_accuracy, nmi, purity


def brute_force_accuracy(true: np.ndarray, pred: np.ndarray) -> float:
    """Best accuracy over every one-to-one map from clusters to classes (clusters left over map to nothing)."""
    classes, clusters = np.unique(true), np.unique(pred)
    best = 0
    slots = list(classes) + [None] * max(0, len(clusters) - len(classes))
    for assignment in itertools.permutations(slots, len(clusters)):
        mapping = dict(zip(clusters, assignment))
        best = max(best, sum(mapping[p] == t for t, p in zip(true, pred)))
    return best / len(true)


@pytest.mark.parametrize("n_classes,n_clusters,seed", [(3, 3, 0), (4, 4, 1), (3, 5, 2), (5, 3, 3), (2, 6, 4)])
def test_hungarian_accuracy_equals_the_brute_force_maximum(n_classes, n_clusters, seed):
    rng = np.random.default_rng(seed)
    true = rng.integers(0, n_classes, 40)
    # clusters correlated with the classes, so the best map is not trivial
    pred = np.where(rng.random(40) < 0.6, (true * 7 + 3) % n_clusters, rng.integers(0, n_clusters, 40))
    assert hungarian_accuracy(true, pred) == pytest.approx(brute_force_accuracy(true, pred))


def test_purity_can_exceed_hungarian_accuracy_when_clusters_outnumber_classes():
    true = np.array([0, 0, 0, 0, 1, 1, 1, 1])
    pred = np.array([0, 0, 1, 1, 2, 2, 3, 3])  # every class split into two pure clusters
    assert purity(true, pred) == 1.0
    assert hungarian_accuracy(true, pred) == 0.5  # one-to-one: only one half of each class can match


def test_scores_ignore_cluster_names_and_reach_one_on_a_perfect_partition():
    true = np.array([0, 0, 1, 1, 2, 2])
    relabelled = np.array([5, 5, 9, 9, 1, 1])
    scores = cluster_scores(true, relabelled)
    assert scores["hungarian_accuracy"] == scores["purity"] == 1.0
    assert scores["nmi"] == pytest.approx(1.0) and scores["ari"] == pytest.approx(1.0)
    assert (scores["n_items"], scores["n_classes"], scores["n_clusters"]) == (6, 3, 3)
    assert TABLE_METRIC in scores
    # string class names work too
    assert hungarian_accuracy(["cat", "cat", "dog"], [1, 1, 0]) == 1.0


def test_nmi_and_ari_agree_with_scikit_learn_and_chance_ari_is_near_zero():
    from sklearn.metrics import adjusted_rand_score, normalized_mutual_info_score

    rng = np.random.default_rng(0)
    true, pred = rng.integers(0, 5, 2000), rng.integers(0, 5, 2000)
    assert nmi(true, pred) == pytest.approx(normalized_mutual_info_score(true, pred))
    assert ari(true, pred) == pytest.approx(adjusted_rand_score(true, pred))
    assert abs(ari(true, pred)) < 0.01
    assert hungarian_accuracy(true, pred) < 0.3


def test_bad_labels_are_rejected_with_clear_errors():
    with pytest.raises(MetricInputError, match="same items"):
        hungarian_accuracy([0, 1, 2], [0, 1])
    with pytest.raises(MetricInputError, match="empty"):
        purity([], [])
    with pytest.raises(MetricInputError, match="NaN"):
        nmi([0.0, np.nan], [0, 1])
    with pytest.raises(MetricInputError, match="1-D"):
        ari(np.zeros((2, 2)), np.zeros((2, 2)))
    with pytest.raises(MetricInputError, match="integer"):
        cluster_scores([0.5, 1.0], [0, 1])
