"""CLIP as a differentiable encoder of image tensors (and of texts), for mapper inputs and CLIP losses.

:class:`toonlab.features.clip.ClipExtractor` embeds images for metrics under ``no_grad``; a CLIP loss
needs the gradient of the embedding with respect to the generated image, so this wrapper replays the same
tensor preprocessing (resize the shorter side, centre crop, CLIP mean/std) and calls ``encode_image``
with autograd on. The CLIP weights themselves stay frozen.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch

from toonlab.features.clip import ClipExtractor


class DifferentiableClip:
    """A :class:`~toonlab.zoo.clip.ClipBundle` (``zoo.load("clip", profile)``) as frozen encoders."""

    def __init__(self, bundle: Any, device: str | torch.device = "cpu") -> None:
        self.extractor = ClipExtractor(bundle, device=device)
        self.model = self.extractor.model.requires_grad_(False)
        self.tokenizer = bundle.tokenizer
        self.name = bundle.name
        self.embed_dim = self.extractor.dim

    def encode_image(self, images: torch.Tensor) -> torch.Tensor:
        """Unnormalised image embeddings of images in [0, 1]; differentiable in ``images``."""
        return self.model.encode_image(self.extractor.preprocess(images)).float()

    @torch.no_grad()
    def encode_text(self, texts: Sequence[str]) -> torch.Tensor:
        tokens = self.tokenizer(list(texts)).to(self.extractor.device)
        return self.model.encode_text(tokens).float()
