"""DINO ViT-S/16 (timm ``vit_small_patch16_224.dino``) for the DreamBooth "DINO" metric.

``full``/``gpu`` load the self-supervised DINO weights from the Hugging Face cache (or a file named by
``TOONLAB_DINO_WEIGHTS``); ``ci`` builds a tiny random ViT of the same timm family: same class, patch size,
input size, CLS-token pooling and preprocessing config, far fewer channels and blocks. The forward pass
returns the [CLS] embedding (``num_classes=0``), which is what the DreamBooth paper compares.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from toonlab.params import PROFILES
from toonlab.zoo.errors import WeightsMissingError

DINO_MODEL = "vit_small_patch16_224.dino"
DINO_HUB_ID = "timm/vit_small_patch16_224.dino"
WEIGHTS_ENV = "TOONLAB_DINO_WEIGHTS"


@dataclass(frozen=True)
class TinyDinoConfig:
    """A ViT-S/16 with the width and depth cut down; input size and patching stay the real ones."""

    embed_dim: int = 48
    depth: int = 2
    num_heads: int = 3
    mlp_ratio: float = 2.0


def build_dino(profile: str, device: str | torch.device = "cpu", seed: int = 0,
               tiny: TinyDinoConfig = TinyDinoConfig()) -> nn.Module:
    """The DINO feature extractor for ``profile``, in eval mode, tagged with ``toonlab_weights``.

    Use ``timm.data.resolve_data_config(model=...)`` + ``timm.data.create_transform`` for its preprocessing
    (bicubic resize, centre crop 224 at crop_pct 0.9, ImageNet mean/std): identical in every profile.
    """
    import timm

    if profile not in PROFILES:
        raise ValueError(f"unknown profile {profile!r}; choose one of {list(PROFILES)}")
    if profile == "ci":
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            model = timm.create_model(DINO_MODEL, pretrained=False, num_classes=0, embed_dim=tiny.embed_dim,
                                      depth=tiny.depth, num_heads=tiny.num_heads, mlp_ratio=tiny.mlp_ratio)
        model.toonlab_weights = f"tiny random ViT ({tiny.depth}x{tiny.embed_dim}) seed={seed}"
    else:
        weights = dino_weights_file()
        model = timm.create_model(DINO_MODEL, pretrained=True, num_classes=0,
                                  pretrained_cfg_overlay={"file": str(weights)})
        model.toonlab_weights = DINO_MODEL
    return model.eval().to(device)


def dino_weights_file() -> Path:
    """The local DINO safetensors file: ``$TOONLAB_DINO_WEIGHTS``, else the HF cache (downloading if possible)."""
    override = os.environ.get(WEIGHTS_ENV)
    if override:
        path = Path(override)
        if not path.is_file():
            raise WeightsMissingError(f"{WEIGHTS_ENV}={override} does not name a file; point it at the "
                                      f"model.safetensors of {DINO_HUB_ID}, or unset it to use the HF cache")
        return path
    from toonlab.zoo.hub import hf_snapshot

    folder = hf_snapshot(DINO_HUB_ID, allow_patterns=["*.json", "*.safetensors"], what="DINO ViT-S/16")
    path = folder / "model.safetensors"
    if not path.is_file():
        raise WeightsMissingError(f"the cached snapshot of {DINO_HUB_ID} at {folder} has no model.safetensors; "
                                  f"run `huggingface-cli download {DINO_HUB_ID} model.safetensors config.json`")
    return path
