"""open_clip image embeddings as clustering features (ToyHollyWood's "unsupervised CLIP" features).

The images arrive as tensors, so open_clip's PIL preprocessing is replayed on tensors: bicubic resize
of the shorter side to the model's input size (antialiased, as PIL does), centre crop, then CLIP's
mean/std normalisation. The features are the raw (un-normalised) image embeddings; each clustering
algorithm standardises or normalises them as it expects (:mod:`toonlab.cluster.preprocess`).
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from open_clip.constants import OPENAI_DATASET_MEAN, OPENAI_DATASET_STD

from toonlab.features.base import FeatureExtractor


class ClipExtractor(FeatureExtractor):
    """``model.encode_image`` of a :class:`~toonlab.zoo.clip.ClipBundle` (from ``zoo.load("clip", ...)``)."""

    def __init__(self, bundle: Any, weights: str | None = None, device: str | torch.device | None = None) -> None:
        self.model = bundle.model.eval()
        self.size = int(bundle.image_size)
        self.dim = int(bundle.embed_dim)
        self.device = torch.device(device) if device is not None else next(self.model.parameters()).device
        self.model.to(self.device)
        self.weights = weights or bundle.name
        mean, std = _normalisation(bundle)
        self.mean = torch.tensor(mean, device=self.device).view(1, 3, 1, 1)
        self.std = torch.tensor(std, device=self.device).view(1, 3, 1, 1)
        self.id = f"clip[{bundle.name}|{self.size}px|mean={tuple(round(m, 4) for m in mean)}]"

    def weights_label(self) -> str:
        return self.weights

    def preprocess(self, images: torch.Tensor) -> torch.Tensor:
        images = images.to(self.device, torch.float32)
        h, w = images.shape[-2:]
        scale = self.size / min(h, w)
        if (h, w) != (self.size, self.size):
            size = (max(self.size, round(h * scale)), max(self.size, round(w * scale)))
            images = F.interpolate(images, size=size, mode="bicubic", antialias=True, align_corners=False)
            top, left = (images.shape[-2] - self.size) // 2, (images.shape[-1] - self.size) // 2
            images = images[..., top:top + self.size, left:left + self.size].clamp(0, 1)
        return (images - self.mean) / self.std

    @torch.no_grad()
    def __call__(self, images: torch.Tensor) -> torch.Tensor:
        return self.model.encode_image(self.preprocess(images))


def _normalisation(bundle: Any) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """The mean/std inside the bundle's own preprocessing (open_clip's Normalize), else CLIP's defaults."""
    for transform in getattr(bundle.preprocess, "transforms", []):
        if hasattr(transform, "mean") and hasattr(transform, "std"):
            return tuple(float(m) for m in transform.mean), tuple(float(s) for s in transform.std)
    return OPENAI_DATASET_MEAN, OPENAI_DATASET_STD


def clip_extractor(role: str, profile: str, device: str = "cpu", seed: int = 0) -> ClipExtractor:
    """The CLIP extractor for a zoo role (``clip``: ViT-L-14, ``clip_b32``: ViT-B-32) in ``profile``."""
    from toonlab import zoo

    kwargs = {"seed": seed} if profile == "ci" else {}
    bundle = zoo.load(role, profile, device=device, **kwargs)
    return ClipExtractor(bundle, weights=zoo.describe(role, profile), device=device)
