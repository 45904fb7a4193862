"""The trivial baselines: all in one cluster scores the largest class's share, a random partition about 1/k."""

from __future__ import annotations

import numpy as np
import pytest

from toonlab.cluster.baselines import BASELINES, assign, baseline_runs
from toonlab.cluster.benchmark import summarize


def test_all_in_one_cluster_scores_the_largest_share_and_random_is_near_chance():
    labels = np.array([0] * 70 + [1] * 20 + [2] * 10)
    runs = baseline_runs(labels, seeds=(0, 1, 2))
    assert runs.groupby("method").size().to_dict() == {"largest_class": 1, "random_partition": 3}
    one = runs[runs["method"] == "largest_class"].iloc[0]
    assert one["hungarian_accuracy"] == pytest.approx(0.70) and one["purity"] == pytest.approx(0.70)
    assert one["nmi"] == pytest.approx(0.0) and one["ari"] == pytest.approx(0.0) and one["n_clusters"] == 1
    random = runs[runs["method"] == "random_partition"]
    assert (random["hungarian_accuracy"] < 0.70).all() and (random["ari"].abs() < 0.1).all()
    summary = summarize(runs)
    assert list(summary["method"]) == list(BASELINES) and summary.loc[1, "runs"] == 3


def test_random_partition_is_seeded_and_uses_k_clusters():
    a, b = assign("random_partition", 500, 4, seed=3), assign("random_partition", 500, 4, seed=3)
    assert np.array_equal(a, b) and set(a.tolist()) == {0, 1, 2, 3}
    assert not np.array_equal(a, assign("random_partition", 500, 4, seed=4))
    with pytest.raises(ValueError, match="unknown baseline"):
        assign("oracle", 5, 2, 0)
