"""One scale for CLIP image and text embeddings, the inputs of chapter 06's CSLA mapper.

Layer 3 (networks). CLIP aligns the *directions* of its image and text embeddings, not their lengths: a
text embedding can be several times longer or shorter than an image embedding, so a mapper trained on
raw image embeddings and fed raw text embeddings reads inputs off its training distribution. We
L2-normalise both and rescale to the mean norm of the generator's image embeddings (ours; CelebrityLook's
README does not say what it fed its mapper), at training and at edit time alike, through one wrapper.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
import torch.nn.functional as F


class NormalisedClip:
    """A CLIP encoder whose image and text embeddings are unit vectors times ``scale``. Everything else
    (``tokenizer``, ``name``, ``embed_dim``, ...) is the wrapped encoder's."""

    def __init__(self, clip: Any, scale: float) -> None:
        if not scale > 0:
            raise ValueError(f"the embedding scale must be positive, got {scale}: it is the mean image-embedding norm")
        self.clip, self.scale = clip, float(scale)

    def __getattr__(self, name: str) -> Any:  # only called for attributes this class lacks
        return getattr(self.__dict__["clip"], name)

    @property
    def name(self) -> str:
        return f"{getattr(self.clip, 'name', type(self.clip).__name__)} (L2-normalised x {self.scale:.4g})"

    def encode_image(self, images: torch.Tensor) -> torch.Tensor:
        return F.normalize(self.clip.encode_image(images), dim=-1) * self.scale

    def encode_text(self, texts: Sequence[str]) -> torch.Tensor:
        return F.normalize(self.clip.encode_text(texts), dim=-1) * self.scale
