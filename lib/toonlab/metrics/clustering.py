"""Clustering scores: Hungarian-matched accuracy, NMI, ARI and majority-vote purity.

ToyHollyWood's clustering table gives one number per method with no code and no protocol. The two usual
readings of "cluster accuracy" differ whenever there are more clusters than classes:

- **Hungarian accuracy** (the standard "ACC"): the best one-to-one matching of clusters to classes
  (scipy's ``linear_sum_assignment``); a surplus cluster matches no class and all its items count as wrong.
- **purity**: each cluster votes for its majority class; several clusters may pick the same class, so
  purity >= Hungarian accuracy, with equality when the matching is one-to-one anyway.

We report both (plus NMI and ARI from scikit-learn); the book's tables lead with Hungarian accuracy
(:data:`TABLE_METRIC`) and say so.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from scipy.optimize import linear_sum_assignment
from sklearn.metrics import adjusted_rand_score, normalized_mutual_info_score
from sklearn.metrics.cluster import contingency_matrix

from toonlab.metrics.checks import MetricInputError, check_labels

TABLE_METRIC = "hungarian_accuracy"


def _pair(labels_true: Sequence | np.ndarray, labels_pred: Sequence | np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    true = check_labels(labels_true, "labels_true")
    pred = check_labels(labels_pred, "labels_pred")
    if true.shape != pred.shape:
        raise MetricInputError(f"labels_true has {true.size} items and labels_pred {pred.size}; "
                               f"they must label the same items in the same order")
    return true, pred


def hungarian_accuracy(labels_true: Sequence | np.ndarray, labels_pred: Sequence | np.ndarray) -> float:
    """Fraction of items whose cluster maps to their class under the best one-to-one cluster→class map."""
    true, pred = _pair(labels_true, labels_pred)
    counts = contingency_matrix(true, pred)  # rows: classes, columns: clusters
    rows, cols = linear_sum_assignment(counts, maximize=True)
    return float(counts[rows, cols].sum() / true.size)


def purity(labels_true: Sequence | np.ndarray, labels_pred: Sequence | np.ndarray) -> float:
    """Fraction of items that belong to their cluster's majority class."""
    true, pred = _pair(labels_true, labels_pred)
    counts = contingency_matrix(true, pred)
    return float(counts.max(axis=0).sum() / true.size)


def nmi(labels_true: Sequence | np.ndarray, labels_pred: Sequence | np.ndarray) -> float:
    """Normalised mutual information (arithmetic normalisation, scikit-learn's default)."""
    true, pred = _pair(labels_true, labels_pred)
    return float(normalized_mutual_info_score(true, pred))


def ari(labels_true: Sequence | np.ndarray, labels_pred: Sequence | np.ndarray) -> float:
    """Adjusted Rand index (0 for random labelling, 1 for identical partitions)."""
    true, pred = _pair(labels_true, labels_pred)
    return float(adjusted_rand_score(true, pred))


def cluster_scores(labels_true: Sequence | np.ndarray, labels_pred: Sequence | np.ndarray) -> dict[str, float]:
    """All four scores, plus the cluster and class counts that explain any purity/accuracy gap."""
    true, pred = _pair(labels_true, labels_pred)
    return {
        "hungarian_accuracy": hungarian_accuracy(true, pred),
        "purity": purity(true, pred),
        "nmi": nmi(true, pred),
        "ari": ari(true, pred),
        "n_items": int(true.size),
        "n_classes": int(np.unique(true).size),
        "n_clusters": int(np.unique(pred).size),
    }
