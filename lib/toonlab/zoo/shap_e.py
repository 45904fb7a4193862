"""Shap-E image-to-3D (``ShapEImg2ImgPipeline``): ``openai/shap-e-img2img`` in ``full``, a tiny random
pipeline of the same classes in ``ci``.

The tiny pipeline follows the way diffusers tests Shap-E (a one-layer ``PriorTransformer``, a small
``CLIPVisionModel``, a ``ShapERenderer`` whose NeRF/STF MLP is 8 wide) with the real scheduler settings.
Shap-E's latent *is* the weights of that MLP: ``num_embeddings`` rows of ``embedding_dim`` numbers, split by
the renderer's ``param_shapes`` into four weight matrices, so ``num_embeddings == 4 * d_hidden`` and
``embedding_dim == d_latent`` must hold (:class:`TinyShapEConfig` derives them).

One thing a model built from a config lacks: the marching-cubes lookup table of ``MeshDecoder`` is a buffer
stored in the checkpoint (``cases``/``masks``), zero-initialised by the constructor, so a tiny pipeline's
``decode_to_mesh`` would return a mesh without faces. :func:`marching_cubes_table` derives the same table
an equivalent table (closed, outward-facing triangles; not necessarily the checkpoint's triangle for triangle)
from scikit-image's Lorensen marching cubes (one cube per corner sign pattern) and the tiny builder installs
it, so ``ci`` runs diffusers' own mesh decoder end to end. The table is tested against analytic SDFs and
random noise fields (closed and outward on every corner pattern).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import torch

from toonlab.zoo.hub import hf_snapshot

SHAP_E_IMG2IMG = "openai/shap-e-img2img"
SHAP_E_FILES = ["model_index.json", "scheduler/*.json", "image_processor/*.json", "prior/config.json",
                "prior/diffusion_pytorch_model.safetensors", "image_encoder/config.json",
                "image_encoder/model.safetensors", "shap_e_renderer/config.json",
                "shap_e_renderer/diffusion_pytorch_model.safetensors"]

# Midpoints of a cube's 12 edges in the order diffusers' ``_create_flat_edge_indices`` numbers them, in
# units of the grid step from the cube's (0, 0, 0) corner: four x-edges at (y, z) = (0,0), (1,0), (0,1),
# (1,1), then four y-edges at (x, z) and four z-edges at (x, y) in the same order.
EDGE_MIDPOINTS = np.array(
    [(0.5, y, z) for z in (0, 1) for y in (0, 1)]
    + [(x, 0.5, z) for z in (0, 1) for x in (0, 1)]
    + [(x, y, 0.5) for y in (0, 1) for x in (0, 1)], dtype=np.float64)
MAX_TRIANGLES = 5  # the classic (Lorensen) table never needs more than 5 triangles per cube


@lru_cache(maxsize=1)
def marching_cubes_table() -> tuple[torch.Tensor, torch.Tensor]:
    """``(cases [256, 5, 3], masks [256, 5])`` in the layout of diffusers' ``MeshDecoder``.

    Case ``c`` has corner ``(dx, dy, dz)`` inside (field > 0) when bit ``dx + 2 dy + 4 dz`` is set (the order
    ``MeshDecoder.forward`` builds its bitmasks in). For each case we run scikit-image's Lorensen marching
    cubes on that single cube with values ±1, so every vertex lands exactly on an edge midpoint, and read
    which edges each triangle uses. scikit-image orients triangles for "inside = higher values"
    (``gradient_direction="descent"``), which is Shap-E's convention, so the mesh's normals point outwards.
    """
    from skimage.measure import marching_cubes

    cases = torch.zeros(256, MAX_TRIANGLES, 3, dtype=torch.long)
    masks = torch.zeros(256, MAX_TRIANGLES, dtype=torch.bool)
    corners = [(dx, dy, dz) for dz in (0, 1) for dy in (0, 1) for dx in (0, 1)]
    for case in range(1, 255):  # 0 and 255: all outside / all inside, no surface
        volume = np.full((2, 2, 2), -1.0)
        for bit, (dx, dy, dz) in enumerate(corners):
            if case >> bit & 1:
                volume[dx, dy, dz] = 1.0
        verts, faces, _, _ = marching_cubes(volume, level=0.0, method="lorensen")
        distances = np.linalg.norm(verts[:, None, :] - EDGE_MIDPOINTS[None], axis=-1)
        edge_of_vertex = distances.argmin(axis=1)
        assert np.allclose(distances.min(axis=1), 0.0, atol=1e-6), "a vertex off the edge midpoints"
        assert len(faces) <= MAX_TRIANGLES
        # scikit-image winds its triangles the other way round in this axis order: reversed here, so the
        # normals point outwards (a decoded sphere has positive volume; tested).
        cases[case, :len(faces)] = torch.from_numpy(edge_of_vertex[faces[:, ::-1]].copy())
        masks[case, :len(faces)] = True
    return cases, masks


def install_marching_cubes_table(renderer) -> None:
    """Give a renderer built from a config the lookup table its checkpoint would have carried."""
    cases, masks = marching_cubes_table()
    decoder = renderer.mesh_decoder
    decoder.cases.copy_(cases.to(decoder.cases.device))
    decoder.masks.copy_(masks.to(decoder.masks.device))


def has_marching_cubes_table(renderer) -> bool:
    return bool(renderer.mesh_decoder.masks.any())


POSENC_DEGREES = 15  # diffusers' encode_position: x, then sin and cos of x * 2^i for i < 15 (3 + 90 = 93)


@torch.no_grad()
def keep_low_frequencies(renderer, degrees: int = 2) -> None:
    """Let a random renderer's first layer see only the point and its ``degrees`` lowest NeRF frequencies.

    With random weights on all 15 octaves the field is noise at the grid's resolution and the tiny model's
    mesh has ~10^5 faces; a smoke model needs a blob. The first layer's weights come from the latent
    through a LayerNorm over its 93 input channels, so zeroing that norm's gain and bias for the high
    octaves removes them for every latent.
    """
    first = next(proj for proj in renderer.params_proj.projections.values() if proj.channels == 93)
    keep = torch.zeros(93, dtype=torch.bool)
    keep[:3] = True  # the raw coordinates
    for part in range(2):  # the sin block, then the cos block: octave-major, 3 coordinates each
        start = 3 + part * 3 * POSENC_DEGREES
        keep[start:start + 3 * degrees] = True
    first.norm.weight[~keep] = 0.0
    first.norm.bias[~keep] = 0.0
    first.proj.bias.view(first.vectors, first.channels)[:, ~keep] = 0.0


@torch.no_grad()
def center_fields(renderer, seed: int = 0, grid_size: int = 24) -> tuple[float, float, float]:
    """Shift a random renderer's SDF and density outputs so a random latent's fields cross zero in the box.

    A randomly initialised renderer puts the whole box outside the object (its SDF head is negative
    everywhere) and gives it zero NeRF density, so a tiny pipeline would mesh nothing and render blank
    frames. Setting each of the three output biases (SDF, coarse and fine density) to minus the median of
    its pre-activation for a random latent (clipped to [-1, 1] as the prior's output is) puts half the box
    inside: the tiny model then yields blobs — smoke shapes that mean nothing, but that exercise the mesh
    and turntable paths. Returns the three shifts.
    """
    from diffusers.pipelines.shap_e.renderer import volume_query_points

    generator = torch.Generator().manual_seed(seed)
    rows = sum(shape[0] for shape in renderer.config.param_shapes)
    latent = torch.randn(1, rows, renderer.config.d_latent, generator=generator).clamp(-1, 1)
    projected = renderer.params_proj(latent.to(renderer.device))
    for name, param in renderer.mlp.state_dict().items():
        if f"nerstf.{name}" in projected:
            param.copy_(projected[f"nerstf.{name}"].squeeze(0))
    last = renderer.mlp.mlp[-1]
    captured = []
    hook = last.register_forward_hook(lambda module, args, output: captured.append(output))
    try:
        points = volume_query_points(renderer.volume, grid_size)[None].to(renderer.device)
        renderer.mlp(position=points, direction=None, ts=None, nerf_level="fine", rendering_mode="stf")
    finally:
        hook.remove()
    # outputs 0, 1, 2 are sdf, density_coarse, density_fine (MLPNeRSTFModel.map_indices_to_keys)
    shifts = -captured[0].reshape(-1, captured[0].shape[-1])[:, :3].median(dim=0).values
    last.bias[:3] += shifts
    return tuple(float(v) for v in shifts)


@dataclass(frozen=True)
class TinyShapEConfig:
    """A Shap-E img2img pipeline small enough for CPU tests (the real one: 1024 × 1024 latent, 24 layers,
    ViT-L/14 image encoder at 224 px, 256-wide renderer MLP)."""

    d_hidden: int = 8  # renderer MLP width (real: 256)
    embedding_dim: int = 16  # latent row width = renderer d_latent (real: 1024)
    prior_heads: int = 2
    prior_head_dim: int = 16
    prior_layers: int = 1
    vision_width: int = 16
    vision_layers: int = 2
    vision_heads: int = 4
    image_size: int = 32  # the image encoder's input size (real: 224)
    patch_size: int = 4

    @property
    def num_embeddings(self) -> int:
        return 4 * self.d_hidden  # four MLP layers of d_hidden output rows each

    @property
    def param_shapes(self) -> tuple[tuple[int, int], ...]:
        posenc = 93  # the renderer's NeRF positional encoding of a 3-D point (fixed by diffusers)
        return ((self.d_hidden, posenc),) + ((self.d_hidden, self.d_hidden),) * 3


def shap_e_scheduler():
    """The scheduler of ``openai/shap-e-img2img`` (Heun, Karras sigmas, predicting the clean latent)."""
    from diffusers import HeunDiscreteScheduler

    return HeunDiscreteScheduler(beta_schedule="exp", num_train_timesteps=1024, prediction_type="sample",
                                 use_karras_sigmas=True, clip_sample=True, clip_sample_range=1.0)


# The sizes of openai/shap-e-img2img (its prior: 24 layers of 16 × 64 heads over 1024 latent rows of 1024;
# its image encoder: CLIP ViT-L/14 at 224 px; its renderer: a 256-wide MLP), for measuring what a lift
# costs at real size with random weights where the checkpoint is absent. Cost does not depend on weights,
# except through the number of faces the random field yields (a blob here, as in the tiny model).
REAL_SIZE = TinyShapEConfig(d_hidden=256, embedding_dim=1024, prior_heads=16, prior_head_dim=64, prior_layers=24,
                            vision_width=1024, vision_layers=24, vision_heads=16, image_size=224, patch_size=14)


def tiny_shap_e_img2img(config: TinyShapEConfig = TinyShapEConfig(), seed: int = 0,
                        device: str | torch.device = "cpu"):
    """A randomly initialised ``ShapEImg2ImgPipeline`` of ``config``'s size (tiny by default, or
    :data:`REAL_SIZE`), with the marching-cubes table installed and its fields centred."""
    from diffusers import PriorTransformer, ShapEImg2ImgPipeline
    from diffusers.pipelines.shap_e import ShapERenderer
    from transformers import CLIPImageProcessor, CLIPVisionConfig, CLIPVisionModel

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        prior = PriorTransformer(
            num_attention_heads=config.prior_heads, attention_head_dim=config.prior_head_dim,
            num_layers=config.prior_layers, embedding_dim=config.embedding_dim,
            num_embeddings=config.num_embeddings, additional_embeddings=0, time_embed_act_fn="gelu",
            norm_in_type="layer", embedding_proj_norm_type="layer", encoder_hid_proj_type=None,
            added_emb_type=None, embedding_proj_dim=config.vision_width,
            clip_embed_dim=2 * config.embedding_dim)  # mean and variance per latent entry
        image_encoder = CLIPVisionModel(CLIPVisionConfig(
            hidden_size=config.vision_width, image_size=config.image_size, patch_size=config.patch_size,
            projection_dim=config.vision_width, intermediate_size=4 * config.vision_width,
            num_attention_heads=config.vision_heads, num_channels=3, num_hidden_layers=config.vision_layers))
        renderer = ShapERenderer(param_shapes=config.param_shapes, d_latent=config.embedding_dim,
                                 d_hidden=config.d_hidden, n_output=12, background=(255.0, 255.0, 255.0))
    install_marching_cubes_table(renderer)
    keep_low_frequencies(renderer)
    center_fields(renderer, seed)
    processor = CLIPImageProcessor(crop_size=config.image_size, size=config.image_size, do_center_crop=True,
                                   do_normalize=True, do_resize=True, resample=3,
                                   image_mean=[0.48145466, 0.4578275, 0.40821073],
                                   image_std=[0.26862954, 0.26130258, 0.27577711])
    pipe = ShapEImg2ImgPipeline(prior=prior, image_encoder=image_encoder, image_processor=processor,
                                scheduler=shap_e_scheduler(), shap_e_renderer=renderer)
    pipe.set_progress_bar_config(disable=True)
    return pipe.to(device)


def pretrained_shap_e_img2img(device: str | torch.device = "cpu", dtype: torch.dtype | None = None):
    """``openai/shap-e-img2img`` from the local cache (or the hub when it can be reached)."""
    from diffusers import ShapEImg2ImgPipeline

    path = hf_snapshot(SHAP_E_IMG2IMG, allow_patterns=SHAP_E_FILES, what="Shap-E img2img")
    pipe = ShapEImg2ImgPipeline.from_pretrained(path, torch_dtype=dtype or torch.float32, use_safetensors=True)
    if not has_marching_cubes_table(pipe.shap_e_renderer):
        raise RuntimeError(f"{path}: the renderer checkpoint carries no marching-cubes table; re-download "
                           f"{SHAP_E_IMG2IMG} (its shap_e_renderer weights are incomplete)")
    return pipe.to(device)
