"""Inverters: each method as one object with ``latents(images)`` and ``__call__(images)`` (-> images).

They only compose frozen parts from this package — an encoder or mapper, CLIP or SimCLR, and the
generator — so the chapter, the benchmark and the tests run every method the same way. Images in and
out are in [0, 1] at the generator's resolution (checked, never resized).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from toonlab.inversion.clip_encoder import DifferentiableClip
from toonlab.inversion.encoders import PSPEncoder, SimCLR
from toonlab.inversion.generator import InversionGenerator
from toonlab.inversion.mappers import CSLAMapper, PopYouMapper, ToyHollyWoodMapper
from toonlab.inversion.optimize import LossFn, OptimizeConfig, optimize_latents


class Inverter:
    """Base: ``latents(images)`` in the generator's space; calling it gives the reconstructions."""

    generator: InversionGenerator
    trainable: tuple[nn.Module, ...] = ()  # the networks trained for this method (parameter counts)

    def latents(self, images: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    @torch.no_grad()
    def render(self, latents: torch.Tensor, batch_size: int = 64) -> torch.Tensor:
        images = torch.cat([self.generator(chunk) for chunk in latents.split(batch_size)])
        return ((images + 1) / 2).clamp(0, 1)

    def __call__(self, images: torch.Tensor) -> torch.Tensor:
        return self.render(self.latents(images))


class MeanLatent(Inverter):
    """The baseline every method must beat: the space's mean latent, whatever the input."""

    def __init__(self, generator: InversionGenerator) -> None:
        self.generator = generator

    def latents(self, images: torch.Tensor) -> torch.Tensor:
        self.generator.check_targets(images)
        return self.generator.mean_latent.expand(len(images), *self.generator.latent_shape).clone()


class EncoderInverter(Inverter):
    def __init__(self, encoder: PSPEncoder, generator: InversionGenerator) -> None:
        self.encoder, self.generator, self.trainable = encoder.eval(), generator, (encoder,)

    @torch.no_grad()
    def latents(self, images: torch.Tensor) -> torch.Tensor:
        return self.encoder(self.generator.check_targets(images).to(self.generator.mean_latent.device))


class OptimizationInverter(Inverter):
    """Per-image optimisation from the mean latent; with ``init`` (an inverter) it is the hybrid."""

    def __init__(self, generator: InversionGenerator, loss_fn: LossFn, config: OptimizeConfig,
                 init: Inverter | None = None) -> None:
        self.generator, self.loss_fn, self.config, self.init = generator, loss_fn, config, init
        self.trainable = init.trainable if init is not None else ()
        self.history: list[float] = []

    def latents(self, images: torch.Tensor) -> torch.Tensor:
        images = self.generator.check_targets(images).to(self.generator.mean_latent.device)
        start = self.init.latents(images) if self.init is not None else None
        latents, self.history = optimize_latents(self.generator, images, self.loss_fn, self.config, init=start)
        return latents


class ClipMapperInverter(Inverter):
    """image -> CLIP image embedding -> mapper -> latent; :meth:`from_text` puts the CLIP text embedding in
    place of the image embedding (the mappers train on images only)."""

    def __init__(self, clip: DifferentiableClip, mapper: nn.Module, generator: InversionGenerator) -> None:
        self.clip, self.mapper, self.generator, self.trainable = clip, mapper.eval(), generator, (mapper,)

    @torch.no_grad()
    def latents(self, images: torch.Tensor) -> torch.Tensor:
        images = self.generator.check_targets(images).to(self.generator.mean_latent.device)
        return self.mapper(self.clip.encode_image(images))

    @torch.no_grad()
    def from_text(self, prompts: Sequence[str]) -> torch.Tensor:
        return self.render(self.mapper(self.clip.encode_text(prompts)))


class PopYouInverter(ClipMapperInverter):
    """PopYou: CLIP image embedding -> PopYou mapper -> z; text -> toy by swapping in the text embedding."""

    def __init__(self, clip: DifferentiableClip, mapper: PopYouMapper, generator: InversionGenerator) -> None:
        super().__init__(clip, mapper, generator)


class ToyHollyWoodInverter(Inverter):
    """image -> SimCLR features s -> s + mapper(s) -> StyleGAN2's style vectoriser."""

    def __init__(self, simclr: SimCLR, mapper: ToyHollyWoodMapper, generator: InversionGenerator) -> None:
        self.simclr, self.mapper, self.generator = simclr.eval(), mapper.eval(), generator
        self.trainable = (simclr, mapper)

    @torch.no_grad()
    def latents(self, images: torch.Tensor) -> torch.Tensor:
        images = self.generator.check_targets(images).to(self.generator.mean_latent.device)
        return self.mapper(self.simclr.backbone(images))


class CSLAInverter(ClipMapperInverter):
    """CelebrityLook's E_I(x) = mapper(CLIP(x)) in W+; :meth:`from_text` is E_T(t)."""

    def __init__(self, clip: DifferentiableClip, mapper: CSLAMapper, generator: InversionGenerator) -> None:
        super().__init__(clip, mapper, generator)
