"""Trivial clusterings, the floor every method's scores are read against.

On an unbalanced set Hungarian accuracy is not "1 / k for chance": putting every image in one cluster
already scores the largest class's share, and a random partition scores a little above 1 / k. A method is
only worth its number by how far it rises above these rows (NMI and ARI are ~0 for both by construction).

- ``largest_class``: every image in one cluster (the all-in-the-largest-class assignment);
- ``random_partition``: each image in one of the k clusters uniformly at random (seeded).

Rows have the schema of :func:`toonlab.cluster.benchmark.run_benchmark`, so they summarise and print alike.
"""

from __future__ import annotations

import time
from collections.abc import Sequence

import numpy as np
import pandas as pd

from toonlab.metrics.clustering import cluster_scores

BASELINES = ("largest_class", "random_partition")
DISPLAY_NAMES = {"largest_class": "all in one cluster (largest class)", "random_partition": "random partition"}
FEATURES = "none (trivial baseline)"  # the rows' "extractor": no features are read


def assign(method: str, n: int, k: int, seed: int) -> np.ndarray:
    """The baseline's cluster labels for ``n`` items and ``k`` clusters."""
    if method == "largest_class":
        return np.zeros(n, dtype=np.int64)
    if method == "random_partition":
        return np.random.default_rng(seed).integers(0, k, size=n, dtype=np.int64)
    raise ValueError(f"unknown baseline {method!r}; choose one of {list(BASELINES)}")


def baseline_runs(labels: Sequence[int] | np.ndarray, seeds: Sequence[int] = (0, 1, 2), k: int | None = None,
                  metrics: Sequence[str] = ("hungarian_accuracy", "nmi", "ari", "purity")) -> pd.DataFrame:
    """One row per (baseline, seed), scored like every benchmark run (``largest_class`` runs once)."""
    labels = np.asarray(labels)
    if not seeds:
        raise ValueError("give at least one seed")
    k = int(k if k is not None else np.unique(labels).size)
    rows = []
    for method in BASELINES:
        for seed in (seeds[:1] if method == "largest_class" else seeds):
            start = time.perf_counter()
            predicted = assign(method, len(labels), k, seed)
            scores = cluster_scores(labels, predicted)
            rows.append({"extractor": FEATURES, "method": method, "seed": seed, **{m: scores[m] for m in metrics},
                         "n_clusters": scores["n_clusters"], "wall_s": time.perf_counter() - start, "graph": "-"})
    return pd.DataFrame(rows)
