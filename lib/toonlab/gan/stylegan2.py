"""StyleGAN2 (Karras et al. 2020, "Analyzing and Improving the Image Quality of StyleGAN", arXiv 1912.04958).

The generator maps z through an MLP to a style w, then builds the image from a learned 4x4 constant with
*modulated/demodulated* convolutions (each sample's style scales the conv weights per input channel and
the result is renormalised per output channel: the paper's fix for StyleGAN's droplet artefacts), per-pixel
noise inputs, and skip connections that add an RGB image at every resolution. The discriminator is a
residual network with a minibatch-stddev feature. Training adds style mixing, R1 on real images and the
path-length regulariser (see :mod:`toonlab.gan.losses` and ``toonlab.train.gan_tasks``).

**Parameter names and shapes follow the rosinality/stylegan2-pytorch layout** (``style.1.weight``,
``convs.0.conv.modulation.weight``, ``noises.noise_0``, ...), so :func:`load_rosinality` loads the FFHQ
checkpoints that e4e, pSp and StyleCLIP ship (``stylegan2-ffhq-config-f.pt``) without renaming. The
forward signature follows it too (a list of style batches, ``input_is_latent``, ``truncation``...).
The up/down-sampling FIR filters are written here in plain PyTorch (``upfirdn2d``): no compiled ops.
"""

from __future__ import annotations

import argparse
import math
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

ROSINALITY_WIDTHS = {4: 512, 8: 512, 16: 512, 32: 512, 64: 256, 128: 128, 256: 64, 512: 32, 1024: 16}


@dataclass
class StyleGAN2Config:
    resolution: int = 1024
    style_dim: int = 512
    n_mlp: int = 8
    channel_multiplier: int = 2  # rosinality's width table: 512 up to 32 px, then (256 .. 16) x multiplier
    channel_base: int | None = None  # instead of the table: width(res) = min(channel_max, channel_base // res)
    channel_max: int = 512
    lr_mlp: float = 0.01  # the mapping network's learning-rate multiplier (equalised lr)
    blur_kernel: tuple[int, ...] = (1, 3, 3, 1)
    stddev_group: int = 4  # discriminator minibatch-stddev group size

    def __post_init__(self) -> None:
        if self.resolution < 8 or self.resolution & (self.resolution - 1) or self.resolution > 1024:
            raise ValueError(f"StyleGAN2 resolution must be a power of two in 8..1024, got {self.resolution}")
        if self.style_dim < 1 or self.n_mlp < 1:
            raise ValueError("StyleGAN2 style_dim and n_mlp must be >= 1")
        self.blur_kernel = tuple(self.blur_kernel)
        if any(self.width(r) < 1 for r in self.resolutions):
            raise ValueError(f"channel_base {self.channel_base} gives layers with 0 channels at {self.resolution} px")

    @property
    def log_size(self) -> int:
        return int(math.log2(self.resolution))

    @property
    def resolutions(self) -> list[int]:
        return [2**i for i in range(2, self.log_size + 1)]

    @property
    def n_latent(self) -> int:  # styles consumed by the synthesis network (W+ has this many rows)
        return self.log_size * 2 - 2

    @property
    def num_noise_layers(self) -> int:
        return (self.log_size - 2) * 2 + 1

    def width(self, res: int) -> int:
        if self.channel_base is not None:
            return min(self.channel_max, self.channel_base // res)
        return ROSINALITY_WIDTHS[res] * (self.channel_multiplier if res >= 64 else 1)


# ---------------------------------------------------------------------------------------------------
# FIR filtering (upfirdn2d) and the layers built on it


def make_kernel(taps: Sequence[int]) -> torch.Tensor:
    """A separable 2-D FIR kernel from 1-D taps, normalised to sum 1."""
    k = torch.tensor(taps, dtype=torch.float32)
    k = k[None, :] * k[:, None] if k.ndim == 1 else k
    return k / k.sum()


def upfirdn2d(x: torch.Tensor, kernel: torch.Tensor, up: int = 1, down: int = 1,
              pad: tuple[int, int] = (0, 0)) -> torch.Tensor:
    """Upsample by zero insertion, pad (negative pads crop), convolve with ``kernel``, keep every
    ``down``-th pixel — the resampling primitive of StyleGAN2, on both spatial axes."""
    batch, channels, height, width = x.shape
    if up > 1:
        stuffed = x.new_zeros(batch, channels, height * up, width * up)
        stuffed[:, :, ::up, ::up] = x
        x = stuffed
    x = F.pad(x, [pad[0], pad[1], pad[0], pad[1]])
    # A true convolution flips the kernel; conv2d correlates, so flip it first. Depthwise over channels.
    weight = torch.flip(kernel, [0, 1]).to(x.dtype)[None, None].repeat(channels, 1, 1, 1)
    x = F.conv2d(x, weight, groups=channels)
    return x[:, :, ::down, ::down] if down > 1 else x


class Blur(nn.Module):
    def __init__(self, taps: Sequence[int], pad: tuple[int, int], upsample_factor: int = 1) -> None:
        super().__init__()
        kernel = make_kernel(taps)
        if upsample_factor > 1:
            kernel = kernel * upsample_factor**2  # zero insertion divided the energy by factor^2
        self.register_buffer("kernel", kernel)
        self.pad = pad

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return upfirdn2d(x, self.kernel, pad=self.pad)


class Upsample(nn.Module):
    """x2 FIR upsampling of the RGB skip images."""

    def __init__(self, taps: Sequence[int], factor: int = 2) -> None:
        super().__init__()
        self.factor = factor
        self.register_buffer("kernel", make_kernel(taps) * factor**2)
        p = len(taps) - factor
        self.pad = ((p + 1) // 2 + factor - 1, p // 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return upfirdn2d(x, self.kernel, up=self.factor, pad=self.pad)


# ---------------------------------------------------------------------------------------------------
# equalised learning rate layers (weights stored at unit variance, scaled at runtime)


class EqualLinear(nn.Module):
    def __init__(self, in_dim: int, out_dim: int, bias: bool = True, bias_init: float = 0.0, lr_mul: float = 1.0,
                 activation: bool = False) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.randn(out_dim, in_dim).div_(lr_mul))
        self.bias = nn.Parameter(torch.full((out_dim,), float(bias_init))) if bias else None
        self.scale = lr_mul / math.sqrt(in_dim)
        self.lr_mul = lr_mul
        self.activation = activation

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        bias = self.bias * self.lr_mul if self.bias is not None else None
        if self.activation:
            return fused_leaky_relu(F.linear(x, self.weight * self.scale), bias)
        return F.linear(x, self.weight * self.scale, bias)


class EqualConv2d(nn.Module):
    def __init__(self, in_ch: int, out_ch: int, kernel: int, stride: int = 1, padding: int = 0, bias: bool = True) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.randn(out_ch, in_ch, kernel, kernel))
        self.bias = nn.Parameter(torch.zeros(out_ch)) if bias else None
        self.scale = 1 / math.sqrt(in_ch * kernel**2)
        self.stride, self.padding = stride, padding

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.conv2d(x, self.weight * self.scale, self.bias, stride=self.stride, padding=self.padding)


def fused_leaky_relu(x: torch.Tensor, bias: torch.Tensor | None, negative_slope: float = 0.2,
                     scale: float = math.sqrt(2)) -> torch.Tensor:
    """Bias, leaky ReLU, and a sqrt(2) gain that keeps activations at unit variance."""
    if bias is not None:
        x = x + bias.view(1, -1, *([1] * (x.ndim - 2)))
    return F.leaky_relu(x, negative_slope) * scale


class FusedLeakyReLU(nn.Module):
    def __init__(self, channels: int, bias: bool = True) -> None:
        super().__init__()
        self.bias = nn.Parameter(torch.zeros(channels)) if bias else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return fused_leaky_relu(x, self.bias)


class ScaledLeakyReLU(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.leaky_relu(x, 0.2) * math.sqrt(2)


class PixelNorm(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * torch.rsqrt(x.pow(2).mean(dim=1, keepdim=True) + 1e-8)


# ---------------------------------------------------------------------------------------------------
# generator


class ModulatedConv2d(nn.Module):
    """The paper's Fig. 2c: w' = s * w (modulation), w'' = w' / ||w'|| per output channel (demodulation),
    run as one grouped convolution over the batch."""

    def __init__(self, in_ch: int, out_ch: int, kernel: int, style_dim: int, demodulate: bool = True,
                 upsample: bool = False, blur_kernel: Sequence[int] = (1, 3, 3, 1)) -> None:
        super().__init__()
        self.in_ch, self.out_ch, self.kernel_size = in_ch, out_ch, kernel
        self.upsample, self.demodulate = upsample, demodulate
        self.scale = 1 / math.sqrt(in_ch * kernel**2)
        self.padding = kernel // 2
        self.weight = nn.Parameter(torch.randn(1, out_ch, in_ch, kernel, kernel))
        self.modulation = EqualLinear(style_dim, in_ch, bias_init=1)  # styles start at 1: no modulation
        if upsample:
            factor = 2
            p = (len(blur_kernel) - factor) - (kernel - 1)
            self.blur = Blur(blur_kernel, pad=((p + 1) // 2 + factor - 1, p // 2 + 1), upsample_factor=factor)

    def forward(self, x: torch.Tensor, style: torch.Tensor) -> torch.Tensor:
        batch, in_ch, height, width = x.shape
        style = self.modulation(style).view(batch, 1, in_ch, 1, 1)
        weight = self.scale * self.weight * style  # (B, out, in, k, k)
        if self.demodulate:
            weight = weight * torch.rsqrt(weight.pow(2).sum([2, 3, 4]) + 1e-8).view(batch, self.out_ch, 1, 1, 1)
        x = x.reshape(1, batch * in_ch, height, width)
        k = self.kernel_size
        if self.upsample:
            # transposed conv (stride 2) then a FIR blur: the paper's upsampling, per sample via groups
            weight = weight.transpose(1, 2).reshape(batch * in_ch, self.out_ch, k, k)
            out = F.conv_transpose2d(x, weight, padding=0, stride=2, groups=batch)
            out = self.blur(out.view(batch, self.out_ch, out.shape[2], out.shape[3]))
            return out
        out = F.conv2d(x, weight.view(batch * self.out_ch, in_ch, k, k), padding=self.padding, groups=batch)
        return out.view(batch, self.out_ch, out.shape[2], out.shape[3])


class NoiseInjection(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.zeros(1))

    def forward(self, x: torch.Tensor, noise: torch.Tensor | None = None) -> torch.Tensor:
        if noise is None:
            noise = x.new_empty(x.shape[0], 1, x.shape[2], x.shape[3]).normal_()
        return x + self.weight * noise


class ConstantInput(nn.Module):
    def __init__(self, channels: int, size: int = 4) -> None:
        super().__init__()
        self.input = nn.Parameter(torch.randn(1, channels, size, size))

    def forward(self, latent: torch.Tensor) -> torch.Tensor:
        return self.input.repeat(latent.shape[0], 1, 1, 1)


class StyledConv(nn.Module):
    def __init__(self, in_ch: int, out_ch: int, kernel: int, style_dim: int, upsample: bool = False,
                 blur_kernel: Sequence[int] = (1, 3, 3, 1)) -> None:
        super().__init__()
        self.conv = ModulatedConv2d(in_ch, out_ch, kernel, style_dim, upsample=upsample, blur_kernel=blur_kernel)
        self.noise = NoiseInjection()
        self.activate = FusedLeakyReLU(out_ch)

    def forward(self, x: torch.Tensor, style: torch.Tensor, noise: torch.Tensor | None = None) -> torch.Tensor:
        return self.activate(self.noise(self.conv(x, style), noise))


class ToRGB(nn.Module):
    def __init__(self, in_ch: int, style_dim: int, upsample: bool = True, blur_kernel: Sequence[int] = (1, 3, 3, 1),
                 channels: int = 3) -> None:
        super().__init__()
        if upsample:
            self.upsample = Upsample(blur_kernel)
        self.conv = ModulatedConv2d(in_ch, channels, 1, style_dim, demodulate=False)
        self.bias = nn.Parameter(torch.zeros(1, channels, 1, 1))

    def forward(self, x: torch.Tensor, style: torch.Tensor, skip: torch.Tensor | None = None) -> torch.Tensor:
        out = self.conv(x, style) + self.bias
        if skip is not None:
            out = out + self.upsample(skip)
        return out


class StyleGAN2Generator(nn.Module):
    def __init__(self, config: StyleGAN2Config) -> None:
        super().__init__()
        self.config = config
        c, blur = config, config.blur_kernel
        self.style_dim, self.n_latent, self.num_layers = c.style_dim, c.n_latent, c.num_noise_layers
        # Mapping network: PixelNorm then n_mlp equalised-lr linear layers at lr_mlp times the learning rate.
        self.style = nn.Sequential(PixelNorm(), *[
            EqualLinear(c.style_dim, c.style_dim, lr_mul=c.lr_mlp, activation=True) for _ in range(c.n_mlp)
        ])
        self.input = ConstantInput(c.width(4))
        self.conv1 = StyledConv(c.width(4), c.width(4), 3, c.style_dim, blur_kernel=blur)
        self.to_rgb1 = ToRGB(c.width(4), c.style_dim, upsample=False)
        self.convs, self.upsamples, self.to_rgbs = nn.ModuleList(), nn.ModuleList(), nn.ModuleList()
        self.noises = nn.Module()
        for layer in range(self.num_layers):
            res = 2 ** ((layer + 5) // 2)
            self.noises.register_buffer(f"noise_{layer}", torch.randn(1, 1, res, res))
        in_ch = c.width(4)
        for res in c.resolutions[1:]:
            out_ch = c.width(res)
            self.convs.append(StyledConv(in_ch, out_ch, 3, c.style_dim, upsample=True, blur_kernel=blur))
            self.convs.append(StyledConv(out_ch, out_ch, 3, c.style_dim, blur_kernel=blur))
            self.to_rgbs.append(ToRGB(out_ch, c.style_dim, blur_kernel=blur))
            in_ch = out_ch

    @property
    def latent_dim(self) -> int:
        return self.style_dim

    def make_noise(self) -> list[torch.Tensor]:
        device = self.input.input.device
        return [torch.randn(1, 1, 2 ** ((i + 5) // 2), 2 ** ((i + 5) // 2), device=device) for i in range(self.num_layers)]

    @torch.no_grad()
    def mean_latent(self, n_latent: int, seed: int = 0) -> torch.Tensor:
        """The average style w over ``n_latent`` random z (the truncation centre): (1, style_dim)."""
        z = torch.randn(n_latent, self.style_dim, generator=torch.Generator().manual_seed(seed))
        return self.style(z.to(self.input.input.device)).mean(0, keepdim=True)

    def get_latent(self, z: torch.Tensor) -> torch.Tensor:
        return self.style(z)

    def forward(self, styles: Sequence[torch.Tensor], return_latents: bool = False, inject_index: int | None = None,
                truncation: float = 1.0, truncation_latent: torch.Tensor | None = None, input_is_latent: bool = False,
                noise: Sequence[torch.Tensor | None] | None = None,
                randomize_noise: bool = True) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Images from a list of one or two style batches (two = style mixing at ``inject_index``).

        ``styles`` are z (mapped here) or, with ``input_is_latent``, w of shape (B, style_dim) or W+ of
        shape (B, n_latent, style_dim). Returns ``(image, latent if return_latents else None)``.
        """
        if isinstance(styles, torch.Tensor):
            raise TypeError("StyleGAN2Generator takes a list of style batches, e.g. G([z]); see generate(z)")
        if not input_is_latent:
            styles = [self.style(s) for s in styles]
        if noise is None:
            noise = ([None] * self.num_layers if randomize_noise
                     else [getattr(self.noises, f"noise_{i}") for i in range(self.num_layers)])
        if truncation < 1:
            if truncation_latent is None:
                raise ValueError("truncation < 1 needs truncation_latent (e.g. G.mean_latent(4096))")
            styles = [truncation_latent + truncation * (s - truncation_latent) for s in styles]
        if len(styles) < 2:
            latent = styles[0] if styles[0].ndim == 3 else styles[0].unsqueeze(1).repeat(1, self.n_latent, 1)
        else:
            if inject_index is None:
                inject_index = int(torch.randint(1, self.n_latent, ()).item())
            first = styles[0].unsqueeze(1).repeat(1, inject_index, 1)
            second = styles[1].unsqueeze(1).repeat(1, self.n_latent - inject_index, 1)
            latent = torch.cat([first, second], 1)

        out = self.input(latent)
        out = self.conv1(out, latent[:, 0], noise=noise[0])
        skip = self.to_rgb1(out, latent[:, 1])
        i = 1
        for conv_up, conv, noise_up, noise_same, to_rgb in zip(self.convs[::2], self.convs[1::2], noise[1::2],
                                                               noise[2::2], self.to_rgbs):
            out = conv_up(out, latent[:, i], noise=noise_up)
            out = conv(out, latent[:, i + 1], noise=noise_same)
            skip = to_rgb(out, latent[:, i + 2], skip)
            i += 2
        return skip, (latent if return_latents else None)

    def generate(self, z: torch.Tensor, psi: float = 1.0, w_avg: torch.Tensor | None = None) -> torch.Tensor:
        """Images from z with optional truncation ``psi`` (around ``w_avg``, else a 4096-sample mean)."""
        if psi < 1 and w_avg is None:
            w_avg = self.mean_latent(4096)
        image, _ = self([z], truncation=psi, truncation_latent=w_avg)
        return image


# ---------------------------------------------------------------------------------------------------
# discriminator


class ConvLayer(nn.Sequential):
    """[Blur] + EqualConv2d + [FusedLeakyReLU]; an nn.Sequential so parameter names match rosinality."""

    def __init__(self, in_ch: int, out_ch: int, kernel: int, downsample: bool = False,
                 blur_kernel: Sequence[int] = (1, 3, 3, 1), bias: bool = True, activate: bool = True) -> None:
        layers: list[nn.Module] = []
        if downsample:
            factor = 2
            p = (len(blur_kernel) - factor) + (kernel - 1)
            layers.append(Blur(blur_kernel, pad=((p + 1) // 2, p // 2)))
            stride, padding = 2, 0
        else:
            stride, padding = 1, kernel // 2
        layers.append(EqualConv2d(in_ch, out_ch, kernel, stride=stride, padding=padding, bias=bias and not activate))
        if activate:
            layers.append(FusedLeakyReLU(out_ch, bias=bias) if bias else ScaledLeakyReLU())
        super().__init__(*layers)


class ResBlock(nn.Module):
    def __init__(self, in_ch: int, out_ch: int, blur_kernel: Sequence[int] = (1, 3, 3, 1)) -> None:
        super().__init__()
        self.conv1 = ConvLayer(in_ch, in_ch, 3)
        self.conv2 = ConvLayer(in_ch, out_ch, 3, downsample=True, blur_kernel=blur_kernel)
        self.skip = ConvLayer(in_ch, out_ch, 1, downsample=True, blur_kernel=blur_kernel, activate=False, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (self.conv2(self.conv1(x)) + self.skip(x)) / math.sqrt(2)


class StyleGAN2Discriminator(nn.Module):
    def __init__(self, config: StyleGAN2Config) -> None:
        super().__init__()
        self.config = config
        c = config
        convs: list[nn.Module] = [ConvLayer(3, c.width(c.resolution), 1)]
        in_ch = c.width(c.resolution)
        for log_res in range(c.log_size, 2, -1):
            out_ch = c.width(2 ** (log_res - 1))
            convs.append(ResBlock(in_ch, out_ch, c.blur_kernel))
            in_ch = out_ch
        self.convs = nn.Sequential(*convs)
        self.stddev_group, self.stddev_feat = c.stddev_group, 1
        self.final_conv = ConvLayer(in_ch + 1, c.width(4), 3)
        self.final_linear = nn.Sequential(
            EqualLinear(c.width(4) * 4 * 4, c.width(4), activation=True), EqualLinear(c.width(4), 1),
        )

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        """(B, 3, R, R) -> (B, 1) logits."""
        out = self.convs(image)
        batch, channels, height, width = out.shape
        # Minibatch stddev: how much a group of samples differ, appended as one feature map, so the
        # discriminator can see a lack of variety (mode collapse). Groups of up to `stddev_group`; when
        # the batch does not divide, the largest group size that does (rosinality would fail there).
        group = max(g for g in range(1, min(batch, self.stddev_group) + 1) if batch % g == 0)
        stddev = out.view(group, -1, self.stddev_feat, channels // self.stddev_feat, height, width)
        stddev = torch.sqrt(stddev.var(0, unbiased=False) + 1e-8)
        stddev = stddev.mean([2, 3, 4], keepdim=True).squeeze(2)
        stddev = stddev.repeat(group, 1, height, width)
        out = self.final_conv(torch.cat([out, stddev], 1))
        return self.final_linear(out.view(batch, -1))


# ---------------------------------------------------------------------------------------------------
# rosinality checkpoints


FFHQ_ENV = "TOONLAB_STYLEGAN2_FFHQ"
FFHQ_FILE = "stylegan2-ffhq-config-f.pt"


def _read_checkpoint(path: Path) -> dict[str, Any]:
    if path.suffix == ".safetensors":
        from safetensors.torch import load_file

        return {"g_ema": load_file(str(path))}
    # Training checkpoints of rosinality's train.py also pickle its argparse.Namespace: allow only that.
    with torch.serialization.safe_globals([argparse.Namespace]):
        try:
            return torch.load(path, map_location="cpu", weights_only=True)
        except Exception as error:
            raise ValueError(
                f"{path} could not be loaded with torch.load(weights_only=True) ({error}). Only tensors, "
                "dicts and argparse.Namespace are accepted; re-save its 'g_ema' state dict with safetensors"
            ) from error


def config_from_state_dict(state: dict[str, torch.Tensor], **overrides: Any) -> StyleGAN2Config:
    """Infer resolution, style size, mapping depth and width table from a rosinality generator state dict."""
    try:
        n_mlp = sum(1 for k in state if k.startswith("style.") and k.endswith(".weight"))
        style_dim = state["style.1.weight"].shape[0]
        resolution = 2 ** (sum(1 for k in state if k.startswith("to_rgbs.") and k.endswith(".conv.weight")) + 2)
    except KeyError as error:
        raise ValueError(f"not a rosinality StyleGAN2 generator state dict: missing {error}") from error
    widths = {4: state["conv1.conv.weight"].shape[1]}
    for index in range(0, 2 * (int(math.log2(resolution)) - 2), 2):
        widths[2 ** (index // 2 + 3)] = state[f"convs.{index}.conv.weight"].shape[1]
    settings: dict[str, Any] = {"resolution": resolution, "style_dim": style_dim, "n_mlp": n_mlp}
    if resolution >= 64 and widths[64] % 256 == 0 and all(
            widths[r] == ROSINALITY_WIDTHS[r] * (widths[64] // 256 if r >= 64 else 1) for r in widths):
        settings["channel_multiplier"] = widths[64] // 256
    elif resolution < 64 and all(widths[r] == ROSINALITY_WIDTHS[r] for r in widths):
        pass
    else:  # a custom width table: express it as channel_base/channel_max if it has that shape
        base, top = widths[max(widths)] * max(widths), max(widths.values())
        if any(widths[r] != min(top, base // r) for r in widths):
            raise ValueError(f"unsupported width table {widths}; expected rosinality's or min(max, base // res)")
        settings.update(channel_base=base, channel_max=top)
    settings.update(overrides)
    return StyleGAN2Config(**settings)


def load_rosinality(source: str | os.PathLike[str] | dict[str, Any], key: str = "g_ema",
                    device: torch.device | str = "cpu") -> tuple[StyleGAN2Generator, torch.Tensor | None]:
    """Load a generator from a rosinality-layout checkpoint (``{"g_ema": ..., "latent_avg": ...}``).

    Returns ``(generator in eval mode, latent_avg or None)``. ``source`` is a ``.pt``/``.pth`` file, a
    ``.safetensors`` file holding the generator state dict, or an already loaded checkpoint dict.
    """
    if isinstance(source, dict):
        checkpoint = source
    else:
        path = Path(source)
        if not path.is_file():
            raise FileNotFoundError(f"no StyleGAN2 checkpoint at {path}")
        checkpoint = _read_checkpoint(path)
    if key not in checkpoint:
        raise ValueError(f"the checkpoint has no {key!r} entry; it has {sorted(checkpoint)}")
    state = checkpoint[key]
    generator = StyleGAN2Generator(config_from_state_dict(state))
    expected = generator.state_dict()
    missing = sorted(set(expected) - set(state))
    unexpected = sorted(set(state) - set(expected))
    wrong = sorted(k for k in set(expected) & set(state) if expected[k].shape != state[k].shape)
    if missing or unexpected or wrong:
        raise ValueError(
            "the state dict does not match the rosinality StyleGAN2 layout: "
            f"missing {missing[:5]}{'...' if len(missing) > 5 else ''}, unexpected {unexpected[:5]}, "
            f"wrong shapes {[(k, tuple(state[k].shape), tuple(expected[k].shape)) for k in wrong[:5]]}"
        )
    generator.load_state_dict(state)
    latent_avg = checkpoint.get("latent_avg")
    return generator.to(device).eval(), (latent_avg.to(device) if latent_avg is not None else None)


def ffhq_checkpoint(device: torch.device | str = "cpu") -> tuple[StyleGAN2Generator, torch.Tensor | None]:
    """The FFHQ 1024 px config-f generator that e4e / pSp / StyleCLIP start from (``full`` profile).

    Looked up at ``$TOONLAB_STYLEGAN2_FFHQ`` or ``<cache>/weights/stylegan2-ffhq-config-f.pt``.
    """
    from toonlab.paths import cache_dir
    from toonlab.zoo import WeightsMissingError

    path = Path(os.environ.get(FFHQ_ENV) or cache_dir("weights") / FFHQ_FILE)
    if not path.is_file():
        raise WeightsMissingError(
            f"the StyleGAN2 FFHQ checkpoint is not at {path}.\nFix: download '{FFHQ_FILE}' (rosinality/"
            "stylegan2-pytorch's conversion of NVIDIA's config-f, the file e4e and pSp link in their READMEs), "
            f"then put it there or set {FFHQ_ENV}=/path/to/{FFHQ_FILE}."
        )
    return load_rosinality(path, device=device)


@dataclass
class MixingNoise:
    """Style mixing: with probability ``prob`` a batch uses two latents (switching at a random layer)."""

    prob: float = 0.9
    device: Any = field(default="cpu")

    def __call__(self, batch: int, dim: int) -> list[torch.Tensor]:
        if self.prob > 0 and torch.rand(()).item() < self.prob:
            return list(torch.randn(2, batch, dim, device=self.device).unbind(0))
        return [torch.randn(batch, dim, device=self.device)]
