"""A fixed evaluation protocol for single-image 3-D reconstruction.

Papers report Chamfer distances at different scales and F-scores at thresholds from 0.05 to 0.5, so their
numbers do not compare. This module fixes one protocol and names every choice:

1. **Normalisation** — each mesh is centred on its bounding box and scaled so the longest side is 1 (the
   unit cube). Single-image reconstruction has no absolute scale or position, so both are removed per mesh.
2. **Alignment** — the reconstruction is rotated about the vertical (z) axis by the one of ``align_yaws``
   evenly spaced angles that minimises Chamfer; no other fitting (Shap-E and the ground truth share "z up",
   but not necessarily the facing direction). ``align_yaws=1`` switches alignment off.
3. **Sampling** — ``n_points`` area-uniform surface samples per mesh, from a fixed seed.
4. **Chamfer** — ½ (mean over predicted points of the Euclidean distance to the nearest ground-truth
   point + the same from ground truth to prediction), in unit-cube units: distances, *not squared*. This
   is what Occupancy Networks calls "Chamfer-L1"; the "CD-ℓ2" of PCN / PoinTr squares the distances, and is
   reported beside it as ``chamfer_squared`` (½ of the two means of squared distances). Neither is scaled.
5. **F-score@τ** — precision = share of predicted points within τ of the ground truth, recall = share of
   ground-truth points within τ of the prediction, F = 2PR / (P + R); τ = 0.1 and 0.2 against a longest side of 1 (papers that normalise to [-1, 1]³ have a longest side of 2:
   our F@0.1 is their F@0.2).
6. **Volume IoU** — only where every connected component of both meshes is watertight (else ``None``,
   reported as "not watertight"): the centres of an ``iou_resolution``³ grid over the union of the two
   bounding boxes; a point is inside a mesh when it is inside any of its closed components (the parts of
   a figure overlap).
7. **CLIP similarity** — cosine between the CLIP embedding of the input image and of the reconstruction
   rendered from the input's camera ("front") and from 8 azimuths around it (their mean), with the same
   renderer (:mod:`toonlab.shape3d.render`) for every mesh.
8. **Cost** — seconds per object (wall clock, CUDA synchronised) and peak memory (CUDA peak allocated, or
   sampled peak RSS on CPU) of the lifting call.

The known-answer tests (``tests/test_metrics_shape3d.py``) check 4–6 against closed forms on spheres and
cubes, derived in :func:`sphere_known_answer` and :func:`shifted_cube_known_answer`.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import torch
import trimesh
from scipy.spatial import cKDTree

from toonlab.metrics.checks import MetricInputError
from toonlab.shape3d.meshes import MeshError, check_mesh
from toonlab.shape3d.render import evaluation_cameras, normalize_to_unit_cube, render_views


@dataclass(frozen=True)
class Protocol:
    """The protocol's settings; :meth:`describe` is what tables print in their "protocol" column."""

    n_points: int = 10_000
    thresholds: tuple[float, ...] = (0.1, 0.2)
    iou_resolution: int = 64
    align_yaws: int = 12
    normalize: bool = True
    seed: int = 0

    def __post_init__(self) -> None:
        if self.n_points < 1 or self.iou_resolution < 2 or self.align_yaws < 1:
            raise ValueError("n_points and align_yaws must be positive, iou_resolution at least 2")
        if not self.thresholds or any(t <= 0 for t in self.thresholds):
            raise ValueError(f"F-score thresholds must be positive, got {self.thresholds}")

    def describe(self) -> str:
        taus = "/".join(f"{t:g}" for t in self.thresholds)
        align = (f"yaw aligned over {self.align_yaws} angles ({360 / self.align_yaws:g}° steps, no finer search)"
                 if self.align_yaws > 1 else "no alignment")
        norm = "unit cube per mesh" if self.normalize else "raw coordinates"
        return (f"ours: {norm}, {align}, {self.n_points:,} surface points, Chamfer (mean Euclidean NN distance, ½ both ways), "
                f"F@{taus} (τ against a longest side of 1), IoU on a {self.iou_resolution}³ grid")


def sample_surface(mesh: trimesh.Trimesh, n: int, seed: int = 0) -> np.ndarray:
    """``n`` area-uniform points on the surface of ``mesh`` (fixed seed)."""
    check_mesh(mesh)
    points, _ = trimesh.sample.sample_surface(mesh, n, seed=seed)
    return np.asarray(points, dtype=np.float64)


def nearest_distances(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """For each point of ``a``, the Euclidean distance to the nearest point of ``b``."""
    if len(a) == 0 or len(b) == 0:
        raise MetricInputError("nearest distances need two non-empty point sets")
    return cKDTree(b).query(a, k=1)[0]


def chamfer_distance(pred_to_gt: np.ndarray, gt_to_pred: np.ndarray) -> float:
    """½ (mean pred→gt + mean gt→pred) of nearest-neighbour Euclidean distances (unsquared; Occupancy
    Networks' "Chamfer-L1")."""
    return 0.5 * (float(pred_to_gt.mean()) + float(gt_to_pred.mean()))


def chamfer_squared(pred_to_gt: np.ndarray, gt_to_pred: np.ndarray) -> float:
    """½ (mean pred→gt + mean gt→pred) of *squared* nearest-neighbour distances (PCN / PoinTr "CD-ℓ2")."""
    return 0.5 * (float(np.square(pred_to_gt).mean()) + float(np.square(gt_to_pred).mean()))


def fscore(pred_to_gt: np.ndarray, gt_to_pred: np.ndarray, tau: float) -> tuple[float, float, float]:
    """(F, precision, recall) at threshold ``tau``; F = 0 when both precision and recall are 0."""
    precision = float((pred_to_gt < tau).mean())
    recall = float((gt_to_pred < tau).mean())
    f = 0.0 if precision + recall == 0 else 2 * precision * recall / (precision + recall)
    return f, precision, recall


def _yaw(angle: float) -> np.ndarray:
    return trimesh.transformations.rotation_matrix(angle, [0, 0, 1])


def _unit_cube_transform(vertices: np.ndarray) -> tuple[np.ndarray, float]:
    """(centre, longest side) of the axis-aligned bounding box of ``vertices``: x -> (x - centre) / side."""
    lo, hi = vertices.min(axis=0), vertices.max(axis=0)
    side = float(np.max(hi - lo))
    if not side > 0:
        raise MetricInputError("the mesh is a point (zero extent): nothing to normalise")
    return (lo + hi) / 2, side


def best_yaw(gt_points: np.ndarray, pred_points: np.ndarray, n_angles: int,
             pred_vertices: np.ndarray | None = None) -> float:
    """The yaw (radians) among ``n_angles`` evenly spaced ones that minimises Chamfer (pred rotated).

    With ``pred_vertices`` the rotated prediction is re-normalised to the unit cube per candidate yaw (its
    axis-aligned bounding box, hence its scale, depends on the yaw: a long box turned 45° has a longer
    bounding box and would be shrunk if it were scaled before the yaw was chosen)."""
    if n_angles <= 1:
        return 0.0
    tree = cKDTree(gt_points)
    best, best_angle = math.inf, 0.0
    for k in range(n_angles):
        angle = 2 * math.pi * k / n_angles
        rotation = _yaw(angle)[:3, :3]
        rotated = pred_points @ rotation.T
        if pred_vertices is not None:
            centre, side = _unit_cube_transform(pred_vertices @ rotation.T)
            rotated = (rotated - centre) / side
        value = 0.5 * (tree.query(rotated)[0].mean() + cKDTree(rotated).query(gt_points)[0].mean())
        if value < best - 1e-12:
            best, best_angle = value, angle
    return best_angle


def closed_components(mesh: trimesh.Trimesh) -> list[trimesh.Trimesh] | None:
    """The mesh's connected components if every one is watertight, else ``None``."""
    if not mesh.is_watertight:  # every edge shared by exactly two faces (also true of a union of closed parts)
        return None
    parts = mesh.split(only_watertight=False)
    return parts if parts and all(part.is_watertight for part in parts) else None


# A point on a grid line can fall exactly on an edge shared by two triangles and count twice (axis-aligned
# boxes do this): the grid is shifted by an irrational fraction of a cell so no column hits an edge.
GRID_JITTER = (math.sqrt(2) - 1) * 1e-3


def occupancy(parts: Sequence[trimesh.Trimesh], lo: np.ndarray, hi: np.ndarray, resolution: int) -> np.ndarray:
    """Which centres of a ``resolution``³ grid over the box [lo, hi] lie inside any of the closed ``parts``.

    Why our own: trimesh's ``contains`` casts rays through an R-tree and needs gigabytes for 10^4-point
    queries on 10^4-face meshes. A scanline voxeliser is exact for closed meshes: project each part onto
    the xy grid (the rasteriser's coverage test), collect the z of every crossing of each column, and a
    voxel centre is inside when an odd number of crossings lie below it.
    """
    from toonlab.shape3d.render import covered_pixels

    n = resolution
    cell = (hi - lo) / n
    jitter = GRID_JITTER * cell
    occupied = np.zeros((n * n, n), dtype=bool)
    for part in parts:
        grid_xy = (np.asarray(part.vertices)[:, :2] - lo[:2] - jitter[:2]) / cell[:2]
        z = np.asarray(part.vertices)[:, 2]
        tri = np.asarray(part.faces)
        column, _, z_cross = covered_pixels(grid_xy[tri], z[tri], n, n)
        # first voxel centre above each crossing: centre k sits at lo + (k + 0.5) * cell
        first = np.clip(np.ceil((z_cross - lo[2] - jitter[2]) / cell[2] - 0.5), 0, n).astype(np.int64)
        flips = np.zeros((n * n, n + 1), dtype=np.int64)
        np.add.at(flips, (column, first), 1)
        occupied |= (np.cumsum(flips, axis=1)[:, :n] % 2).astype(bool)
    return occupied  # [column (row-major y, x), z]


def volume_iou(gt: trimesh.Trimesh, pred: trimesh.Trimesh, resolution: int = 64) -> float | None:
    """Volume IoU on a ``resolution``³ grid over both bounding boxes (``None`` unless both are closed)."""
    gt_parts, pred_parts = closed_components(gt), closed_components(pred)
    if gt_parts is None or pred_parts is None:
        return None
    lo = np.minimum(gt.bounds[0], pred.bounds[0])
    hi = np.maximum(gt.bounds[1], pred.bounds[1])
    a, b = occupancy(gt_parts, lo, hi, resolution), occupancy(pred_parts, lo, hi, resolution)
    union = int((a | b).sum())
    return None if union == 0 else float((a & b).sum() / union)


def compare_meshes(gt: trimesh.Trimesh, pred: trimesh.Trimesh, protocol: Protocol = Protocol()) -> dict[str, Any]:
    """Steps 1–6 of the protocol for one (ground truth, reconstruction) pair."""
    gt, pred = check_mesh(gt, "ground-truth mesh"), check_mesh(pred, "reconstructed mesh")
    if protocol.normalize:
        # order matters: centre, choose the yaw, then scale — the unit-cube scale of a turned object depends
        # on the turn, so the prediction is re-normalised for every candidate yaw (best_yaw) and once more
        # after the chosen one
        gt = normalize_to_unit_cube(gt)
        pred = pred.copy()
        pred.apply_translation(-pred.bounds.mean(axis=0))
    gt_points = sample_surface(gt, protocol.n_points, protocol.seed)
    pred_points = sample_surface(pred, protocol.n_points, protocol.seed + 1)
    vertices = np.asarray(pred.vertices, dtype=np.float64) if protocol.normalize else None
    angle = best_yaw(gt_points, pred_points, protocol.align_yaws, vertices)
    if angle or protocol.normalize:
        rotation = _yaw(angle)
        pred = pred.copy()
        pred.apply_transform(rotation)
        pred_points = pred_points @ rotation[:3, :3].T
        if protocol.normalize:
            centre, side = _unit_cube_transform(np.asarray(pred.vertices, dtype=np.float64))
            pred.apply_translation(-centre)
            pred.apply_scale(1.0 / side)
            pred_points = (pred_points - centre) / side
    pred_to_gt = nearest_distances(pred_points, gt_points)
    gt_to_pred = nearest_distances(gt_points, pred_points)
    record: dict[str, Any] = {"chamfer": chamfer_distance(pred_to_gt, gt_to_pred),
                              "chamfer_squared": chamfer_squared(pred_to_gt, gt_to_pred), "yaw_deg": math.degrees(angle)}
    for tau in protocol.thresholds:
        f, p, r = fscore(pred_to_gt, gt_to_pred, tau)
        record.update({f"f@{tau:g}": f, f"precision@{tau:g}": p, f"recall@{tau:g}": r})
    record["volume_iou"] = volume_iou(gt, pred, protocol.iou_resolution)
    return record


# ---------------------------------------------------------------------------------------------------
# closed forms for the known-answer tests


def sphere_known_answer(radius: float, scale: float, tau: float) -> dict[str, float]:
    """Concentric spheres of radius r and s·r, in raw coordinates.

    The nearest point of the second sphere to any point of the first lies on the same ray from the centre,
    at distance |s − 1| r; the same holds the other way round. So both directional means equal |s − 1| r and
    Chamfer = |s − 1| r. Every point is at that same distance, so precision = recall = 1 when
    |s − 1| r < τ and 0 otherwise, and F equals it. The volumes are nested balls: IoU = min(s, 1/s)³.
    (After the protocol's unit-cube normalisation the two spheres coincide: Chamfer 0, F 1, IoU 1.)
    """
    d = abs(scale - 1) * radius
    f = 1.0 if d < tau else 0.0
    return {"chamfer": d, "f": f, "volume_iou": min(scale, 1 / scale) ** 3}


def shifted_cube_known_answer(shift: float, tau: float) -> dict[str, float]:
    """The unit cube A = [0,1]³ and B = A shifted by d along x (0 < d ≤ ½), raw coordinates.

    Distance from a point of A's surface to B's surface, face by face (each face has area 1 of 6):

    * x = 0 face, points (0, y, z): outside B; the nearest point of B is (d, y, z) → distance d.
    * x = 1 face, points (1, y, z): inside B (d < 1 < 1 + d); the nearest face of B is x = 1 + d (distance
      d) or one of B's side faces y = 0, y = 1, z = 0, z = 1 (distance y, 1 − y, z, 1 − z), so the distance
      is min(d, m) with m the distance from (y, z) to the unit square's border. P(m > t) = (1 − 2t)² on
      [0, ½], hence E[min(d, m)] = ∫₀^d (1 − 2t)² dt = (1 − (1 − 2d)³) / 6.
    * the four side faces, e.g. y = 0, points (x, 0, z): for x ≥ d the point lies on B's own y = 0 face
      (distance 0); for x < d it is outside B and the nearest point is (d, 0, z), distance d − x. Mean over
      the face: ∫₀^d (d − x) dx = d²/2.

    Mean A→B = [d + (1 − (1 − 2d)³)/6 + 4·d²/2] / 6; B→A is the mirror image, so Chamfer equals it.
    Share of A's surface within τ (precision; recall is the same by symmetry, so F equals it):
    x = 0 face: [d < τ]; x = 1 face: 1 if d < τ else P(m < τ) = 1 − (1 − 2τ)² (τ ≤ ½);
    each side face: (1 − d) + min(d, τ). Volumes: overlap 1 − d, union 1 + d, IoU = (1 − d)/(1 + d).
    """
    d = shift
    if not 0 < d <= 0.5 or not 0 < tau <= 0.5:
        raise ValueError("the closed form holds for 0 < shift <= 0.5 and 0 < tau <= 0.5")
    mean = (d + (1 - (1 - 2 * d) ** 3) / 6 + 2 * d * d) / 6
    near = d < tau
    share = (float(near) + (1.0 if near else 1 - (1 - 2 * tau) ** 2) + 4 * ((1 - d) + min(d, tau))) / 6
    return {"chamfer": mean, "f": share, "volume_iou": (1 - d) / (1 + d)}


# ---------------------------------------------------------------------------------------------------
# CLIP similarity of renders, and cost


def clip_view_similarity(clip: Any, image: Any, mesh: trimesh.Trimesh, size: int = 128,
                         n_around: int = 8) -> dict[str, float]:
    """Cosine of the input image's CLIP embedding with the mesh rendered front-on and from ``n_around``
    azimuths: ``clip_front`` and ``clip_around`` (mean over the ring)."""
    from toonlab.metrics.clip_score import embed_images

    views = render_views(check_mesh(mesh), evaluation_cameras(n_around), size)
    embeddings = embed_images(clip, [image.convert("RGB")] + views)
    cosines = (embeddings[1:] @ embeddings[0]).double().cpu().numpy()
    return {"clip_front": float(cosines[0]), "clip_around": float(cosines[1:].mean())}


@dataclass(frozen=True)
class CallCost:
    seconds: float
    peak_memory_mib: float
    memory_kind: str

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def measure_call(fn: Callable[[], Any], device: str | torch.device = "cpu") -> tuple[Any, CallCost]:
    """Run ``fn`` once and return its result with wall time and peak memory (the protocol's step 8)."""
    from toonlab.metrics.cost import _RSSSampler

    cuda = torch.device(device).type == "cuda"
    if cuda:
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
        start = time.perf_counter()
        result = fn()
        torch.cuda.synchronize()
        seconds = time.perf_counter() - start
        return result, CallCost(seconds, torch.cuda.max_memory_allocated() / 2**20, "cuda peak allocated")
    with _RSSSampler() as sampler:
        start = time.perf_counter()
        result = fn()
        seconds = time.perf_counter() - start
    return result, CallCost(seconds, sampler.peak / 2**20, "cpu peak RSS (sampled)")


__all__ = ["CallCost", "MeshError", "Protocol", "best_yaw", "chamfer_distance", "chamfer_squared", "clip_view_similarity", "closed_components",
           "compare_meshes", "fscore", "measure_call", "nearest_distances", "occupancy", "sample_surface",
           "shifted_cube_known_answer", "sphere_known_answer", "volume_iou"]
