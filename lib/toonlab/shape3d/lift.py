"""One image → Shap-E latent → mesh and turntable frames, deterministic per seed.

``ShapEImg2ImgPipeline`` decodes either a mesh (``output_type="mesh"``) or frames (``"pil"``), each call
running the prior again. Here the prior runs once (``output_type="latent"``) and the renderer decodes that
latent twice — exactly the calls the pipeline makes for the two output types — so a mesh and its turntable
come from the same latent at the cost of one prior.

Determinism: the prior's noise comes from a CPU ``torch.Generator`` seeded per object (the same latents
on CPU and GPU), and the renderer's stratified/importance ray samplers, which draw from the global RNG, run
inside a forked RNG seeded with the same seed.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import trimesh
from PIL import Image

from toonlab.shape3d.meshes import MeshError, check_mesh, from_shap_e
from toonlab.shape3d.preprocess import check_rgb

PAN_CAMERAS = 20  # diffusers' create_pan_cameras: 20 views around the object
RAY_BATCH = 4096  # decode_to_image renders rays in whole batches of 4096 and drops any remainder


@dataclass(frozen=True)
class LiftSettings:
    """Shap-E sampling and decoding. Defaults are diffusers' documented img2img example (64 Heun steps,
    guidance 3) and the renderer's own defaults (128³ SDF grid, 64 coarse + 128 fine ray samples)."""

    steps: int = 64
    guidance: float = 3.0
    grid_size: int = 128
    frame_size: int = 64
    n_coarse: int = 64
    n_fine: int = 128
    turntable: bool = True

    def __post_init__(self) -> None:
        if self.steps < 1:
            raise ValueError(f"steps must be at least 1, got {self.steps}")
        if self.grid_size < 8:
            raise ValueError(f"grid_size must be at least 8, got {self.grid_size}")
        if (PAN_CAMERAS * self.frame_size ** 2) % RAY_BATCH:
            raise ValueError(f"frame_size {self.frame_size}: Shap-E's renderer draws 20 views in whole batches of "
                             f"{RAY_BATCH} rays, so 20 × frame_size² must divide by {RAY_BATCH}: use a multiple "
                             "of 32 (32, 64, 128, 256)")


@torch.no_grad()
def weights_digest(pipe) -> str:
    """A short digest of the pipeline's weights (names, shapes and per-tensor sums of the prior, image encoder
    and renderer, buffers included): a batch folder keyed by it is never resumed with different weights,
    e.g. a tiny model whose construction changed under the same description."""
    import hashlib

    # every decode overwrites the renderer MLP's first layers with the latent's projection: not weights
    per_latent = {"mlp." + name.removeprefix("nerstf.") for name in pipe.shap_e_renderer.config.param_names}
    digest = hashlib.sha256()
    for part in ("prior", "image_encoder", "shap_e_renderer"):
        for name, tensor in getattr(pipe, part).state_dict().items():
            if part == "shap_e_renderer" and name in per_latent:
                continue
            digest.update(f"{part}.{name}{tuple(tensor.shape)}{float(tensor.double().sum()):.10e}".encode())
    return digest.hexdigest()[:12]


@dataclass
class Lifted:
    mesh: trimesh.Trimesh
    frames: list[Image.Image] | None
    seed: int


@torch.no_grad()
def lift(pipe, image: Image.Image, seed: int, settings: LiftSettings = LiftSettings()) -> Lifted:
    """Lift one RGB image with Shap-E img2img; raises :class:`MeshError` for an empty reconstruction."""
    image = check_rgb(image)
    device = pipe._execution_device
    generator = torch.Generator("cpu").manual_seed(seed)
    latents = pipe(image, num_inference_steps=settings.steps, guidance_scale=settings.guidance,
                   generator=generator, output_type="latent").images
    latent = latents[0][None]
    renderer = pipe.shap_e_renderer
    devices = [device] if torch.device(device).type == "cuda" else []
    with torch.random.fork_rng(devices=devices):
        torch.manual_seed(seed)
        try:
            decoded = renderer.decode_to_mesh(latent, device, grid_size=settings.grid_size)
        except ValueError as error:  # diffusers cannot colour a mesh without vertices
            if "non-empty list" not in str(error):
                raise
            raise MeshError("Shap-E produced an empty reconstruction (the decoded SDF never crosses zero in the "
                            "box): the mesh has no faces") from error
        mesh = check_mesh(from_shap_e(decoded), "Shap-E mesh")
        frames = None
        if settings.turntable:
            views = renderer.decode_to_image(latent, device, size=settings.frame_size,
                                             n_coarse_samples=settings.n_coarse, n_fine_samples=settings.n_fine)
            frames = pipe.numpy_to_pil(views.float().clamp(0, 1).cpu().numpy())
            # diffusers' pan cameras run over linspace(0, 2π, 20): the last frame repeats the first, which
            # would stutter in a looping GIF
            frames = frames[:-1]
    return Lifted(mesh, frames, seed)
