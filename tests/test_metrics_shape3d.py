"""The 3-D evaluation protocol: known answers on analytic shapes (closed forms derived in
toonlab.metrics.shape3d), brute-force references for the nearest-neighbour and occupancy code, bad input."""

from __future__ import annotations

import math

import numpy as np
import pytest
import trimesh

from toonlab.metrics import shape3d as m
from toonlab.shape3d.meshes import MeshError
from toonlab.shape3d.toys import toy

RAW = dict(normalize=False, align_yaws=1)


def sampling_bias(area: float, n: int) -> float:
    """Where two surfaces coincide, the nearest of n independent samples is about half a sample spacing
    away instead of 0: sqrt(area / n) / 2 bounds the upward bias of a mean nearest distance."""
    return 0.5 * math.sqrt(area / n)


def unit_cube(shift: float = 0.0) -> trimesh.Trimesh:
    return trimesh.creation.box(bounds=[[shift, 0, 0], [1 + shift, 1, 1]])


@pytest.mark.parametrize("shift", [0.1, 0.3])
def test_cube_against_shifted_cube_matches_the_closed_form(shift):
    n = 40_000
    measured = m.compare_meshes(unit_cube(), unit_cube(shift), m.Protocol(n_points=n, iou_resolution=64, **RAW))
    for tau in (0.1, 0.2):
        expected = m.shifted_cube_known_answer(shift, tau)
        assert measured[f"f@{tau:g}"] == pytest.approx(expected["f"], abs=0.01)
    expected = m.shifted_cube_known_answer(shift, 0.1)
    # sampled Chamfer is biased upwards by at most the coincidence bias on the shared faces (4 of 6 sides)
    assert expected["chamfer"] <= measured["chamfer"] + 1e-3
    assert measured["chamfer"] - expected["chamfer"] < sampling_bias(6, n)
    assert measured["volume_iou"] == pytest.approx(expected["volume_iou"], abs=1.5 / 64)  # one voxel layer


def test_shifted_cube_closed_form_values():
    # d = 0.3, tau = 0.1: faces x=0 (0), x=1 (1 - 0.8^2 = 0.36), four sides (0.7 + 0.1) -> 3.56 / 6
    assert m.shifted_cube_known_answer(0.3, 0.1)["f"] == pytest.approx(3.56 / 6)
    # d = 0.1: [0.1 + (1 - 0.8^3)/6 + 2 * 0.01] / 6
    assert m.shifted_cube_known_answer(0.1, 0.1)["chamfer"] == pytest.approx((0.1 + 0.488 / 6 + 0.02) / 6)
    with pytest.raises(ValueError, match="closed form holds"):
        m.shifted_cube_known_answer(0.7, 0.1)


def test_sphere_against_scaled_sphere_matches_the_closed_form():
    n = 30_000
    sphere, scaled = trimesh.creation.icosphere(5, radius=1.0), trimesh.creation.icosphere(5, radius=1.15)
    measured = m.compare_meshes(sphere, scaled, m.Protocol(n_points=n, iou_resolution=64, **RAW))
    expected_01, expected_02 = m.sphere_known_answer(1.0, 1.15, 0.1), m.sphere_known_answer(1.0, 1.15, 0.2)
    assert measured["chamfer"] == pytest.approx(expected_01["chamfer"], rel=0.01)  # no coincident parts
    assert measured["f@0.1"] == expected_01["f"] == 0.0
    assert measured["f@0.2"] == expected_02["f"] == 1.0
    assert measured["volume_iou"] == pytest.approx(expected_01["volume_iou"], abs=0.02)


def test_the_protocol_normalises_scale_and_position_away():
    sphere = trimesh.creation.icosphere(4, radius=1.0)
    moved = trimesh.creation.icosphere(4, radius=2.5)
    moved.apply_translation([3, -1, 2])
    measured = m.compare_meshes(sphere, moved, m.Protocol(n_points=20_000, align_yaws=1))
    assert measured["chamfer"] < sampling_bias(math.pi, 20_000) * 2
    assert measured["f@0.1"] == 1.0 and measured["volume_iou"] > 0.95


def test_yaw_alignment_undoes_a_turn_of_the_figure():
    figure = toy("robot")
    turned = figure.copy()
    turned.apply_transform(trimesh.transformations.rotation_matrix(math.pi / 2, [0, 0, 1]))
    unaligned = m.compare_meshes(figure, turned, m.Protocol(n_points=5000, align_yaws=1))
    aligned = m.compare_meshes(figure, turned, m.Protocol(n_points=5000, align_yaws=4))
    assert aligned["yaw_deg"] == pytest.approx(270.0)
    assert aligned["chamfer"] < 0.02 < unaligned["chamfer"]


def test_a_turned_long_box_is_scaled_after_its_yaw_is_chosen():
    # a 2 x 0.5 x 0.5 box turned 45 degrees has a longer axis-aligned bounding box (about 1.77 instead of
    # 2): normalising before choosing the yaw shrank the turned copy (Chamfer 0.024 vs a floor of 0.007,
    # IoU 0.67); scaling after the yaw makes it match itself
    box = trimesh.creation.box(extents=[2.0, 0.5, 0.5])
    turned = box.copy()
    turned.apply_transform(trimesh.transformations.rotation_matrix(math.pi / 4, [0, 0, 1]))
    protocol = m.Protocol(n_points=5000, align_yaws=8, iou_resolution=48)
    floor = m.compare_meshes(box, box, protocol)
    measured = m.compare_meshes(box, turned, protocol)
    assert measured["yaw_deg"] % 180 == pytest.approx(135.0)
    assert measured["chamfer"] < 1.5 * floor["chamfer"] + 1e-3
    assert measured["volume_iou"] > 0.95


def test_nearest_distances_and_fscore_against_brute_force():
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=(300, 3)), rng.normal(size=(200, 3))
    brute = np.sqrt(((a[:, None] - b[None]) ** 2).sum(-1))
    ab, ba = m.nearest_distances(a, b), m.nearest_distances(b, a)
    np.testing.assert_allclose(ab, brute.min(1))
    np.testing.assert_allclose(ba, brute.min(0))
    assert m.chamfer_distance(ab, ba) == pytest.approx(0.5 * (brute.min(1).mean() + brute.min(0).mean()))
    assert m.chamfer_squared(ab, ba) == pytest.approx(0.5 * ((brute.min(1) ** 2).mean() + (brute.min(0) ** 2).mean()))
    f, p, r = m.fscore(ab, ba, 0.5)
    assert p == pytest.approx((brute.min(1) < 0.5).mean()) and r == pytest.approx((brute.min(0) < 0.5).mean())
    assert f == pytest.approx(2 * p * r / (p + r))
    assert m.fscore(np.ones(3), np.ones(3), 0.5)[0] == 0.0  # no point within tau: F is 0, not NaN


def test_occupancy_agrees_with_trimesh_contains():
    figure = toy("funko")
    parts = m.closed_components(figure)
    assert parts is not None and len(parts) == 8
    lo, hi = figure.bounds[0], figure.bounds[1]
    n = 12
    grid = m.occupancy(parts, lo, hi, n)  # [y*n + x, z]
    cell = (hi - lo) / n
    centres = lo + (np.stack(np.meshgrid(np.arange(n), np.arange(n), np.arange(n), indexing="ij"), -1) + 0.5) * cell
    points = centres.reshape(-1, 3) + m.GRID_JITTER * cell  # x-major order: index x*n*n + y*n + z
    reference = np.zeros(len(points), dtype=bool)
    for part in parts:
        reference |= part.contains(points)
    ours = grid.reshape(n, n, n).transpose(1, 0, 2).reshape(-1)  # (y, x, z) -> (x, y, z)
    assert (ours == reference).mean() > 0.995  # points within 1e-3 of a surface may differ


def test_volume_iou_is_none_for_an_open_mesh():
    open_box = unit_cube()
    open_box.update_faces(np.arange(len(open_box.faces)) != 0)
    assert not open_box.is_watertight
    assert m.volume_iou(unit_cube(), open_box) is None
    assert m.compare_meshes(unit_cube(), open_box, m.Protocol(n_points=500))["volume_iou"] is None


def test_bad_meshes_and_settings_are_refused():
    empty = trimesh.Trimesh(vertices=np.zeros((3, 3)), faces=np.zeros((0, 3), dtype=int))
    with pytest.raises(MeshError, match="no faces"):
        m.compare_meshes(unit_cube(), empty)
    with pytest.raises(ValueError, match="thresholds must be positive"):
        m.Protocol(thresholds=(0.1, -1))
    with pytest.raises(ValueError, match="align_yaws"):
        m.Protocol(align_yaws=0)


def test_protocol_is_deterministic():
    a, b = toy("bear"), toy("snowman")
    p = m.Protocol(n_points=2000, iou_resolution=24, align_yaws=4)
    assert m.compare_meshes(a, b, p) == m.compare_meshes(a, b, p)


def test_clip_view_similarity_scores_front_and_ring(monkeypatch):
    from toonlab import zoo

    clip = zoo.load("clip", "ci")
    figure = toy("funko")
    from toonlab.shape3d.render import render

    image = render(figure, size=64)
    scores = m.clip_view_similarity(clip, image, figure, size=64)
    assert set(scores) == {"clip_front", "clip_around"}
    assert scores["clip_front"] == pytest.approx(1.0, abs=1e-4)  # the front view is the input itself
    assert -1 <= scores["clip_around"] <= 1
