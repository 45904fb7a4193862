"""Sampling from a generator with BatchNorm: recompute its statistics first ("precise BN").

DCGAN and FastGAN normalise with BatchNorm. In eval mode a layer divides by its running variance, an
exponential average that starts at 1. With the papers' N(0, 0.02) initialisation the real activations
have a far smaller variance, so for the first hundreds of steps the running average lags them. Eval-mode
samples then come out as flat grey squares that show neither what the generator learned nor how it
collapsed. The reference code of both papers samples in train mode with each batch's own statistics,
which makes an image depend on the rest of its batch.

We take a third way, "precise BN" (Wu & Johnson, *Rethinking "Batch" in BatchNorm*, 2021). On a copy
of the generator, the running statistics are replaced by exact averages over ``n`` seeded random
latents, and the copy samples in eval mode. The statistics then match the current weights, every image
depends only on its own latent, and the training model is left untouched: it keeps its buffers and its
RNG, so resume stays exact. This is our choice, not the sources': the chapters say so.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from contextlib import contextmanager

import torch
from torch import nn

from toonlab.gan import generate
from toonlab.gan.sampling import sample_latents
from toonlab.gan.stylegan2 import StyleGAN2Generator


def batch_norms(model: nn.Module) -> list[nn.modules.batchnorm._BatchNorm]:
    return [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]


@torch.no_grad()
def recalibrated(generator: nn.Module, n: int = 256, batch_size: int = 64, seed: int = 0) -> nn.Module:
    """An eval-mode copy of ``generator`` whose BatchNorm statistics are averages over ``n`` latents."""
    if n < 2 or batch_size < 2:  # BatchNorm in train mode needs two or more samples per batch
        raise ValueError(f"precise BN needs n >= 2 and batch_size >= 2, got n={n}, batch_size={batch_size}")
    calibrated = copy.deepcopy(generator)
    norms = batch_norms(calibrated)
    for norm in norms:
        norm.reset_running_stats()
        norm.momentum = None  # None: a cumulative average over every batch seen, not an exponential one
    calibrated.train()
    device = next(calibrated.parameters()).device
    z = sample_latents(n, calibrated.latent_dim, seed, device=device)
    for chunk in z.split(batch_size):
        if len(chunk) > 1:  # a last batch of one cannot be normalised in train mode
            calibrated(chunk)
    for norm, original in zip(norms, batch_norms(generator)):
        norm.momentum = original.momentum
    return calibrated.eval()


@contextmanager
def sampling_mode(generator: nn.Module, n: int = 256, batch_size: int = 64, seed: int = 0) -> Iterator[nn.Module]:
    """The generator ready to sample: a recalibrated eval-mode copy when it has BatchNorm. Without
    BatchNorm (StyleGAN2) it is the generator itself in eval mode, with its training flag restored after."""
    if batch_norms(generator):
        yield recalibrated(generator, n=n, batch_size=batch_size, seed=seed)
        return
    was_training = generator.training
    generator.eval()
    try:
        yield generator
    finally:
        generator.train(was_training)


@torch.no_grad()
def render(generator: nn.Module, z: torch.Tensor, psi: float = 1.0, seed: int = 0, batch_size: int = 64) -> torch.Tensor:
    """Images in [0, 1] of latents ``z``, batched, in :func:`sampling_mode`, with StyleGAN2's w-space
    truncation when ``psi`` < 1 (its mean w estimated from 4,096 latents of ``seed``)."""
    with sampling_mode(generator, seed=seed) as G:
        w_avg = G.mean_latent(4096, seed=seed) if psi < 1 and isinstance(G, StyleGAN2Generator) else None
        images = torch.cat([generate(G, chunk, psi=psi, w_avg=w_avg) for chunk in z.split(batch_size)])
    return ((images.float() + 1) / 2).clamp(0, 1)
