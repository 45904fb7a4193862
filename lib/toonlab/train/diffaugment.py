"""DiffAugment (Zhao et al. 2020, "Differentiable Augmentation for Data-Efficient GAN Training").

The same random, differentiable transformations are applied to real and fake images before the
discriminator sees them (and, for the generator's loss, to the fakes again), so D cannot memorise a
small training set while G still gets gradients through the augmentation. Policies, as in the paper:

* ``color``: brightness (+U(-0.5, 0.5)), saturation (x U(0, 2)), contrast (x U(0.5, 1.5));
* ``translation``: integer shift by up to 1/8 of the size, zero-filled;
* ``cutout``: one zeroed square of half the size at a random centre.

Images are expected in [-1, 1]. Written here because no installed library provides these exact
differentiable ops (kornia's augmentations differ in parameterisation and are not a dependency).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F

POLICIES = ("color", "translation", "cutout")


def parse_policy(policy: str | Sequence[str]) -> tuple[str, ...]:
    """``"color,translation"`` or ``["color", "translation"]`` -> a checked tuple; ``""`` means none."""
    names = [p.strip() for p in (policy.split(",") if isinstance(policy, str) else policy) if p.strip()]
    unknown = [p for p in names if p not in POLICIES]
    if unknown:
        raise ValueError(f"unknown DiffAugment policy {unknown}; choose from {list(POLICIES)}, comma-separated")
    return tuple(names)


def _uniform(x: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
    return torch.rand(x.shape[0], 1, 1, 1, device=x.device, dtype=x.dtype, generator=generator)


def color(x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
    x = x + (_uniform(x, generator) - 0.5)  # brightness
    mean = x.mean(dim=1, keepdim=True)
    x = (x - mean) * (_uniform(x, generator) * 2) + mean  # saturation
    mean = x.mean(dim=(1, 2, 3), keepdim=True)
    return (x - mean) * (_uniform(x, generator) + 0.5) + mean  # contrast


def translation(x: torch.Tensor, ratio: float = 0.125, generator: torch.Generator | None = None) -> torch.Tensor:
    batch, _, height, width = x.shape
    max_dy, max_dx = int(height * ratio + 0.5), int(width * ratio + 0.5)
    dy = torch.randint(-max_dy, max_dy + 1, (batch, 1, 1), device=x.device, generator=generator)
    dx = torch.randint(-max_dx, max_dx + 1, (batch, 1, 1), device=x.device, generator=generator)
    # Output pixel (i, j) reads input pixel (i - dy, j - dx); reading from a one-pixel zero border
    # (clamped indices) fills what the shift uncovered, exactly like the paper's padded gather.
    rows = torch.arange(height, device=x.device).view(1, height, 1) - dy + 1
    cols = torch.arange(width, device=x.device).view(1, 1, width) - dx + 1
    rows = rows.clamp(0, height + 1).expand(batch, height, width)
    cols = cols.clamp(0, width + 1).expand(batch, height, width)
    padded = F.pad(x, [1, 1, 1, 1])
    batch_index = torch.arange(batch, device=x.device).view(batch, 1, 1).expand(batch, height, width)
    # padded[b, :, rows, cols] gathers all channels at once; move channels back to dim 1.
    return padded.permute(0, 2, 3, 1)[batch_index, rows, cols].permute(0, 3, 1, 2)


def cutout(x: torch.Tensor, ratio: float = 0.5, generator: torch.Generator | None = None) -> torch.Tensor:
    batch, _, height, width = x.shape
    size_y, size_x = int(height * ratio + 0.5), int(width * ratio + 0.5)
    cy = torch.randint(0, height + (1 - size_y % 2), (batch, 1, 1), device=x.device, generator=generator)
    cx = torch.randint(0, width + (1 - size_x % 2), (batch, 1, 1), device=x.device, generator=generator)
    # The square covers rows cy - size_y//2 .. cy - size_y//2 + size_y - 1 (cropped at the border).
    dy = torch.arange(height, device=x.device).view(1, height, 1) - cy + size_y // 2
    dx = torch.arange(width, device=x.device).view(1, 1, width) - cx + size_x // 2
    inside = (dy >= 0) & (dy < size_y) & (dx >= 0) & (dx < size_x)
    mask = (~inside).to(x.dtype).unsqueeze(1)
    return x * mask


_OPS = {"color": color, "translation": translation, "cutout": cutout}


def diff_augment(x: torch.Tensor, policy: str | Sequence[str] = "color,translation,cutout",
                 generator: torch.Generator | None = None) -> torch.Tensor:
    """Apply the policy's transformations in the paper's order (color, translation, cutout)."""
    if x.ndim != 4:
        raise ValueError(f"DiffAugment expects a batch of images (B, C, H, W), got shape {tuple(x.shape)}")
    for name in parse_policy(policy):
        x = _OPS[name](x, generator=generator)
    return x.contiguous()


class DiffAugment(torch.nn.Module):
    """Module form of :func:`diff_augment` (identity when the policy is empty)."""

    def __init__(self, policy: str | Sequence[str] = "color,translation,cutout") -> None:
        super().__init__()
        self.policy = parse_policy(policy)

    def forward(self, x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        return diff_augment(x, self.policy, generator) if self.policy else x

    def extra_repr(self) -> str:
        return ",".join(self.policy) or "none"
