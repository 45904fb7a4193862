"""FastGAN (Liu et al. 2021, "Towards Faster and Stabilized GAN Training for High-fidelity Few-shot
Image Synthesis", arXiv 2101.04775).

Two ideas make it train in hours on a few hundred images:

* **Skip-layer excitation (SLE)** in the generator: a low-resolution feature map (4x4, 8x8, ...) gates
  the channels of a map 16x larger, a cheap long-range skip connection (the "style" of 4x4 reaches 64x64).
* A **self-supervised discriminator**: besides its real/fake logits it must reconstruct the real image
  from its 8x8 features, from its small-image branch, and a random quarter from its 16x16 features,
  so it learns features that describe the image rather than memorising it.

Layer widths follow the official implementation (odegeasslbc/FastGAN-pytorch) for 256-1024 px. The
official code stops at 256 px; below that (64 and 128 px, our ``ci``/``gpu`` sizes) the same rules are
continued: the discriminator's big branch starts at ``min(R, 256)`` and always ends at 8x8, its small
branch sees the image at ``min(128, R/2)``, and the reconstructions are made at that small size.
We apply ``tanh`` to both outputs at every resolution (the official code does so only at 1024 px and
clamps elsewhere when saving), so every resolution returns images in [-1, 1].
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils.parametrizations import spectral_norm

# Width multipliers (x ngf / ndf) by feature-map size, from the official code.
GENERATOR_WIDTH = {4: 16, 8: 8, 16: 4, 32: 2, 64: 2, 128: 1, 256: 0.5, 512: 0.25, 1024: 0.125}
DISCRIMINATOR_WIDTH = {4: 16, 8: 16, 16: 8, 32: 4, 64: 2, 128: 1, 256: 0.5, 512: 0.25, 1024: 0.125}
DECODER_WIDTH = {16: 128, 32: 64, 64: 64, 128: 32}  # the official decoder: multipliers x 32
SLE_TARGETS = (64, 128, 256, 512)  # generator maps gated by the map 16x smaller
COMPOUND_UP = (8, 32, 128, 512)  # generator blocks with two convolutions and noise inputs


@dataclass
class FastGANConfig:
    resolution: int = 256  # output side: 64, 128, 256, 512 or 1024
    latent_dim: int = 256  # nz in the official code and in PopYou
    ngf: int = 64  # generator width
    ndf: int = 64  # discriminator width
    channels: int = 3

    def __post_init__(self) -> None:
        if self.resolution not in GENERATOR_WIDTH or self.resolution < 64:
            raise ValueError(f"FastGAN resolution must be one of 64, 128, 256, 512, 1024; got {self.resolution}")
        if min(self.latent_dim, self.ngf, self.ndf) < 1:
            raise ValueError("FastGAN latent_dim, ngf and ndf must be >= 1")
        if self.ngf * GENERATOR_WIDTH[self.resolution] < 1 or self.ndf * DISCRIMINATOR_WIDTH[2 * min(self.resolution, 512)] < 1:
            raise ValueError(f"ngf/ndf {self.ngf}/{self.ndf} are too small for {self.resolution} px: layers would have 0 channels")

    @property
    def small_resolution(self) -> int:
        """Size of the second output and of the discriminator's small branch (128 from 256 px up)."""
        return min(128, self.resolution // 2)


def conv(in_ch: int, out_ch: int, kernel: int, stride: int = 1, padding: int = 0, bias: bool = False) -> nn.Module:
    """Every FastGAN convolution is spectrally normalised."""
    return spectral_norm(nn.Conv2d(in_ch, out_ch, kernel, stride, padding, bias=bias))


def init_fastgan_weights(module: nn.Module) -> None:
    """Official initialisation: conv weights N(0, 0.02) (before spectral norm), BatchNorm N(1, 0.02) / 0."""
    if isinstance(module, (nn.Conv2d, nn.ConvTranspose2d)):
        weight = module.parametrizations.weight.original if hasattr(module, "parametrizations") else module.weight
        nn.init.normal_(weight, 0.0, 0.02)
    elif isinstance(module, nn.BatchNorm2d):
        nn.init.normal_(module.weight, 1.0, 0.02)
        nn.init.zeros_(module.bias)


class NoiseInjection(nn.Module):
    """Per-pixel Gaussian noise scaled by one learned weight (starts at 0: the block ignores it at first)."""

    def __init__(self) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.zeros(1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        noise = torch.randn(x.shape[0], 1, x.shape[2], x.shape[3], device=x.device, dtype=x.dtype)
        return x + self.weight * noise


class SkipLayerExcitation(nn.Module):
    """SLE: pool the small map to 4x4, squeeze it to one gate per channel of the big map, multiply."""

    def __init__(self, small_ch: int, big_ch: int) -> None:
        super().__init__()
        self.gate = nn.Sequential(
            nn.AdaptiveAvgPool2d(4), conv(small_ch, big_ch, 4), nn.SiLU(), conv(big_ch, big_ch, 1), nn.Sigmoid(),
        )

    def forward(self, small: torch.Tensor, big: torch.Tensor) -> torch.Tensor:
        return big * self.gate(small)


def up_block(in_ch: int, out_ch: int) -> nn.Sequential:
    """Nearest x2, 3x3 conv to 2x channels, BatchNorm, GLU (halves the channels back)."""
    return nn.Sequential(nn.Upsample(scale_factor=2, mode="nearest"), conv(in_ch, out_ch * 2, 3, 1, 1),
                         nn.BatchNorm2d(out_ch * 2), nn.GLU(dim=1))


def up_block_compound(in_ch: int, out_ch: int) -> nn.Sequential:
    """Two convolutions, each followed by noise injection, BatchNorm and GLU."""
    return nn.Sequential(
        nn.Upsample(scale_factor=2, mode="nearest"),
        conv(in_ch, out_ch * 2, 3, 1, 1), NoiseInjection(), nn.BatchNorm2d(out_ch * 2), nn.GLU(dim=1),
        conv(out_ch, out_ch * 2, 3, 1, 1), NoiseInjection(), nn.BatchNorm2d(out_ch * 2), nn.GLU(dim=1),
    )


class FastGANGenerator(nn.Module):
    def __init__(self, config: FastGANConfig) -> None:
        super().__init__()
        self.config = config
        width = {res: int(mult * config.ngf) for res, mult in GENERATOR_WIDTH.items()}
        size = config.resolution
        # The latent vector is a 1x1 map; a 4x4 transposed conv, BatchNorm and GLU make the 4x4 input.
        self.init = nn.Sequential(
            spectral_norm(nn.ConvTranspose2d(config.latent_dim, width[4] * 2, 4, 1, 0, bias=False)),
            nn.BatchNorm2d(width[4] * 2), nn.GLU(dim=1),
        )
        self.resolutions = [2**i for i in range(3, int(math.log2(size)) + 1)]
        self.blocks = nn.ModuleDict({
            str(res): (up_block_compound if res in COMPOUND_UP else up_block)(width[res // 2], width[res])
            for res in self.resolutions
        })
        self.sle = nn.ModuleDict({
            str(res): SkipLayerExcitation(width[res // 16], width[res]) for res in SLE_TARGETS if res <= size
        })
        self.to_big = conv(width[size], config.channels, 3, 1, 1)
        self.to_small = conv(width[config.small_resolution], config.channels, 1, 1, 0)
        self.apply(init_fastgan_weights)

    @property
    def latent_dim(self) -> int:
        return self.config.latent_dim

    def forward(self, z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(B, latent_dim) -> (image at ``resolution``, image at ``small_resolution``), both in [-1, 1]."""
        if z.ndim != 2 or z.shape[1] != self.config.latent_dim:
            raise ValueError(f"FastGAN expects latents of shape (B, {self.config.latent_dim}), got {tuple(z.shape)}")
        features = {4: self.init(z.view(z.shape[0], -1, 1, 1))}
        for res in self.resolutions:
            feat = self.blocks[str(res)](features[res // 2])
            if str(res) in self.sle:
                feat = self.sle[str(res)](features[res // 16], feat)
            features[res] = feat
        big = torch.tanh(self.to_big(features[self.config.resolution]))
        small = torch.tanh(self.to_small(features[self.config.small_resolution]))
        return big, small


def down_block(in_ch: int, out_ch: int) -> nn.Sequential:
    return nn.Sequential(conv(in_ch, out_ch, 4, 2, 1), nn.BatchNorm2d(out_ch), nn.LeakyReLU(0.2))


class DownBlockCompound(nn.Module):
    """A strided 4x4 conv + 3x3 conv path averaged with an avg-pool + 1x1 conv path."""

    def __init__(self, in_ch: int, out_ch: int) -> None:
        super().__init__()
        self.main = nn.Sequential(
            conv(in_ch, out_ch, 4, 2, 1), nn.BatchNorm2d(out_ch), nn.LeakyReLU(0.2),
            conv(out_ch, out_ch, 3, 1, 1), nn.BatchNorm2d(out_ch), nn.LeakyReLU(0.2),
        )
        self.direct = nn.Sequential(nn.AvgPool2d(2, 2), conv(in_ch, out_ch, 1, 1, 0), nn.BatchNorm2d(out_ch),
                                    nn.LeakyReLU(0.2))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (self.main(x) + self.direct(x)) / 2


class SimpleDecoder(nn.Module):
    """Reconstructs an image from an 8x8 feature map (the discriminator's self-supervision)."""

    def __init__(self, in_ch: int, out_resolution: int, channels: int) -> None:
        super().__init__()
        layers: list[nn.Module] = [nn.AdaptiveAvgPool2d(8)]
        ch, res = in_ch, 8
        while res < out_resolution:
            res *= 2
            layers.append(up_block(ch, DECODER_WIDTH[res]))
            ch = DECODER_WIDTH[res]
        layers += [conv(ch, channels, 3, 1, 1), nn.Tanh()]
        self.net = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


@dataclass
class FastGANDiscriminatorOutput:
    logits: torch.Tensor  # (B, N): the 5x5 logits of both branches, flattened and concatenated
    reconstructions: tuple[torch.Tensor, torch.Tensor, torch.Tensor] | None = None  # big, small, part
    part: int | None = None  # which quarter the part decoder reconstructed (0 tl, 1 tr, 2 bl, 3 br)


def crop_quarter(x: torch.Tensor, part: int) -> torch.Tensor:
    """Quarter ``part`` (0 top-left, 1 top-right, 2 bottom-left, 3 bottom-right) of an image or feature map."""
    h, w = x.shape[2] // 2, x.shape[3] // 2
    rows = slice(0, h) if part in (0, 1) else slice(h, 2 * h)
    cols = slice(0, w) if part in (0, 2) else slice(w, 2 * w)
    return x[:, :, rows, cols]


class FastGANDiscriminator(nn.Module):
    def __init__(self, config: FastGANConfig) -> None:
        super().__init__()
        self.config = config
        size, small, nc = config.resolution, config.small_resolution, config.channels

        def big_width(spatial: int) -> int:  # the official widths, indexed by feature-map size
            return int(DISCRIMINATOR_WIDTH[2 * spatial] * config.ndf)

        def small_width(spatial: int) -> int:
            return int(DISCRIMINATOR_WIDTH[4 * spatial] * config.ndf)

        # Big branch: bring the image to min(R, 256), then compound down-blocks to 8x8.
        self.top = min(size, 256)
        if size > 256:
            stem: list[nn.Module] = [conv(nc, big_width(size // 2), 4, 2, 1), nn.LeakyReLU(0.2)]
            spatial = size // 2
            while spatial > 256:
                stem += [conv(big_width(spatial), big_width(spatial // 2), 4, 2, 1),
                         nn.BatchNorm2d(big_width(spatial // 2)), nn.LeakyReLU(0.2)]
                spatial //= 2
        else:
            stem = [conv(nc, big_width(size), 3, 1, 1), nn.LeakyReLU(0.2)]
        self.stem = nn.Sequential(*stem)
        self.down = nn.ModuleDict({
            str(s // 2): DownBlockCompound(big_width(s), big_width(s // 2)) for s in _halvings(self.top, 8)
        })
        # SLE in the discriminator: the map at 8s gates the map at s (official: 256->32, 128->16, 64->8).
        self.sle = nn.ModuleDict({
            str(s): SkipLayerExcitation(big_width(8 * s), big_width(s)) for s in (32, 16, 8) if 8 * s <= self.top
        })
        self.logits_big = nn.Sequential(conv(big_width(8), big_width(4), 1, 1, 0), nn.BatchNorm2d(big_width(4)),
                                        nn.LeakyReLU(0.2), conv(big_width(4), 1, 4, 1, 0))
        # Small branch: the image at min(128, R/2), a strided conv, then plain down-blocks to 8x8.
        small_layers: list[nn.Module] = [conv(nc, small_width(small // 2), 4, 2, 1), nn.LeakyReLU(0.2)]
        small_layers += [down_block(small_width(s), small_width(s // 2)) for s in _halvings(small // 2, 8)]
        self.small_branch = nn.Sequential(*small_layers)
        self.logits_small = conv(small_width(8), 1, 4, 1, 0)
        # Self-supervision decoders, all reconstructing at the small resolution.
        self.decoder_big = SimpleDecoder(big_width(8), small, nc)
        self.decoder_part = SimpleDecoder(big_width(16), small, nc)
        self.decoder_small = SimpleDecoder(small_width(8), small, nc)
        self.apply(init_fastgan_weights)

    def forward(self, images: torch.Tensor | tuple[torch.Tensor, torch.Tensor] | list[torch.Tensor],
                part: int | None = None) -> FastGANDiscriminatorOutput:
        """Score images; with ``part`` (0-3) also reconstruct them (done for real images only).

        ``images`` is either one batch at the full resolution (real images: the small copy is made by
        nearest resizing, as officially) or the generator's ``(big, small)`` pair.
        """
        if isinstance(images, torch.Tensor):
            big = F.interpolate(images, size=self.config.resolution) if images.shape[-1] != self.config.resolution else images
            small = F.interpolate(images, size=self.config.small_resolution)
        else:
            big, small = images
        features = {self.top: self.stem(big)}
        spatial = self.top
        while spatial > 8:
            spatial //= 2
            feat = self.down[str(spatial)](features[spatial * 2])
            if str(spatial) in self.sle:
                feat = self.sle[str(spatial)](features[8 * spatial], feat)
            features[spatial] = feat
        small_features = self.small_branch(small)
        logits = torch.cat([self.logits_big(features[8]).flatten(1), self.logits_small(small_features).flatten(1)], 1)
        if part is None:
            return FastGANDiscriminatorOutput(logits)
        if part not in (0, 1, 2, 3):
            raise ValueError(f"part must be 0, 1, 2 or 3 (a quarter of the image), got {part}")
        reconstructions = (
            self.decoder_big(features[8]),
            self.decoder_small(small_features),
            self.decoder_part(crop_quarter(features[16], part)),
        )
        return FastGANDiscriminatorOutput(logits, reconstructions, part)


def reconstruction_targets(real: torch.Tensor, part: int, size: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """What the discriminator's decoders must reproduce: the (augmented) real image resized, twice, and
    its quarter ``part`` resized, as in the official training script (nearest resizing)."""
    whole = F.interpolate(real, size=size)
    return whole, whole, F.interpolate(crop_quarter(real, part), size=size)


def _halvings(start: int, stop: int) -> list[int]:
    """start, start/2, ... while > stop (the inputs of the blocks that halve down to ``stop``)."""
    sizes, s = [], start
    while s > stop:
        sizes.append(s)
        s //= 2
    return sizes
