"""Figures of the clustering chapter: 2-D embeddings, the best cell's confusion matrix, cluster samples."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from scipy.optimize import linear_sum_assignment
from sklearn.decomposition import PCA
from sklearn.manifold import TSNE
from sklearn.metrics.cluster import contingency_matrix
from sklearn.preprocessing import StandardScaler

EMBEDDINGS = ("pca", "tsne")


def embed_2d(features: np.ndarray, method: str = "pca", seed: int = 0,
             max_points: int = 3000) -> tuple[np.ndarray, np.ndarray]:
    """2-D coordinates of (a seeded subset of at most ``max_points``) standardised features.

    Returns (coordinates, indices of the points shown). t-SNE uses PCA initialisation and a perplexity
    capped for small sets (it must stay below the number of points).
    """
    if method not in EMBEDDINGS:
        raise ValueError(f"method must be one of {EMBEDDINGS}, got {method!r}")
    rng = np.random.default_rng(seed)
    n = len(features)
    index = np.sort(rng.choice(n, max_points, replace=False)) if n > max_points else np.arange(n)
    x = StandardScaler().fit_transform(np.asarray(features, dtype=np.float64)[index])
    if method == "pca":
        return PCA(n_components=2, random_state=seed).fit_transform(x), index
    if len(x) > 50:  # t-SNE on PCA-50, the usual speed-up
        x = PCA(n_components=min(50, x.shape[1]), random_state=seed).fit_transform(x)
    perplexity = float(min(30, max(2, (len(x) - 1) // 3)))
    return TSNE(n_components=2, init="pca", perplexity=perplexity, random_state=seed).fit_transform(x), index


def scatter_figure(coords: dict[str, np.ndarray], labels_true: np.ndarray, labels_pred: np.ndarray,
                   class_names: Sequence[str] | None = None, title: str = ""):
    """One row per embedding method: points coloured by true class (left) and by cluster (right)."""
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(len(coords), 2, figsize=(9, 4 * len(coords)), squeeze=False)
    for row, (method, xy) in zip(axes, coords.items()):
        for ax, labels, what in ((row[0], labels_true, "true class"), (row[1], labels_pred, "cluster")):
            ax.scatter(xy[:, 0], xy[:, 1], c=labels, cmap="tab20", s=5, alpha=0.8, linewidths=0)
            ax.set_title(f"{method.upper()} — coloured by {what}", fontsize=9)
            ax.set_xticks([])
            ax.set_yticks([])
        if class_names is not None and len(class_names) <= 20:
            cmap = plt.get_cmap("tab20")
            handles = [plt.Line2D([], [], ls="", marker="o", color=cmap(i / max(len(class_names) - 1, 1)), label=n)
                       for i, n in enumerate(class_names)]
            row[0].legend(handles=handles, fontsize=6, loc="best", markerscale=0.8)
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return fig


def aligned_confusion(labels_true: np.ndarray, labels_pred: np.ndarray) -> np.ndarray:
    """Contingency matrix (classes x clusters) with clusters reordered by the Hungarian matching, so the
    diagonal holds the matched counts; unmatched clusters follow at the right."""
    counts = contingency_matrix(labels_true, labels_pred)
    rows, cols = linear_sum_assignment(counts, maximize=True)
    order = list(cols[np.argsort(rows)]) + [c for c in range(counts.shape[1]) if c not in set(cols)]
    return counts[:, order]


def confusion_figure(labels_true: np.ndarray, labels_pred: np.ndarray, class_names: Sequence[str] | None = None,
                     title: str = ""):
    import matplotlib.pyplot as plt

    matrix = aligned_confusion(labels_true, labels_pred)
    size = max(4.0, 0.28 * matrix.shape[0] + 2)
    fig, ax = plt.subplots(figsize=(size + 1, size))
    image = ax.imshow(matrix, cmap="Blues")
    fig.colorbar(image, ax=ax, fraction=0.046)
    ax.set_xlabel("cluster (Hungarian-matched order)")
    ax.set_ylabel("true class")
    if class_names is not None:
        ax.set_yticks(range(len(class_names)), class_names, fontsize=7)
    if matrix.shape[0] <= 12:
        for (i, j), value in np.ndenumerate(matrix):
            ax.text(j, i, str(value), ha="center", va="center", fontsize=6,
                    color="white" if value > matrix.max() / 2 else "black")
    ax.set_title(title, fontsize=9)
    fig.tight_layout()
    return fig


def largest_clusters(labels_pred: np.ndarray, n_clusters: int = 4) -> list[int]:
    ids, counts = np.unique(labels_pred, return_counts=True)
    return [int(c) for c in ids[np.argsort(-counts, kind="stable")][:n_clusters]]


def sample_grid_figure(dataset: Any, labels_pred: np.ndarray, n_clusters: int = 4, per_cluster: int = 8,
                       seed: int = 0, class_names: Sequence[str] | None = None):
    """One row of sample images per largest cluster, titled with its size and majority class."""
    import matplotlib.pyplot as plt
    import torch
    from torchvision.utils import make_grid

    rng = np.random.default_rng(seed)
    labels_true = np.asarray(dataset.labels)
    clusters = largest_clusters(labels_pred, n_clusters)
    fig, axes = plt.subplots(len(clusters), 1, figsize=(per_cluster * 0.9, 1.15 * len(clusters)), squeeze=False)
    for ax, c in zip(axes[:, 0], clusters):
        members = np.flatnonzero(labels_pred == c)
        shown = np.sort(rng.choice(members, min(per_cluster, len(members)), replace=False))
        grid = make_grid(torch.stack([dataset[int(i)][0] for i in shown]), nrow=per_cluster, padding=2, pad_value=1.0)
        ax.imshow(grid.permute(1, 2, 0).numpy())
        majority = np.bincount(labels_true[members]).argmax()
        name = class_names[majority] if class_names is not None else str(majority)
        share = np.mean(labels_true[members] == majority)
        ax.set_title(f"cluster {c}: {len(members)} items, {share:.0%} {name}", fontsize=8, loc="left")
        ax.axis("off")
    fig.tight_layout()
    return fig
