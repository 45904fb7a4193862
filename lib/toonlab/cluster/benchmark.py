"""Every extractor x algorithm x seed, scored by the evaluation suite, with each cell's wall time.

Results are one row per run (``run_benchmark``) and one row per cell with mean ± std over seeds
(``summarize``). Deterministic algorithms (ward, Birch) run once: more seeds would repeat the same
labels. The headline metric is Hungarian accuracy (:data:`toonlab.metrics.clustering.TABLE_METRIC`).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from toonlab.cluster import algorithms, baselines, beyond
from toonlab.cluster.algorithms import ClusterConfig
from toonlab.metrics.clustering import TABLE_METRIC, cluster_scores

METRICS = ("hungarian_accuracy", "nmi", "ari", "purity")


def _method(name: str) -> tuple[Callable[..., tuple[np.ndarray, str]], bool]:
    if name in algorithms.FIT:
        return algorithms.cluster, name in algorithms.DETERMINISTIC
    if name in beyond.FIT:
        return beyond.cluster_beyond, False
    raise ValueError(f"unknown clustering method {name!r}; choose from {list(algorithms.FIT) + list(beyond.FIT)}")


def run_benchmark(features: Mapping[str, np.ndarray], labels: Sequence[int] | np.ndarray,
                  methods: Sequence[str] = algorithms.ALGORITHMS, seeds: Sequence[int] = (0, 1, 2),
                  k: int | None = None, config: ClusterConfig = ClusterConfig(), progress: bool = True,
                  keep_labels: bool = False) -> pd.DataFrame:
    """One row per (extractor, method, seed): the four scores, wall time, graph note.

    ``features``: extractor name -> N x D array (all of the same N items, in ``labels`` order).
    ``keep_labels`` adds the predicted labels (a ``labels`` column) for figures of the best cell.
    """
    labels = np.asarray(labels)
    if not seeds:
        raise ValueError("give at least one seed")
    k = int(k if k is not None else np.unique(labels).size)
    for name, x in features.items():
        if len(x) != len(labels):
            raise ValueError(f"features {name!r} have {len(x)} rows but there are {len(labels)} labels")
    jobs = []
    for extractor in features:
        for method in methods:
            fit, deterministic = _method(method)
            for seed in (seeds[:1] if deterministic else seeds):
                jobs.append((extractor, method, seed, fit))
    rows: list[dict[str, Any]] = []
    for extractor, method, seed, fit in tqdm(jobs, desc="clustering", disable=not progress):
        start = time.perf_counter()
        predicted, note = fit(features[extractor], method, k, seed, config)
        wall = time.perf_counter() - start
        scores = cluster_scores(labels, predicted)
        row = {"extractor": extractor, "method": method, "seed": seed, **{m: scores[m] for m in METRICS},
               "n_clusters": scores["n_clusters"], "wall_s": wall, "graph": note}
        if keep_labels:
            row["labels"] = predicted
        rows.append(row)
    return pd.DataFrame(rows)


def summarize(runs: pd.DataFrame, metrics: Sequence[str] = METRICS) -> pd.DataFrame:
    """Mean and std over seeds per (extractor, method), plus the cell's mean wall time and seed count."""
    grouped = runs.groupby(["extractor", "method"], sort=False)
    table = grouped[list(metrics)].agg(["mean", "std"])
    table.columns = [f"{m}_{stat}" for m, stat in table.columns]
    for m in metrics:  # one run: its spread is zero, not unknown
        table[f"{m}_std"] = table[f"{m}_std"].fillna(0.0)
    table["runs"] = grouped.size()
    table["wall_s"] = grouped["wall_s"].mean()
    table["graph"] = grouped["graph"].first()
    return table.reset_index()


def best_run(runs: pd.DataFrame, metric: str = TABLE_METRIC) -> pd.Series:
    """The single run with the highest ``metric`` (ties: the first)."""
    return runs.loc[runs[metric].idxmax()]


def display_names() -> dict[str, str]:
    """Method name -> how tables print it (the source's algorithms, the methods beyond it, the baselines)."""
    return {**algorithms.DISPLAY_NAMES, **beyond.DISPLAY_NAMES, **baselines.DISPLAY_NAMES}


def pretty(summary: pd.DataFrame, metrics: Sequence[str] = METRICS, digits: int = 3) -> pd.DataFrame:
    """``mean ± std`` strings, display names, for the book."""
    names = display_names()
    out = pd.DataFrame({"features": summary["extractor"], "method": summary["method"].map(names)})
    for m in metrics:
        out[m] = [f"{a:.{digits}f} ± {b:.{digits}f}" for a, b in zip(summary[f"{m}_mean"], summary[f"{m}_std"])]
    out["runs"] = summary["runs"]  # wall times are in the cost table: these scores are deterministic
    return out
