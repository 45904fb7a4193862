"""The three source projects' mappers: small MLPs from an embedding to a GAN latent.

Each follows its source's code (``seeds/METHODS.md``) layer for layer; sizes are config fields because the
offline profiles use smaller encoders (ToonCLIP, a tiny CLIP) and generators than the sources did.

* :class:`PopYouMapper` (PopYou, ``models/clip_mapper.py``): CLIP image embedding e (768-d, ViT-L-14)
  -> 3 x (Linear 768 + GELU) with a residual, mapper(e) + e -> head Linear 768 -> 256 + GELU -> FastGAN z.
  Trained on images; at inference the CLIP *text* embedding takes e's place (text -> toy).
* :class:`ToyHollyWoodMapper` (ToyHollyWood): SimCLR feature s (512-d) -> s + 4 x (Linear 512 + GELU)(s),
  fed to StyleGAN2's style vectoriser (the mapping network) and broadcast to every layer.
* :class:`CSLAMapper` (CelebrityLook / CSLA, arXiv 2210.04506): CLIP embedding c -> 6 x (Linear 768 +
  GELU) + Linear 768 -> L x 512 + GELU on (c - mean_clip), added to mean_w: a W+ latent.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn


def gelu_stack(width: int, layers: int) -> nn.Sequential:
    """``layers`` x (Linear width -> width, GELU): the block all three sources repeat."""
    return nn.Sequential(*[module for _ in range(layers) for module in (nn.Linear(width, width), nn.GELU())])


@dataclass
class PopYouMapperConfig:
    embed_dim: int = 768  # CLIP ViT-L-14's embedding (ToonCLIP's / a tiny CLIP's offline)
    latent_dim: int = 256  # FastGAN's nz
    layers: int = 3


class PopYouMapper(nn.Module):
    """CLIP embedding -> FastGAN z. The head's GELU keeps PopYou's choice: z >= -0.17 in every
    coordinate, so the mapper cannot reach the negative half of the Gaussian z space it writes into."""

    def __init__(self, config: PopYouMapperConfig) -> None:
        super().__init__()
        self.config = config
        self.mapper = gelu_stack(config.embed_dim, config.layers)
        self.head = nn.Sequential(nn.Linear(config.embed_dim, config.latent_dim), nn.GELU())

    def forward(self, embedding: torch.Tensor) -> torch.Tensor:
        if embedding.shape[-1] != self.config.embed_dim:
            raise ValueError(f"PopYouMapper takes {self.config.embed_dim}-d embeddings, got {tuple(embedding.shape)}")
        return self.head(self.mapper(embedding) + embedding)  # the residual: mapper(e) + e


@dataclass
class ToyHollyWoodMapperConfig:
    feature_dim: int = 512  # SimCLR ResNet-18 features = StyleGAN2's style_dim in the source
    layers: int = 4


class ToyHollyWoodMapper(nn.Module):
    """SimCLR feature s -> s + mapper(s): the input of StyleGAN2's style vectoriser (its z space)."""

    def __init__(self, config: ToyHollyWoodMapperConfig) -> None:
        super().__init__()
        self.config = config
        self.mapper = gelu_stack(config.feature_dim, config.layers)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        if features.shape[-1] != self.config.feature_dim:
            raise ValueError(f"ToyHollyWoodMapper takes {self.config.feature_dim}-d features, got {tuple(features.shape)}")
        return features + self.mapper(features)


@dataclass
class CSLAMapperConfig:
    clip_dim: int = 768  # CLIP ViT-L/14's embedding
    n_latent: int = 23  # W+ rows (MobileStyleGAN at 1024 px: 23)
    style_dim: int = 512
    layers: int = 6


class CSLAMapper(nn.Module):
    """CLIP embedding c -> W+ = mean_w + mapper(c - mean_clip), ``(B, n_latent, style_dim)``.

    ``mean_w`` and ``mean_clip`` are buffers: the mean W+ of the generator and the mean CLIP embedding of
    its images, both estimated on sampled latents before training (:meth:`set_centres`). Centring both
    ends makes the mapper learn offsets, which is what lets text deltas work in chapter 06.
    """

    def __init__(self, config: CSLAMapperConfig) -> None:
        super().__init__()
        self.config = config
        self.mapper = nn.Sequential(gelu_stack(config.clip_dim, config.layers),
                                    nn.Linear(config.clip_dim, config.n_latent * config.style_dim), nn.GELU())
        self.register_buffer("mean_w", torch.zeros(config.n_latent, config.style_dim))
        self.register_buffer("mean_clip", torch.zeros(config.clip_dim))

    @torch.no_grad()
    def set_centres(self, mean_w: torch.Tensor, mean_clip: torch.Tensor) -> None:
        c = self.config
        if tuple(mean_w.shape) != (c.n_latent, c.style_dim) or tuple(mean_clip.shape) != (c.clip_dim,):
            raise ValueError(f"CSLA centres must be ({c.n_latent}, {c.style_dim}) and ({c.clip_dim},), got "
                             f"{tuple(mean_w.shape)} and {tuple(mean_clip.shape)}")
        self.mean_w.copy_(mean_w)
        self.mean_clip.copy_(mean_clip)

    def forward(self, clip_embedding: torch.Tensor) -> torch.Tensor:
        c = self.config
        if clip_embedding.shape[-1] != c.clip_dim:
            raise ValueError(f"CSLAMapper takes {c.clip_dim}-d CLIP embeddings, got {tuple(clip_embedding.shape)}")
        offset = self.mapper(clip_embedding - self.mean_clip)
        return self.mean_w + offset.view(-1, c.n_latent, c.style_dim)
