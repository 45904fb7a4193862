"""Toy-like figures built from trimesh primitives: the offline ground truth of the 3-D test bed.

Each figure is a few closed parts (head, body, limbs, face details) with a colour each, z up, facing −y,
standing on z = 0 — the proportions of a vinyl collectible (a head as wide as the body, short limbs).
Parts overlap, as they would in a single moulded figure; the mesh is their concatenation, so every part is
watertight and a point is inside the figure when it is inside any part (what the volume IoU uses).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import trimesh

SKIN, SHIRT, TROUSERS, BLACK, WHITE = (238, 196, 160), (200, 40, 50), (40, 60, 140), (20, 20, 20), (245, 245, 245)
FUR, SNOUT, METAL, ACCENT, ORANGE = (150, 95, 50), (225, 190, 150), (170, 175, 185), (60, 160, 220), (240, 130, 20)


def _part(mesh: trimesh.Trimesh, color: tuple[int, int, int], at: tuple[float, float, float]) -> trimesh.Trimesh:
    mesh.apply_translation(at)
    mesh.visual.face_colors = np.array([*color, 255], dtype=np.uint8)
    return mesh


def _sphere(radius: float, color, at, subdivisions: int = 3) -> trimesh.Trimesh:
    return _part(trimesh.creation.icosphere(subdivisions=subdivisions, radius=radius), color, at)


def _box(extents, color, at) -> trimesh.Trimesh:
    return _part(trimesh.creation.box(extents=extents), color, at)


def _capsule(radius: float, height: float, color, at) -> trimesh.Trimesh:
    return _part(trimesh.creation.capsule(height=height, radius=radius, count=[12, 12]), color, at)


def _cylinder(radius: float, height: float, color, at) -> trimesh.Trimesh:
    return _part(trimesh.creation.cylinder(radius=radius, height=height, sections=20), color, at)


def funko() -> list[trimesh.Trimesh]:
    """Big round head, small body, stubby arms and legs, two black eyes."""
    return [_sphere(0.42, SKIN, (0, 0, 1.05)), _box((0.55, 0.36, 0.5), SHIRT, (0, 0, 0.55)),
            _capsule(0.09, 0.3, SHIRT, (-0.36, 0, 0.6)), _capsule(0.09, 0.3, SHIRT, (0.36, 0, 0.6)),
            _cylinder(0.11, 0.3, TROUSERS, (-0.14, 0, 0.15)), _cylinder(0.11, 0.3, TROUSERS, (0.14, 0, 0.15)),
            _sphere(0.06, BLACK, (-0.15, -0.37, 1.08), 2), _sphere(0.06, BLACK, (0.15, -0.37, 1.08), 2)]


def robot() -> list[trimesh.Trimesh]:
    """Boxy head and body, cylinder arms, an antenna, a visor on the front."""
    return [_box((0.6, 0.5, 0.45), METAL, (0, 0, 1.05)), _box((0.7, 0.45, 0.6), ACCENT, (0, 0, 0.5)),
            _cylinder(0.08, 0.5, METAL, (-0.45, 0, 0.5)), _cylinder(0.08, 0.5, METAL, (0.45, 0, 0.5)),
            _cylinder(0.03, 0.25, METAL, (0, 0, 1.4)), _sphere(0.07, ORANGE, (0, 0, 1.55), 2),
            _box((0.45, 0.06, 0.12), BLACK, (0, -0.26, 1.08))]


def bear() -> list[trimesh.Trimesh]:
    """A sitting plush bear: round body and head, ears, a snout."""
    return [_sphere(0.45, FUR, (0, 0, 0.45)), _sphere(0.35, FUR, (0, 0, 1.1)),
            _sphere(0.12, FUR, (-0.27, 0, 1.38), 2), _sphere(0.12, FUR, (0.27, 0, 1.38), 2),
            _sphere(0.14, SNOUT, (0, -0.3, 1.03), 2), _sphere(0.05, BLACK, (0, -0.43, 1.07), 2),
            _capsule(0.1, 0.25, FUR, (-0.42, -0.1, 0.55)), _capsule(0.1, 0.25, FUR, (0.42, -0.1, 0.55))]


def snowman() -> list[trimesh.Trimesh]:
    """Three stacked snowballs, a hat and a carrot nose."""
    nose = trimesh.creation.cone(radius=0.05, height=0.22, sections=16)
    nose.apply_transform(trimesh.transformations.rotation_matrix(np.pi / 2, [1, 0, 0]))
    return [_sphere(0.42, WHITE, (0, 0, 0.42)), _sphere(0.3, WHITE, (0, 0, 1.0)), _sphere(0.22, WHITE, (0, 0, 1.42)),
            _cylinder(0.2, 0.25, BLACK, (0, 0, 1.72)), _part(nose, ORANGE, (0, -0.2, 1.42))]


TOYS: dict[str, Callable[[], list[trimesh.Trimesh]]] = {"funko": funko, "robot": robot, "bear": bear,
                                                         "snowman": snowman}


def toy_parts(name: str) -> list[trimesh.Trimesh]:
    if name not in TOYS:
        raise KeyError(f"unknown toy {name!r}; the test bed has {sorted(TOYS)}")
    return TOYS[name]()


def toy(name: str) -> trimesh.Trimesh:
    """The figure as one coloured mesh (its parts concatenated)."""
    return trimesh.util.concatenate(toy_parts(name))
