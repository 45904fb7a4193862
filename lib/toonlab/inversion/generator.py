"""A frozen generator seen through the latent space an inversion method writes into.

Every inversion method in chapter 05 ends the same way: a latent goes into a frozen generator and an
image comes out. :class:`InversionGenerator` gives the three ways of doing that one interface:

* ``"z"`` — the generator's input noise. FastGAN has only this space (PopYou's mapper writes z); for
  StyleGAN2 it is the input of the mapping network ("style vectoriser"), which is where ToyHollyWood's
  SimCLR mapper writes;
* ``"w"`` — StyleGAN2's intermediate latent, one 512-d style broadcast to every layer;
* ``"w+"`` — one style per synthesis layer (``n_latent`` rows): what pSp/e4e encoders, CelebrityLook's
  mapper and most latent optimisation write.

The generator is frozen (no parameter gets a gradient, the latent does), in eval mode, and
deterministic: StyleGAN2 uses its stored noise maps rather than fresh noise, and FastGAN's BatchNorm
statistics are recomputed on 256 seeded latents ("precise BN", :mod:`toonlab.gan.precise_bn`), so an
image depends on its latent alone.
"""

from __future__ import annotations

import torch
from torch import nn

from toonlab.gan.fastgan import FastGANGenerator
from toonlab.gan.precise_bn import batch_norms, recalibrated
from toonlab.gan.sampling import sample_latents
from toonlab.gan.stylegan2 import StyleGAN2Generator

SPACES = {"fastgan": ("z",), "stylegan2": ("z", "w", "w+")}


class LatentSpaceError(ValueError):
    """A latent space or a target image that does not fit the generator."""


def generator_kind(generator: nn.Module) -> str:
    if isinstance(generator, FastGANGenerator):
        return "fastgan"
    if isinstance(generator, StyleGAN2Generator):
        return "stylegan2"
    raise LatentSpaceError(f"inversion supports FastGAN and StyleGAN2 generators, got {type(generator).__name__}")


class InversionGenerator(nn.Module):
    """``generator`` frozen, with latents of ``space`` in and images in [-1, 1] out.

    ``mean_latent`` (a buffer) is the space's centre: zeros for z (the mean of N(0, I)), and for w / W+ the
    average style of ``n_mean`` seeded z — the "mean-latent baseline" every method must beat, and the
    start of optimisation and of pSp's encoder ("start from latent average").
    """

    def __init__(self, generator: nn.Module, space: str, n_mean: int = 4096, seed: int = 0) -> None:
        super().__init__()
        self.kind = generator_kind(generator)
        if space not in SPACES[self.kind]:
            raise LatentSpaceError(f"a {self.kind} generator has latent spaces {SPACES[self.kind]}, not {space!r}")
        self.space = space
        if batch_norms(generator):
            generator = recalibrated(generator, seed=seed)  # an eval-mode copy with exact BatchNorm statistics
        self.generator = generator.eval().requires_grad_(False)
        with torch.no_grad():
            if space == "z":
                mean = torch.zeros(generator.latent_dim)
            else:
                mean = generator.mean_latent(n_mean, seed=seed)[0].cpu()
                if space == "w+":
                    mean = mean.repeat(generator.n_latent, 1)
        self.register_buffer("mean_latent", mean.to(next(generator.parameters()).device))
        # StyleGAN2 pixel-normalises z before mapping it, so z's scale is invisible in the image: z latents are
        # compared as the w they map to, against the mean w (see :meth:`identifiable`)
        identifiable_mean = (generator.mean_latent(n_mean, seed=seed)[0] if self.kind == "stylegan2" and space == "z"
                             else self.mean_latent)
        self.register_buffer("identifiable_mean", identifiable_mean.detach().clone())

    def train(self, mode: bool = True) -> InversionGenerator:  # the generator stays in eval mode
        return self

    @property
    def resolution(self) -> int:
        return int(self.generator.config.resolution)

    @property
    def latent_shape(self) -> tuple[int, ...]:
        return tuple(self.mean_latent.shape)

    @property
    def latent_dim(self) -> int:
        """Width of one latent row (z's dimension or the style dimension)."""
        return int(self.mean_latent.shape[-1])

    def _noise(self) -> list[torch.Tensor]:
        return [getattr(self.generator.noises, f"noise_{i}") for i in range(self.generator.num_layers)]

    def forward(self, latent: torch.Tensor) -> torch.Tensor:
        """Images in [-1, 1] of latents ``(B, *latent_shape)``."""
        if tuple(latent.shape[1:]) != self.latent_shape:
            raise LatentSpaceError(f"{self.kind} {self.space} latents have shape (B, {', '.join(map(str, self.latent_shape))}), "
                                   f"got {tuple(latent.shape)}")
        if self.kind == "fastgan":
            return self.generator(latent)[0]
        image, _ = self.generator([latent], input_is_latent=self.space != "z", noise=self._noise())
        return image

    @torch.no_grad()
    def from_z(self, z: torch.Tensor) -> torch.Tensor:
        """The latents in this space of Gaussian inputs ``z`` (known answers for tests and the chapter)."""
        if self.space == "z":
            return z
        w = self.generator.style(z)
        return w if self.space == "w" else w.unsqueeze(1).repeat(1, self.generator.n_latent, 1)

    @torch.no_grad()
    def identifiable(self, latents: torch.Tensor) -> torch.Tensor:
        """Latents in coordinates the image can tell apart, for latent-recovery errors: StyleGAN2's z as
        the w it maps to (z and 2z make the same image); every other space as it is. Compare with
        ``identifiable_mean``, the mean-latent baseline in the same coordinates."""
        return self.generator.style(latents) if self.kind == "stylegan2" and self.space == "z" else latents

    @torch.no_grad()
    def sample(self, n: int, seed: int, batch_size: int = 64) -> tuple[torch.Tensor, torch.Tensor]:
        """``n`` seeded latents of this space and their images in [0, 1] (generated inputs with a known answer)."""
        device = self.mean_latent.device
        latents = self.from_z(sample_latents(n, self.generator.latent_dim, seed, device=device))
        images = torch.cat([self(chunk) for chunk in latents.split(batch_size)])
        return latents, ((images + 1) / 2).clamp(0, 1)

    def check_targets(self, images: torch.Tensor, name: str = "images") -> torch.Tensor:
        """Images an inversion can aim at: float (N, 3, R, R) in [0, 1] at this generator's resolution R.

        Nothing is resized here: a target of another size means the data and the generator disagree,
        which is a mistake to fix where the images are loaded, not to paper over.
        """
        size = self.resolution
        if not isinstance(images, torch.Tensor) or images.ndim != 4:
            raise LatentSpaceError(f"{name}: expected a tensor (N, 3, {size}, {size}), got "
                                   f"{getattr(images, 'shape', type(images).__name__)}")
        if images.shape[1] != 3:
            raise LatentSpaceError(f"{name} have {images.shape[1]} channels; the generator makes RGB images: "
                                   f"convert them to RGB (PIL .convert('RGB')) when loading")
        if tuple(images.shape[-2:]) != (size, size):
            raise LatentSpaceError(f"{name} are {tuple(images.shape[-2:])} px but the {self.kind} generator makes "
                                   f"{size}x{size}: load the images at resolution {size} (nothing is resized "
                                   f"silently to fit a generator)")
        if not images.is_floating_point() or images.min() < 0 or images.max() > 1:
            raise LatentSpaceError(f"{name} must be floats in [0, 1] (dtype {images.dtype}, range "
                                   f"[{images.min().item():.3g}, {images.max().item():.3g}])")
        return images
