"""The sources' training losses, each returning its terms so the loss log shows what moved.

Images enter as the generator makes them, in [-1, 1]; perceptual distances and CLIP read [0, 1].
``perceptual`` is any module mapping ``(x, y)`` in [0, 1] to one distance per pair: LPIPS-VGG / DISTS in
``full``, LPIPS-toon / DISTS-toon offline (:func:`toonlab.metrics.perceptual_toon.build_perceptual_distance`).
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F

Distance = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


def to_unit(images: torch.Tensor) -> torch.Tensor:
    """[-1, 1] -> [0, 1], linear and unclamped (clamping would zero the gradient where it is needed)."""
    return (images + 1) / 2


def reconstruction_terms(generated: torch.Tensor, target: torch.Tensor, perceptual: Distance,
                         perceptual_weight: float = 1.0) -> dict[str, torch.Tensor]:
    """Per-image pixel MSE and perceptual distance (shape (B,) each): the loss of the pSp-style encoder,
    the per-image optimisation and the hybrid (pSp's L2 + LPIPS, without its face-ID and w-norm terms)."""
    mse = (generated - target).pow(2).flatten(1).mean(1)
    distance = perceptual(to_unit(generated), to_unit(target)).view(-1)
    return {"mse": mse, "perceptual": perceptual_weight * distance}


def popyou_terms(generated: torch.Tensor, target: torch.Tensor, clip_generated: torch.Tensor,
                 clip_target: torch.Tensor, perceptual: Distance, cos_weight: float = 0.6) -> dict[str, torch.Tensor]:
    """PopYou: MSE(img, gen) + LPIPS(img, gen) + MSE(clip(gen), clip(img)) - 0.6 |cos(clip(gen), clip(img))|."""
    return {
        "mse": F.mse_loss(generated, target),
        "perceptual": perceptual(to_unit(generated), to_unit(target)).mean(),
        "clip_mse": F.mse_loss(clip_generated, clip_target),
        "clip_cos": -cos_weight * F.cosine_similarity(clip_generated, clip_target, dim=-1).abs().mean(),
    }


def toyhollywood_terms(generated: torch.Tensor, target: torch.Tensor, clip: Callable[[torch.Tensor], torch.Tensor],
                       simclr_generated: torch.Tensor, simclr_target: torch.Tensor, dists: Distance,
                       clip_grad: bool) -> dict[str, torch.Tensor]:
    """ToyHollyWood: MSE(CLIP B/32) + (1 - cos) + DISTS + pixel MSE + SimCLR MSE.

    ``clip_grad=False`` reproduces the released code: the generated image's CLIP embedding is computed
    without a gradient, so both CLIP terms are constants to the optimiser — they are logged, but they
    train nothing. ``clip_grad=True`` is the fix: the same terms with their gradient.
    """
    with torch.no_grad():
        clip_target = clip(to_unit(target))
    if clip_grad:
        clip_generated = clip(to_unit(generated))
    else:
        with torch.no_grad():  # the bug, kept on purpose: no gradient flows through the CLIP terms
            clip_generated = clip(to_unit(generated))
    return {
        "clip_mse": F.mse_loss(clip_generated, clip_target),
        "clip_cos": (1 - F.cosine_similarity(clip_generated, clip_target, dim=-1)).mean(),
        "dists": dists(to_unit(generated), to_unit(target)).mean(),
        "mse": F.mse_loss(generated, target),
        "simclr_mse": F.mse_loss(simclr_generated, simclr_target),
    }


def csla_terms(predicted: torch.Tensor, true: torch.Tensor, weight: float = 5.0) -> dict[str, torch.Tensor]:
    """CelebrityLook: 5 * MSE(W+ predicted, W+ true) — data-free, no image loss."""
    return {"w_mse": weight * F.mse_loss(predicted, true)}
