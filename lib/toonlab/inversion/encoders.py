"""Image encoders: a configurable ResNet, SimCLR on top of it, and a pSp-style encoder into W+.

* :class:`ResNet` — torchvision's ResNet recipe (7x7 stride-2 stem, max-pool, four stages of
  torchvision's own ``BasicBlock``) with the stage widths as a config, because ``ci`` needs a ResNet-18
  a few channels wide and torchvision's constructor fixes the widths at 64..512. The default config *is*
  ResNet-18 (ToyHollyWood's lightly backbone, 512-d features).
* :class:`SimCLR` — backbone + projection head (Linear-BatchNorm-ReLU-Linear, as lightly's
  ``SimCLRProjectionHead``) trained with :func:`nt_xent` (Chen et al. 2020, eq. 1). Written here
  because lightly is not a dependency: the loss is a dozen lines, and one cross-entropy over the 2N x 2N
  similarity matrix is exactly lightly's ``NTXentLoss`` without a memory bank.
* :class:`PSPEncoder` — pSp's GradualStyleEncoder (Richardson et al. 2021) on the ResNet: a feature
  pyramid over the last three stages, and one "map2style" block per W+ row — coarse rows from the
  smallest map, middle rows from the next, fine rows from the largest — added to the mean latent
  ("start from latent average"; the blocks' last layers start at zero, so the encoder starts exactly at the
  mean). pSp's backbone is an IR-SE-50 pretrained for face recognition; ours is
  the ResNet above trained from scratch with the reconstruction loss, our choice, offline.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import nn
from torchvision.models.resnet import BasicBlock


@dataclass
class ResNetConfig:
    widths: tuple[int, ...] = (64, 128, 256, 512)  # ResNet-18
    blocks: tuple[int, ...] = (2, 2, 2, 2)

    def __post_init__(self) -> None:
        self.widths, self.blocks = tuple(self.widths), tuple(self.blocks)
        if len(self.widths) != 4 or len(self.blocks) != 4 or min(self.widths + self.blocks) < 1:
            raise ValueError(f"ResNetConfig needs 4 positive widths and block counts, got {self.widths} / {self.blocks}")

    @property
    def feature_dim(self) -> int:
        return self.widths[-1]


class ResNet(nn.Module):
    """Images in [0, 1] -> four stage maps (strides 4, 8, 16, 32) or pooled features (``forward``)."""

    def __init__(self, config: ResNetConfig = ResNetConfig()) -> None:
        super().__init__()
        self.config = config
        stem = config.widths[0]
        self.stem = nn.Sequential(nn.Conv2d(3, stem, 7, 2, 3, bias=False), nn.BatchNorm2d(stem), nn.ReLU(inplace=True),
                                  nn.MaxPool2d(3, 2, 1))
        stages, in_ch = [], stem
        for index, (width, count) in enumerate(zip(config.widths, config.blocks)):
            stride = 1 if index == 0 else 2
            downsample = None
            if stride != 1 or in_ch != width:
                downsample = nn.Sequential(nn.Conv2d(in_ch, width, 1, stride, bias=False), nn.BatchNorm2d(width))
            layers = [BasicBlock(in_ch, width, stride, downsample)] + [BasicBlock(width, width) for _ in range(count - 1)]
            stages.append(nn.Sequential(*layers))
            in_ch = width
        self.stages = nn.ModuleList(stages)

    def feature_maps(self, images: torch.Tensor) -> list[torch.Tensor]:
        x = self.stem(images * 2 - 1)
        maps = []
        for stage in self.stages:
            x = stage(x)
            maps.append(x)
        return maps

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.feature_maps(images)[-1].mean(dim=(2, 3))


# ---------------------------------------------------------------------------------------------------
# SimCLR


@dataclass
class SimCLRConfig:
    backbone: ResNetConfig = field(default_factory=ResNetConfig)
    projection_hidden: int = 512  # ToyHollyWood: projection 512-512-512
    projection_dim: int = 512


class SimCLR(nn.Module):
    def __init__(self, config: SimCLRConfig = SimCLRConfig()) -> None:
        super().__init__()
        self.config = config
        d = config.backbone.feature_dim
        self.backbone = ResNet(config.backbone)
        self.projection = nn.Sequential(nn.Linear(d, config.projection_hidden, bias=False),
                                        nn.BatchNorm1d(config.projection_hidden), nn.ReLU(inplace=True),
                                        nn.Linear(config.projection_hidden, config.projection_dim))

    @property
    def feature_dim(self) -> int:
        return self.config.backbone.feature_dim

    def forward(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(backbone features — what the mapper reads, projection — what NT-Xent compares)."""
        features = self.backbone(images)
        return features, self.projection(features)


def nt_xent(a: torch.Tensor, b: torch.Tensor, temperature: float = 0.5) -> torch.Tensor:
    """NT-Xent over two views: row i of ``a`` and of ``b`` are the positives, the other 2N - 2 rows negatives.

    Temperature 0.5 is lightly's default (ToyHollyWood does not set it).
    """
    if a.shape != b.shape or a.ndim != 2 or len(a) < 2:
        raise ValueError(f"NT-Xent needs two (N, D) batches of equal shape with N >= 2, got {tuple(a.shape)} / {tuple(b.shape)}")
    z = F.normalize(torch.cat([a, b]), dim=1)
    logits = z @ z.T / temperature
    logits = logits.masked_fill(torch.eye(len(z), dtype=torch.bool, device=z.device), float("-inf"))  # no self-pairs
    n = len(a)
    positives = torch.cat([torch.arange(n, 2 * n), torch.arange(0, n)]).to(z.device)
    return F.cross_entropy(logits, positives)


# ---------------------------------------------------------------------------------------------------
# pSp


def pyramid_rows(n_latent: int) -> tuple[int, int]:
    """How many W+ rows come from the coarse and the middle map: pSp's 3 / 4 of 18, scaled to ``n_latent``."""
    coarse = max(1, round(3 * n_latent / 18))
    middle = max(0, min(n_latent - coarse, round(4 * n_latent / 18)))
    return coarse, middle


class Map2Style(nn.Module):
    """pSp's GradualStyleBlock: stride-2 convolutions down to 1x1, then a linear layer to one style."""

    def __init__(self, in_ch: int, style_dim: int, spatial: int) -> None:
        super().__init__()
        layers, ch = [], in_ch
        for _ in range(max(0, int(math.log2(spatial)))):
            layers += [nn.Conv2d(ch, style_dim, 3, 2, 1), nn.LeakyReLU(0.2)]
            ch = style_dim
        self.convs = nn.Sequential(*layers)
        self.linear = nn.Linear(ch, style_dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.linear(self.convs(x).mean(dim=(2, 3)))  # the mean is a no-op at 1x1 (kept for odd sizes)


@dataclass
class PSPEncoderConfig:
    resolution: int  # the images' (and generator's) side
    latent_shape: tuple[int, ...]  # (n_latent, style_dim) for W+, (dim,) for a single vector (z or w)
    backbone: ResNetConfig = field(default_factory=ResNetConfig)

    def __post_init__(self) -> None:
        self.latent_shape = tuple(self.latent_shape)
        if self.resolution < 16 or len(self.latent_shape) not in (1, 2):
            raise ValueError(f"PSPEncoder needs images >= 16 px and a latent shape (dim,) or (rows, dim), got "
                             f"{self.resolution} / {self.latent_shape}")


class PSPEncoder(nn.Module):
    """Images in [0, 1] -> latents of ``latent_shape`` (offsets from ``mean_latent``, set from the generator)."""

    def __init__(self, config: PSPEncoderConfig) -> None:
        super().__init__()
        self.config = config
        rows, style_dim = (1, config.latent_shape[0]) if len(config.latent_shape) == 1 else config.latent_shape
        widths = config.backbone.widths
        self.backbone = ResNet(config.backbone)
        # Feature pyramid (pSp's latlayer1/2): the coarse map is upsampled into the middle and fine maps.
        self.lateral_middle = nn.Conv2d(widths[2], widths[3], 1)
        self.lateral_fine = nn.Conv2d(widths[1], widths[3], 1)
        sizes = [max(1, config.resolution // s) for s in (8, 16, 32)]  # fine, middle, coarse map sides
        coarse, middle = pyramid_rows(rows)
        self.levels = [2] * coarse + [1] * middle + [0] * (rows - coarse - middle)  # 2: coarse map ... 0: fine
        self.styles = nn.ModuleList(Map2Style(widths[3], style_dim, sizes[level]) for level in self.levels)
        for block in self.styles:  # our choice: start exactly at the mean latent (pSp starts near it)
            nn.init.zeros_(block.linear.weight)
            nn.init.zeros_(block.linear.bias)
        self.register_buffer("mean_latent", torch.zeros(config.latent_shape))

    @torch.no_grad()
    def set_mean_latent(self, mean: torch.Tensor) -> None:
        if tuple(mean.shape) != self.config.latent_shape:
            raise ValueError(f"mean latent must have shape {self.config.latent_shape}, got {tuple(mean.shape)}")
        self.mean_latent.copy_(mean)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        _, fine, middle, coarse = self.backbone.feature_maps(images)
        middle = F.interpolate(coarse, size=middle.shape[-2:], mode="bilinear", align_corners=False) + self.lateral_middle(middle)
        fine = F.interpolate(middle, size=fine.shape[-2:], mode="bilinear", align_corners=False) + self.lateral_fine(fine)
        maps = (fine, middle, coarse)
        styles = torch.stack([block(maps[level]) for block, level in zip(self.styles, self.levels)], dim=1)
        return self.mean_latent + styles.view(len(images), *self.config.latent_shape)
