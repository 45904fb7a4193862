"""DCGAN (Radford et al. 2015), the Comics project's few-shot baseline.

Generator: a latent vector becomes a 4x4 map through a transposed convolution, then each stride-2
transposed convolution doubles the size and halves the channels (BatchNorm + ReLU), ending in tanh.
Discriminator: the mirror image with stride-2 convolutions and LeakyReLU(0.2), no BatchNorm on the
first layer, and a 4x4 convolution to one logit. The paper is written for 64 px; other powers of two
add or remove one block per octave (the Comics notebook used 64 px).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn


@dataclass
class DCGANConfig:
    resolution: int = 64  # output side, a power of two >= 16
    latent_dim: int = 100  # Comics' PyTorch notebook (v2); its TensorFlow notebook used 128
    channels: int = 3
    base_channels: int = 64  # ngf = ndf: channels of the block next to the image

    def __post_init__(self) -> None:
        if self.resolution < 16 or self.resolution & (self.resolution - 1):
            raise ValueError(f"DCGAN resolution must be a power of two >= 16, got {self.resolution}")
        if self.latent_dim < 1 or self.base_channels < 1:
            raise ValueError("DCGAN latent_dim and base_channels must be >= 1")

    @property
    def num_upsamplings(self) -> int:  # 4x4 -> resolution
        return int(math.log2(self.resolution)) - 2


def init_dcgan_weights(module: nn.Module) -> None:
    """The paper's initialisation: conv weights N(0, 0.02), BatchNorm scale N(1, 0.02) and shift 0."""
    if isinstance(module, (nn.Conv2d, nn.ConvTranspose2d)):
        nn.init.normal_(module.weight, 0.0, 0.02)
    elif isinstance(module, nn.BatchNorm2d):
        nn.init.normal_(module.weight, 1.0, 0.02)
        nn.init.zeros_(module.bias)


class DCGANGenerator(nn.Module):
    def __init__(self, config: DCGANConfig) -> None:
        super().__init__()
        self.config = config
        n = config.num_upsamplings
        widths = [config.base_channels * 2 ** (n - 1 - i) for i in range(n)]  # e.g. 512, 256, 128, 64 at 64 px
        layers: list[nn.Module] = [
            nn.ConvTranspose2d(config.latent_dim, widths[0], 4, 1, 0, bias=False),
            nn.BatchNorm2d(widths[0]),
            nn.ReLU(True),
        ]
        for w_in, w_out in zip(widths[:-1], widths[1:]):
            layers += [nn.ConvTranspose2d(w_in, w_out, 4, 2, 1, bias=False), nn.BatchNorm2d(w_out), nn.ReLU(True)]
        layers += [nn.ConvTranspose2d(widths[-1], config.channels, 4, 2, 1, bias=False), nn.Tanh()]
        self.net = nn.Sequential(*layers)
        self.apply(init_dcgan_weights)

    @property
    def latent_dim(self) -> int:
        return self.config.latent_dim

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        """(B, latent_dim) -> (B, channels, resolution, resolution) in [-1, 1]."""
        return self.net(z.view(z.shape[0], -1, 1, 1))


class DCGANDiscriminator(nn.Module):
    def __init__(self, config: DCGANConfig) -> None:
        super().__init__()
        self.config = config
        n = config.num_upsamplings
        widths = [config.base_channels * 2 ** i for i in range(n)]  # e.g. 64, 128, 256, 512 at 64 px
        layers: list[nn.Module] = [nn.Conv2d(config.channels, widths[0], 4, 2, 1, bias=False), nn.LeakyReLU(0.2, True)]
        for w_in, w_out in zip(widths[:-1], widths[1:]):
            layers += [nn.Conv2d(w_in, w_out, 4, 2, 1, bias=False), nn.BatchNorm2d(w_out), nn.LeakyReLU(0.2, True)]
        # One logit; the paper's sigmoid lives in the loss (BCE with logits is the same, but stable).
        layers += [nn.Conv2d(widths[-1], 1, 4, 1, 0, bias=False)]
        self.net = nn.Sequential(*layers)
        self.apply(init_dcgan_weights)

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        """(B, channels, R, R) -> (B,) logits."""
        if image.shape[-1] != self.config.resolution or image.shape[-2] != self.config.resolution:
            raise ValueError(f"DCGAN discriminator expects {self.config.resolution} px images, got {tuple(image.shape)}")
        return self.net(image).flatten()
