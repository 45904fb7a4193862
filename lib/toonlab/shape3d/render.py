"""A small numpy z-buffer rasteriser for meshes: the test bed's input images, the evaluation views and
turntables of any mesh.

Why our own: pyrender needs an OpenGL context (EGL/OSMesa) that CPU build machines lack, and trimesh's
ray casting without Embree is slow for 10^5-face Shap-E meshes. A flat-shaded z-buffer is all the protocol
needs (the same renderer for the ground truth and the reconstruction, so neither is favoured), and it is
vectorised: faces are grouped by the size of their pixel bounding box, and each group is tested against
its candidate pixels in one array operation.

Conventions: z is up (Shap-E's too), figures face −y; azimuth 0 looks at the front from −y, positive
azimuth orbits counter-clockwise seen from above. Meshes are normalised to the unit cube before rendering
(their bounding box's longest side is 1, centred at the origin), so every mesh fills the frame alike.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np
import trimesh
from PIL import Image

from toonlab import atomic

BACKGROUND = (255, 255, 255)  # the source's toys sit on plain white
DEFAULT_GREY = np.array([180, 180, 180], dtype=np.float64)


@dataclass(frozen=True)
class Camera:
    azimuth_deg: float = 0.0
    elevation_deg: float = 10.0
    distance: float = 2.4
    fov_deg: float = 36.0

    def basis(self) -> tuple[np.ndarray, np.ndarray]:
        """The eye position and the world → camera rotation (rows: right, up, forward)."""
        az, el = math.radians(self.azimuth_deg), math.radians(self.elevation_deg)
        eye = self.distance * np.array([math.sin(az) * math.cos(el), -math.cos(az) * math.cos(el), math.sin(el)])
        forward = -eye / np.linalg.norm(eye)
        right = np.cross(forward, [0.0, 0.0, 1.0])
        right /= np.linalg.norm(right)
        up = np.cross(right, forward)
        return eye, np.stack([right, up, forward])


INPUT_CAMERA = Camera(0.0, 10.0)  # the test bed's input view, and the "front" evaluation view
AROUND_ELEVATION = 20.0


def evaluation_cameras(n_around: int = 8) -> list[Camera]:
    """The protocol's views: the front (the input's camera) then ``n_around`` azimuths evenly around."""
    return [INPUT_CAMERA] + [Camera(360.0 * i / n_around, AROUND_ELEVATION) for i in range(n_around)]


def normalize_to_unit_cube(mesh: trimesh.Trimesh) -> trimesh.Trimesh:
    """A copy centred on its bounding box, scaled so the longest side is 1."""
    extent = float(np.max(mesh.extents))
    if not extent > 0:
        raise ValueError("the mesh is a point (zero extent): nothing to normalise or render")
    out = mesh.copy()
    out.apply_translation(-mesh.bounds.mean(axis=0))
    out.apply_scale(1.0 / extent)
    return out


def face_colors(mesh: trimesh.Trimesh) -> np.ndarray:
    """RGB per face in [0, 255]: the mesh's face or vertex colours, grey when it has none."""
    try:
        colors = np.asarray(mesh.visual.face_colors, dtype=np.float64)[:, :3]
        if len(colors) == len(mesh.faces):
            return colors
    except (AttributeError, ValueError, IndexError):  # textured visuals without per-face colours
        pass
    return np.tile(DEFAULT_GREY, (len(mesh.faces), 1))


def covered_pixels(xy: np.ndarray, depth: np.ndarray, width: int, height: int
                   ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Every (pixel, face, interpolated depth) where a pixel centre lies inside a triangle of ``xy``
    [F, 3, 2] (pixel units); pixels are numbered row-major. Triangles of either winding are covered."""
    lo = np.floor(xy.min(axis=1)).astype(np.int64)
    hi = np.ceil(xy.max(axis=1)).astype(np.int64)
    limit = np.array([width - 1, height - 1])
    lo, hi = np.clip(lo, 0, limit), np.clip(hi, 0, limit)
    (ax, ay), (bx, by), (cx, cy) = xy[:, 0].T, xy[:, 1].T, xy[:, 2].T
    area = (bx - ax) * (cy - ay) - (by - ay) * (cx - ax)
    valid = np.abs(area) > 1e-12
    span = np.maximum(hi - lo + 1, 1).max(axis=1)
    pixels, faces, depths = [np.zeros(0, np.int64)], [np.zeros(0, np.int64)], [np.zeros(0)]
    for k in np.unique(span[valid]):  # faces grouped by bounding-box size: one array operation per group
        idx = np.nonzero(valid & (span == k))[0]
        oy, ox = np.divmod(np.arange(k * k), k)
        px = lo[idx, 0, None] + ox[None]  # [n, k*k] candidate pixel columns
        py = lo[idx, 1, None] + oy[None]
        inside_box = (px <= hi[idx, 0, None]) & (py <= hi[idx, 1, None])
        sx, sy = px + 0.5, py + 0.5  # pixel centres
        a = area[idx, None]
        # barycentric weights from the edge functions, divided by the signed area (so either winding works)
        w0 = ((bx[idx, None] - sx) * (cy[idx, None] - sy) - (by[idx, None] - sy) * (cx[idx, None] - sx)) / a
        w1 = ((cx[idx, None] - sx) * (ay[idx, None] - sy) - (cy[idx, None] - sy) * (ax[idx, None] - sx)) / a
        w2 = 1.0 - w0 - w1
        inside = inside_box & (w0 >= 0) & (w1 >= 0) & (w2 >= 0)
        d = w0 * depth[idx, 0, None] + w1 * depth[idx, 1, None] + w2 * depth[idx, 2, None]
        rows, cols = np.nonzero(inside)
        pixels.append(py[rows, cols] * width + px[rows, cols])
        faces.append(idx[rows])
        depths.append(d[rows, cols])
    return np.concatenate(pixels), np.concatenate(faces), np.concatenate(depths)


def _rasterize(xy: np.ndarray, depth: np.ndarray, size: int) -> np.ndarray:
    """The visible face at each pixel centre (-1 for background): the nearest covering face (z-buffer)."""
    in_front = depth.min(axis=1) > 1e-3
    pixel, face, dep = covered_pixels(xy[in_front], depth[in_front], size, size)
    face = np.nonzero(in_front)[0][face]
    face_at = np.full(size * size, -1, dtype=np.int64)
    order = np.lexsort((dep, pixel))  # nearest first within each pixel
    first = np.unique(pixel[order], return_index=True)[1]
    face_at[pixel[order][first]] = face[order][first]
    return face_at.reshape(size, size)


def render(mesh: trimesh.Trimesh, camera: Camera = INPUT_CAMERA, size: int = 128, *, normalize: bool = True,
           ambient: float = 0.35, return_mask: bool = False) -> Image.Image | tuple[Image.Image, np.ndarray]:
    """A flat-shaded RGB view of ``mesh`` on white (headlight Lambert shading plus ``ambient``); with
    ``return_mask`` also the boolean silhouette (the test bed's ground-truth segmentation)."""
    if len(mesh.faces) == 0:
        raise ValueError("cannot render a mesh with no faces")
    if normalize:
        mesh = normalize_to_unit_cube(mesh)
    eye, rotation = camera.basis()
    cam = (np.asarray(mesh.vertices, dtype=np.float64) - eye) @ rotation.T  # right, up, depth
    focal = 1.0 / math.tan(math.radians(camera.fov_deg) / 2)
    depth = np.maximum(cam[:, 2], 1e-6)
    x = (cam[:, 0] / depth * focal + 1) * size / 2
    y = (1 - cam[:, 1] / depth * focal) * size / 2
    tri = np.asarray(mesh.faces)
    face_at = _rasterize(np.stack([x, y], axis=1)[tri], cam[:, 2][tri], size)
    normals = np.asarray(mesh.face_normals) @ rotation.T
    light = np.array([0.3, 0.4, -1.0])  # from the camera, a little up and right
    shade = ambient + (1 - ambient) * np.abs(normals @ (light / np.linalg.norm(light)))
    colors = np.clip(face_colors(mesh) * shade[:, None], 0, 255)
    image = np.empty((size * size, 3), dtype=np.uint8)
    image[:] = BACKGROUND
    drawn = face_at.reshape(-1) >= 0
    image[drawn] = colors[face_at.reshape(-1)[drawn]].astype(np.uint8)
    picture = Image.fromarray(image.reshape(size, size, 3))
    return (picture, face_at >= 0) if return_mask else picture


def render_views(mesh: trimesh.Trimesh, cameras: Sequence[Camera], size: int = 128) -> list[Image.Image]:
    mesh = normalize_to_unit_cube(mesh)
    return [render(mesh, camera, size, normalize=False) for camera in cameras]


def turntable(mesh: trimesh.Trimesh, n_frames: int = 20, size: int = 128,
              elevation_deg: float = AROUND_ELEVATION) -> list[Image.Image]:
    return render_views(mesh, [Camera(360.0 * i / n_frames, elevation_deg) for i in range(n_frames)], size)


def save_gif(frames: Sequence[Image.Image], path: str | Path, frame_ms: int = 100) -> Path:
    """An endlessly looping GIF of ``frames``, written atomically."""
    if not frames:
        raise ValueError("no frames to write into a GIF")
    frames = [f.convert("RGB") for f in frames]
    with atomic.atomic_path(path) as tmp:
        frames[0].save(tmp, format="GIF", save_all=True, append_images=frames[1:], duration=frame_ms, loop=0)
    return Path(path)
