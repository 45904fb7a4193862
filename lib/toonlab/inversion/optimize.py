"""Per-image latent optimisation (the quality ceiling) and the hybrid (an encoder's latent as the start).

Optimisation is the projector of StyleGAN2 (Karras et al. 2020, Appendix D; rosinality's
``projector.py``): Adam on the latent with a learning rate that ramps up over the first 5 % of the steps
and down with a cosine over the last 25 %, minimising the reconstruction loss (pixel MSE + a perceptual
distance) from the mean latent. The projector's noise-map optimisation and latent noise are left out:
our generators run with fixed noise, and the inversion is of the latent alone.

A batch is optimised at once but every image independently: the loss is the *sum* of per-image losses, so
image i's latent receives exactly image i's gradient, and Adam's update is element-wise.

The hybrid (e.g. e4e + optimisation, ReStyle's recommendation) runs the same optimisation for a few steps
from an encoder's output instead of from the mean.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch
from tqdm.auto import tqdm

from toonlab.inversion.generator import InversionGenerator

LossFn = Callable[[torch.Tensor, torch.Tensor], dict[str, torch.Tensor]]


@dataclass
class OptimizeConfig:
    steps: int = 500
    lr: float = 0.1  # rosinality's projector
    rampup: float = 0.05
    rampdown: float = 0.25

    def __post_init__(self) -> None:
        if self.steps < 1 or self.lr <= 0:
            raise ValueError(f"optimisation needs steps >= 1 and lr > 0, got {self.steps} / {self.lr}")


def learning_rate(t: float, config: OptimizeConfig) -> float:
    """The projector's schedule at progress ``t`` in [0, 1]."""
    ramp = min(1.0, (1 - t) / config.rampdown) if config.rampdown > 0 else 1.0
    ramp = 0.5 - 0.5 * math.cos(ramp * math.pi)
    if config.rampup > 0:
        ramp *= min(1.0, t / config.rampup)
    return config.lr * ramp


def optimize_latents(generator: InversionGenerator, targets: torch.Tensor, loss_fn: LossFn,
                     config: OptimizeConfig, init: torch.Tensor | None = None,
                     progress: bool = False) -> tuple[torch.Tensor, list[float]]:
    """Latents whose images match ``targets`` ([0, 1], at the generator's resolution), and the mean loss per step.

    ``loss_fn(generated, target)`` gets images in [-1, 1] and returns per-image terms of shape (B,), summed
    into the loss (:func:`toonlab.inversion.losses.reconstruction_terms`). ``init``: the start (default: the
    space's mean latent for every image).
    """
    targets = generator.check_targets(targets, "targets") * 2 - 1
    start = generator.mean_latent.expand(len(targets), *generator.latent_shape) if init is None else init
    if tuple(start.shape) != (len(targets), *generator.latent_shape):
        raise ValueError(f"init must have shape {(len(targets), *generator.latent_shape)}, got {tuple(start.shape)}")
    latent = start.detach().clone().requires_grad_(True)
    optimizer = torch.optim.Adam([latent], lr=config.lr)
    history = []
    with torch.enable_grad():
        for step in tqdm(range(config.steps), desc="optimise latents", disable=not progress, leave=False):
            for group in optimizer.param_groups:
                group["lr"] = learning_rate(step / config.steps, config)
            terms = loss_fn(generator(latent), targets)
            per_image = sum(terms.values())
            optimizer.zero_grad(set_to_none=True)
            per_image.sum().backward()
            optimizer.step()
            history.append(float(per_image.detach().mean()))
    return latent.detach(), history
