"""The offline ground-truth test bed: toy-like figures (:mod:`toys`) rendered to input images.

Each case has the true mesh, a clean input (the figure rendered from the front on white, as Shap-E expects)
and a "photo" input: the same render, smaller and off-centre, on a wall-and-table background — what a user
photographs — with its true silhouette, so background removal is measured against a known mask.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import trimesh
from PIL import Image

from toonlab.shape3d.render import INPUT_CAMERA, render
from toonlab.shape3d.toys import TOYS, toy


@dataclass
class Case:
    name: str
    mesh: trimesh.Trimesh
    clean: Image.Image  # centred on white
    photo: Image.Image  # off-centre on a background
    photo_mask: np.ndarray  # the figure's true silhouette in ``photo``


def background(size: int, seed: int) -> np.ndarray:
    """A wall (vertical gradient) above a table (a darker band with grain), colours drawn from ``seed``."""
    rng = np.random.default_rng(seed)
    wall, table = rng.uniform(150, 230, 3), rng.uniform(70, 140, 3)
    t = np.linspace(0, 1, size)[:, None, None]
    image = np.broadcast_to(wall * (1 - 0.25 * t), (size, size, 3)).copy()
    horizon = int(size * rng.uniform(0.6, 0.75))
    image[horizon:] = table + rng.normal(0, 6, (size - horizon, size, 3))
    return np.clip(image, 0, 255)


def photo(picture: Image.Image, mask: np.ndarray, size: int, seed: int, scale: float = 0.6
          ) -> tuple[Image.Image, np.ndarray]:
    """Paste the figure (its mask) at ``scale`` of ``size`` with a random offset onto :func:`background`."""
    rng = np.random.default_rng(seed)
    rows, cols = np.nonzero(mask)
    box = (cols.min(), rows.min(), cols.max() + 1, rows.max() + 1)
    figure, silhouette = picture.crop(box), Image.fromarray(mask).crop(box)
    factor = scale * size / max(figure.size)
    new = (max(1, round(figure.width * factor)), max(1, round(figure.height * factor)))
    figure, silhouette = figure.resize(new, Image.LANCZOS), silhouette.resize(new, Image.NEAREST)
    x = int(rng.integers(0, size - new[0] + 1))
    y = int(rng.integers(0, size - new[1] + 1))
    canvas = Image.fromarray(background(size, seed).astype(np.uint8))
    canvas.paste(figure, (x, y), silhouette)
    full_mask = np.zeros((size, size), dtype=bool)
    full_mask[y:y + new[1], x:x + new[0]] = np.asarray(silhouette)
    return canvas, full_mask


def build(names: list[str] | tuple[str, ...] = tuple(TOYS), size: int = 256, seed: int = 0) -> list[Case]:
    """One case per toy name, deterministic for ``seed``."""
    cases = []
    for index, name in enumerate(names):
        mesh = toy(name)
        clean, mask = render(mesh, INPUT_CAMERA, size, return_mask=True)
        scene, scene_mask = photo(clean, mask, size, seed + index)
        cases.append(Case(name, mesh, clean, scene, scene_mask))
    return cases
