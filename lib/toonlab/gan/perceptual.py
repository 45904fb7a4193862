"""Reconstruction losses for FastGAN's self-supervised discriminator.

The official FastGAN uses LPIPS-VGG (pretrained weights); lightweight-gan, which ToyHollyWood ran, uses
a plain MSE. Both are offered by name, and the choice is recorded with the run: there is no silent
fallback from one to the other. LPIPS comes from ``piq``, whose weights are fetched from the internet on
first use; we check the torch hub cache first and fail at once, with instructions, when they are absent.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import torch
import torch.nn.functional as F

RECONSTRUCTION_LOSSES = ("mse", "lpips")
_LPIPS_FILES = {
    "vgg16-397923af.pth": "https://download.pytorch.org/models/vgg16-397923af.pth",
    "lpips_weights.pt": "https://github.com/photosynthesis-team/photosynthesis.metrics/releases/download/v0.4.0/lpips_weights.pt",
}


def _lpips_weights_present() -> list[str]:
    folder = Path(torch.hub.get_dir()) / "checkpoints"
    return [name for name in _LPIPS_FILES if not (folder / name).is_file()]


def build_reconstruction_loss(kind: str, device: torch.device | str = "cpu") -> Callable[[torch.Tensor, torch.Tensor], torch.Tensor]:
    """A loss ``(reconstruction, target) -> scalar`` for images in [-1, 1].

    ``"mse"``: mean squared error (lightweight-gan). ``"lpips"``: per-image LPIPS-VGG summed over the batch
    (official FastGAN), via ``piq.LPIPS`` on images mapped to [0, 1].
    """
    if kind == "mse":
        return F.mse_loss
    if kind != "lpips":
        raise ValueError(f"unknown reconstruction loss {kind!r}; choose one of {list(RECONSTRUCTION_LOSSES)}")
    missing = _lpips_weights_present()
    if missing:
        from toonlab.zoo import WeightsMissingError

        folder = Path(torch.hub.get_dir()) / "checkpoints"
        fetch = "\n".join(f"    {_LPIPS_FILES[name]}" for name in missing)
        raise WeightsMissingError(
            f"FastGAN's LPIPS reconstruction loss needs pretrained weights that are not in {folder}: {missing}.\n"
            f"Fix: download\n{fetch}\ninto {folder} (or set TORCH_HOME), or train with "
            "reconstruction_loss='mse' (lightweight-gan's choice, no weights needed)."
        )
    import piq

    lpips = piq.LPIPS(reduction="none").to(device).eval().requires_grad_(False)

    def loss(reconstruction: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        to_unit = lambda x: ((x + 1) / 2).clamp(0, 1)  # noqa: E731 - piq expects [0, 1]
        return lpips(to_unit(reconstruction.float()), to_unit(target.float())).sum()

    return loss
