"""Structure kept by an image-to-image model: edge F1 between the input's edge map and the output's.

MyMemoji conditions SDXL on the canny edges of the photo (ControlNet) so the memoji keeps the person's
outline; the natural check is whether the output has edges where the input had them. Both images go
through the same canny detector (same thresholds, the output resized to the input's size first), then

* precision = share of the output's edge pixels that lie within ``tolerance`` px of an input edge pixel,
* recall    = share of the input's edge pixels that lie within ``tolerance`` px of an output edge pixel,
* F1        = their harmonic mean.

``tolerance=0`` is exact pixel overlap; a small tolerance (BSDS-style benchmarks allow about 1% of the
diagonal) forgives the one-pixel shifts a regenerated edge always has. Distances are Euclidean, computed
with scipy's exact distance transform; :func:`edge_f1_bruteforce` is the pixel-pair loop it is tested against.
The BSDS benchmark matches pixels one-to-one (a bipartite assignment); this tolerance version lets one pixel
count for several, which is what scikit-image/OpenCV-based structure checks do and is stated in the table.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from toonlab.metrics.checks import MetricInputError


@dataclass(frozen=True)
class EdgeScore:
    precision: float
    recall: float
    f1: float
    reference_pixels: int
    predicted_pixels: int


def _as_mask(edges: np.ndarray, name: str) -> np.ndarray:
    edges = np.asarray(edges)
    if edges.ndim == 3 and edges.shape[-1] in (1, 3, 4):
        edges = edges[..., 0] if edges.shape[-1] == 1 else edges[..., :3].max(axis=-1)
    if edges.ndim != 2:
        raise MetricInputError(f"{name} must be a 2-D edge map (H, W), got shape {edges.shape}")
    if edges.size == 0:
        raise MetricInputError(f"{name} is empty")
    return edges > 0


def _within(mask: np.ndarray, targets: np.ndarray, tolerance: float) -> np.ndarray:
    """For every True pixel of ``mask``: is there a True pixel of ``targets`` within ``tolerance`` px?"""
    if not targets.any():
        return np.zeros(int(mask.sum()), dtype=bool)
    if tolerance <= 0:
        return targets[mask]
    from scipy.ndimage import distance_transform_edt

    distance = distance_transform_edt(~targets)  # distance of every pixel to the nearest target pixel
    return distance[mask] <= tolerance


def _score(hits_p: int, n_p: int, hits_r: int, n_r: int) -> EdgeScore:
    # Conventions for empty maps: nothing predicted -> precision 1 (no false edges), nothing to recall ->
    # recall 1; two empty maps agree perfectly (F1 1), one empty map against a non-empty one scores 0.
    precision = hits_p / n_p if n_p else 1.0
    recall = hits_r / n_r if n_r else 1.0
    if n_p == 0 and n_r == 0:
        f1 = 1.0
    elif precision + recall == 0 or n_p == 0 or n_r == 0:
        f1 = 0.0
    else:
        f1 = 2 * precision * recall / (precision + recall)
    return EdgeScore(float(precision), float(recall), float(f1), n_r, n_p)


def edge_f1(predicted: np.ndarray, reference: np.ndarray, tolerance: float = 0.0) -> EdgeScore:
    """Edge precision/recall/F1 of a predicted edge map against a reference one (same shape, nonzero = edge)."""
    p, r = _as_mask(predicted, "predicted"), _as_mask(reference, "reference")
    if p.shape != r.shape:
        raise MetricInputError(f"edge maps must have the same shape, got {p.shape} and {r.shape}; resize the "
                               "output image to the input's size before detecting its edges")
    if tolerance < 0:
        raise MetricInputError(f"tolerance must be >= 0 pixels, got {tolerance}")
    return _score(int(_within(p, r, tolerance).sum()), int(p.sum()), int(_within(r, p, tolerance).sum()), int(r.sum()))


def edge_f1_bruteforce(predicted: np.ndarray, reference: np.ndarray, tolerance: float = 0.0) -> EdgeScore:
    """The same score by looping over every pair of edge pixels (for tests; O(|P|·|R|))."""
    p, r = _as_mask(predicted, "predicted"), _as_mask(reference, "reference")
    p_points, r_points = np.argwhere(p), np.argwhere(r)

    def hits(points: np.ndarray, targets: np.ndarray) -> int:
        count = 0
        for y, x in points:
            best = min((((y - ty) ** 2 + (x - tx) ** 2) ** 0.5 for ty, tx in targets), default=np.inf)
            count += best <= tolerance
        return count

    return _score(hits(p_points, r_points), len(p_points), hits(r_points, p_points), len(r_points))


__all__ = ["EdgeScore", "edge_f1", "edge_f1_bruteforce"]
