"""Beyond the source: stronger, cheap baselines on the same features, kept out of the faithful table.

- ``l2_kmeans``: spherical-style KMeans — L2-normalised features (cosine geometry, as CLIP is trained),
  10 k-means++ restarts instead of sklearn's single ``"auto"`` one.
- ``whiten_l2_kmeans``: PCA-whitening first (decorrelates and equalises the principal directions, so a few
  dominant, class-agnostic directions — background, colour — stop dominating the distances), then L2 and
  KMeans as above. PCA-whitened, normalised embeddings are a standard retrieval/clustering trick.
"""

from __future__ import annotations

from typing import Callable

import numpy as np
from sklearn.cluster import KMeans
from sklearn.decomposition import PCA
from sklearn.preprocessing import normalize

from toonlab.cluster.algorithms import ClusterConfig, check_features

BEYOND = ("l2_kmeans", "whiten_l2_kmeans")
DISPLAY_NAMES = {"l2_kmeans": "L2 + KMeans (10 restarts)", "whiten_l2_kmeans": "PCA-whiten + L2 + KMeans"}
WHITEN_COMPONENTS = 128  # at most; fewer when there are fewer dimensions or items
RESTARTS = 10


def whiten(x: np.ndarray, seed: int, n_components: int = WHITEN_COMPONENTS) -> np.ndarray:
    n_components = min(n_components, x.shape[1], len(x) - 1)
    return PCA(n_components=n_components, whiten=True, random_state=seed).fit_transform(x)


def _l2_kmeans(x: np.ndarray, k: int, seed: int, config: ClusterConfig) -> tuple[np.ndarray, str]:
    labels = KMeans(n_clusters=k, random_state=seed, n_init=RESTARTS).fit_predict(normalize(x))
    return labels, "-"


def _whiten_l2_kmeans(x: np.ndarray, k: int, seed: int, config: ClusterConfig) -> tuple[np.ndarray, str]:
    white = whiten(x, seed)
    labels = KMeans(n_clusters=k, random_state=seed, n_init=RESTARTS).fit_predict(normalize(white))
    return labels, f"{white.shape[1]} components"


FIT: dict[str, Callable[[np.ndarray, int, int, ClusterConfig], tuple[np.ndarray, str]]] = {
    "l2_kmeans": _l2_kmeans, "whiten_l2_kmeans": _whiten_l2_kmeans,
}


def cluster_beyond(features: np.ndarray, method: str, k: int, seed: int = 0,
                   config: ClusterConfig = ClusterConfig()) -> tuple[np.ndarray, str]:
    if method not in FIT:
        raise ValueError(f"unknown method {method!r}; choose one of {list(FIT)}")
    labels, note = FIT[method](check_features(features, k), k, seed, config)
    return np.asarray(labels, dtype=np.int64), note
