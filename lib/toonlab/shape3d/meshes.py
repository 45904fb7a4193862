"""Meshes as trimesh objects: from Shap-E's decoder output, checked, exported atomically."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import trimesh

from toonlab import atomic

EXPORT_FORMATS = ("ply", "glb", "obj")


class MeshError(ValueError):
    """A mesh that cannot be used (no faces, non-finite vertices) or a format we do not write."""


def check_mesh(mesh: trimesh.Trimesh, name: str = "mesh") -> trimesh.Trimesh:
    """Refuse meshes no metric or exporter can use, naming the problem and the fix."""
    if not isinstance(mesh, trimesh.Trimesh):
        raise MeshError(f"{name}: expected a trimesh.Trimesh, got {type(mesh).__name__} "
                        "(load scenes with trimesh.load(path, force='mesh'))")
    if len(mesh.faces) == 0:
        raise MeshError(f"{name} has no faces ({len(mesh.vertices)} vertices): there is no surface to sample "
                        "or export. For a Shap-E output this means the decoded field never crossed zero "
                        "inside the box (an empty reconstruction): record it as a failed object")
    if not np.isfinite(mesh.vertices).all():
        raise MeshError(f"{name} has non-finite vertex coordinates: fix or drop the reconstruction")
    return mesh


def from_shap_e(output: Any) -> trimesh.Trimesh:
    """diffusers' ``MeshDecoderOutput`` (verts, faces, per-vertex R/G/B in [0, 1]) → a coloured trimesh."""
    verts = output.verts.detach().float().cpu().numpy()
    faces = output.faces.detach().cpu().numpy()
    colors = None
    channels = getattr(output, "vertex_channels", None) or {}
    if all(c in channels for c in "RGB") and len(verts):
        rgb = np.stack([channels[c].detach().float().cpu().numpy() for c in "RGB"], axis=1)
        colors = np.concatenate([np.clip(rgb * 255, 0, 255), np.full((len(rgb), 1), 255)], axis=1).astype(np.uint8)
    return trimesh.Trimesh(verts, faces, vertex_colors=colors, process=False)


def export_mesh(mesh: trimesh.Trimesh, path: str | Path) -> Path:
    """Write ``mesh`` to ``path`` in the format its suffix names (.ply, .glb, .obj), atomically."""
    path = Path(path)
    fmt = path.suffix.lower().lstrip(".")
    if fmt not in EXPORT_FORMATS:
        raise MeshError(f"cannot export a mesh to {path.name!r}: unknown format {fmt!r}; "
                        f"use one of {', '.join('.' + f for f in EXPORT_FORMATS)}")
    check_mesh(mesh, path.name)
    data = mesh.export(file_type=fmt)
    if isinstance(data, str):
        data = data.encode()
    return atomic.write_bytes(path, data)


def load_mesh(path: str | Path) -> trimesh.Trimesh:
    """A mesh file (any format trimesh reads; scenes are merged into one mesh), checked."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"mesh file {path} does not exist")
    return check_mesh(trimesh.load(path, force="mesh", process=False), path.name)
