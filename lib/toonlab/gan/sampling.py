"""Latents, truncation and interpolation, shared by all three generators.

* ``sample_latents``: seeded Gaussian latents that do not touch the global RNG (fixed sample grids).
* ``truncated_normal``: the z-space truncation trick (BigGAN): resample |z_i| > threshold.
* ``truncate``: the w-space truncation trick (StyleGAN): w' = w_avg + psi (w - w_avg).
* ``slerp`` / ``lerp`` and ``interpolation_path``: walks between latents (slerp for Gaussian z, whose mass
  lives on a sphere; lerp for StyleGAN's w).
"""

from __future__ import annotations

import torch


def sample_latents(n: int, dim: int, seed: int, device: torch.device | str = "cpu") -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    return torch.randn(n, dim, generator=generator).to(device)


def truncated_normal(n: int, dim: int, threshold: float, seed: int, device: torch.device | str = "cpu") -> torch.Tensor:
    """Standard normal latents with every |z_i| <= ``threshold`` (rejected values are redrawn)."""
    if threshold <= 0:
        raise ValueError(f"truncation threshold must be > 0, got {threshold}")
    generator = torch.Generator().manual_seed(seed)
    z = torch.randn(n, dim, generator=generator)
    outside = z.abs() > threshold
    while outside.any():
        z[outside] = torch.randn(int(outside.sum()), generator=generator)
        outside = z.abs() > threshold
    return z.to(device)


def truncate(w: torch.Tensor, w_avg: torch.Tensor, psi: float) -> torch.Tensor:
    """StyleGAN truncation: pull styles towards the average style (psi=1 no change, psi=0 the mean face)."""
    if not 0.0 <= psi <= 1.0:
        raise ValueError(f"truncation psi must be in [0, 1], got {psi}")
    return w_avg + psi * (w - w_avg)


def lerp(a: torch.Tensor, b: torch.Tensor, t: float | torch.Tensor) -> torch.Tensor:
    return a + (b - a) * t


def slerp(a: torch.Tensor, b: torch.Tensor, t: float | torch.Tensor, eps: float = 1e-7) -> torch.Tensor:
    """Spherical interpolation along the last dimension (magnitudes interpolated linearly)."""
    t = torch.as_tensor(t, dtype=a.dtype, device=a.device)
    a_norm, b_norm = a.norm(dim=-1, keepdim=True), b.norm(dim=-1, keepdim=True)
    a_unit, b_unit = a / a_norm.clamp_min(eps), b / b_norm.clamp_min(eps)
    cos = (a_unit * b_unit).sum(-1, keepdim=True).clamp(-1 + eps, 1 - eps)
    omega = torch.acos(cos)
    sin = torch.sin(omega)
    direction = (torch.sin((1 - t) * omega) * a_unit + torch.sin(t * omega) * b_unit) / sin
    return direction * lerp(a_norm, b_norm, t)


def interpolation_path(a: torch.Tensor, b: torch.Tensor, steps: int, spherical: bool = True) -> torch.Tensor:
    """``steps`` latents from ``a`` to ``b`` (both ends included): (steps, *a.shape)."""
    if steps < 2:
        raise ValueError(f"an interpolation needs at least 2 steps, got {steps}")
    ts = torch.linspace(0, 1, steps, dtype=a.dtype, device=a.device)
    walk = slerp if spherical else lerp
    return torch.stack([walk(a, b, t) for t in ts])
