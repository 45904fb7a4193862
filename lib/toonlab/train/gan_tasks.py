"""The three GANs as :class:`~toonlab.train.loop.Task` objects: what one optimisation step does.

Every step follows its source: DCGAN's alternating BCE steps, the official FastGAN step (random-margin
hinge + self-supervised reconstruction, DiffAugment on both outputs), and rosinality's StyleGAN2 step
(logistic loss, style mixing, lazy R1 and path-length regularisation). ToyHollyWood's presets switch the
last two to the losses of the lucidrains libraries it trained with (fixed-margin hinge, gradient penalty
every 4th step). Images arrive in [0, 1] from the data layer and are mapped to [-1, 1] here.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import torch
from torch import nn

from toonlab.gan import losses
from toonlab.gan.dcgan import DCGANConfig, DCGANDiscriminator, DCGANGenerator
from toonlab.gan.fastgan import FastGANConfig, FastGANDiscriminator, FastGANGenerator, reconstruction_targets
from toonlab.gan.perceptual import build_reconstruction_loss
from toonlab.gan.precise_bn import render
from toonlab.gan.presets import GANPreset
from toonlab.gan.sampling import sample_latents
from toonlab.gan.stylegan2 import MixingNoise, StyleGAN2Config, StyleGAN2Discriminator, StyleGAN2Generator
from toonlab.train.diffaugment import DiffAugment
from toonlab.train.loop import Task, Trainer, TrainConfig


def images_from(batch: Any) -> torch.Tensor:
    """The image tensor of a batch ((images, labels) or images), mapped from [0, 1] to [-1, 1]."""
    images = batch[0] if isinstance(batch, (tuple, list)) else batch
    if images.ndim != 4:
        raise ValueError(f"expected a batch of images (B, C, H, W), got shape {tuple(images.shape)}")
    return images * 2 - 1


def set_requires_grad(model: nn.Module, flag: bool) -> None:
    for p in model.parameters():
        p.requires_grad_(flag)


class DCGANTask(Task):
    """Radford et al.: D on real then fake (separate BatchNorm batches), then the non-saturating G step."""

    def __init__(self, config: DCGANConfig, lr: float = 2e-4, betas: tuple[float, float] = (0.5, 0.999),
                 augment: str = "") -> None:
        self.config = config
        G, D = DCGANGenerator(config), DCGANDiscriminator(config)
        self.models = {"G": G, "D": D}
        self.optimizers = {"G": torch.optim.Adam(G.parameters(), lr=lr, betas=betas),
                           "D": torch.optim.Adam(D.parameters(), lr=lr, betas=betas)}
        self.augment = DiffAugment(augment)

    def train_step(self, batch, step, accelerator):
        G, D = self.models["G"], self.models["D"]
        real = images_from(batch)
        z = torch.randn(real.shape[0], self.config.latent_dim, device=real.device)
        with accelerator.autocast():
            fake = G(z)
            loss_d = losses.bce_discriminator(D(self.augment(real)), D(self.augment(fake.detach())))
        self.optimizers["D"].zero_grad(set_to_none=True)
        accelerator.backward(loss_d)
        self.optimizers["D"].step()
        with accelerator.autocast():
            fake_logits = D(self.augment(fake))
            loss_g = losses.bce_generator(fake_logits)
        self.optimizers["G"].zero_grad(set_to_none=True)
        accelerator.backward(loss_g)
        self.optimizers["G"].step()
        return {"loss_d": loss_d.detach(), "loss_g": loss_g.detach(),
                "d_fake": torch.sigmoid(fake_logits.detach()).mean()}


class FastGANTask(Task):
    """The official FastGAN step: D learns real (with reconstructions of the whole image, the small image
    and a random quarter) vs fake with a random-margin hinge; G minimises -D(G(z)).

    ``loss="hinge", gp_every=4`` is lucidrains' lightweight-gan's choice instead (what ToyHollyWood
    trained with): the fixed-margin hinge, and every 4th step a gradient penalty of weight ``gp_weight``
    added to that step's D loss. ``gp_form="real"``: (||grad|| - 1)^2 of the real logits at the real images
    (the toonlab default so far); ``gp_form="lightweight-gan"``: lightweight-gan 1.2.1's own, ||grad||^2
    (zero-centred) at the real and the fake images, averaged over both (the benchmark against it uses this).
    """

    GP_FORMS = ("real", "lightweight-gan")

    LOSSES = ("random_margin_hinge", "hinge")

    def __init__(self, config: FastGANConfig, lr: float = 2e-4, betas: tuple[float, float] = (0.5, 0.999),
                 augment: str = "color,translation", reconstruction_loss: str = "mse",
                 loss: str = "random_margin_hinge", gp_every: int = 0, gp_weight: float = 10.0,
                 gp_form: str = "real") -> None:
        if loss not in self.LOSSES:
            raise ValueError(f"FastGAN loss must be one of {self.LOSSES}, got {loss!r}")
        if gp_form not in self.GP_FORMS:
            raise ValueError(f"FastGAN gp_form must be one of {self.GP_FORMS}, got {gp_form!r}")
        self.gp_form = gp_form
        if gp_every < 0:
            raise ValueError(f"gp_every must be >= 0 (0 = no gradient penalty), got {gp_every}")
        self.loss, self.gp_every, self.gp_weight = loss, gp_every, gp_weight
        self.config = config
        G, D = FastGANGenerator(config), FastGANDiscriminator(config)
        self.models = {"G": G, "D": D}
        self.optimizers = {"G": torch.optim.Adam(G.parameters(), lr=lr, betas=betas),
                           "D": torch.optim.Adam(D.parameters(), lr=lr, betas=betas)}
        self.augment = DiffAugment(augment)
        self.reconstruction_loss_name = reconstruction_loss
        self._reconstruction_loss = None  # built lazily on the training device (LPIPS weights)

    def train_step(self, batch, step, accelerator):
        G, D = self.models["G"], self.models["D"]
        if self._reconstruction_loss is None:
            self._reconstruction_loss = build_reconstruction_loss(self.reconstruction_loss_name, accelerator.device)
        real = images_from(batch)
        z = torch.randn(real.shape[0], self.config.latent_dim, device=real.device)
        part = int(torch.randint(0, 4, ()).item())
        with_gp = self.gp_every > 0 and self.gp_weight > 0 and step % self.gp_every == 0
        with accelerator.autocast():
            fake_big, fake_small = G(z)
            # As officially: real is augmented once (D resizes it for its small branch); each fake output
            # is augmented on its own.
            real_input = real.detach().requires_grad_(with_gp)
            real_aug = self.augment(real_input)
            fakes = [self.augment(fake_big), self.augment(fake_small)]
            out_real = D(real_aug, part=part)
            targets = reconstruction_targets(real_aug.detach(), part, self.config.small_resolution)
            loss_rec = sum(self._reconstruction_loss(rec, tgt) for rec, tgt in zip(out_real.reconstructions, targets))
            fake_inputs = [f.detach().requires_grad_(with_gp and self.gp_form != "real") for f in fakes]
            fake_logits = D(fake_inputs).logits
            if self.loss == "hinge":
                loss_adv = losses.hinge_discriminator(out_real.logits, fake_logits)
            else:
                loss_adv = (losses.random_margin_hinge_real(out_real.logits)
                            + losses.random_margin_hinge_fake(fake_logits))
            loss_d = loss_adv + loss_rec
        logs = {}
        if with_gp and self.gp_form == "real":
            gp = losses.gradient_penalty(out_real.logits.float(), real_input)
        elif with_gp:  # lightweight-gan: the real and the fake rows together
            gp = torch.cat([losses.squared_gradient_norms(out_real.logits.float(), real_input),
                            losses.squared_gradient_norms(fake_logits.float(), fake_inputs)]).mean()
        if with_gp:
            loss_d = loss_d + self.gp_weight * gp
            logs["gp"] = gp.detach()
        self.optimizers["D"].zero_grad(set_to_none=True)
        accelerator.backward(loss_d)
        self.optimizers["D"].step()
        with accelerator.autocast():
            loss_g = losses.hinge_generator(D(fakes).logits)
        self.optimizers["G"].zero_grad(set_to_none=True)
        accelerator.backward(loss_g)
        self.optimizers["G"].step()
        return {"loss_d": loss_adv.detach(), "loss_rec": loss_rec.detach(), "loss_g": loss_g.detach(),
                "d_real": out_real.logits.detach().mean(), **logs}


class StyleGAN2Task(Task):
    """rosinality's train.py step by default: logistic D step, lazy R1; non-saturating G step with style
    mixing, lazy path-length regularisation. Lazy regularisation rescales lr and betas by k / (k + 1).

    ``loss="hinge", regulariser="gp", lazy_regularisation=False`` is instead the step of lucidrains'
    stylegan2-pytorch (what ToyHollyWood trained with): hinge losses, and every ``d_reg_every`` steps the
    gradient penalty added to that step's D loss, with no rescaling: ``gp_form="real"`` (||grad|| - 1)^2 at
    the real images (the toonlab default so far), ``gp_form="stylegan2-pytorch"`` that library's own (1.9.0),
    ||grad||^2 (zero-centred) at the real images plus the same at the fake images.
    """

    LOSSES = ("logistic", "hinge")
    REGULARISERS = ("r1", "gp")
    GP_FORMS = ("real", "stylegan2-pytorch")

    def __init__(self, config: StyleGAN2Config, lr: float = 2e-3, betas: tuple[float, float] = (0.0, 0.99),
                 d_lr_mult: float = 1.0, mixing_prob: float = 0.9, r1_gamma: float = 10.0, d_reg_every: int = 16,
                 pl_weight: float = 2.0, g_reg_every: int = 4, pl_batch_shrink: int = 2, augment: str = "",
                 loss: str = "logistic", regulariser: str = "r1", gp_weight: float = 10.0,
                 lazy_regularisation: bool = True, gp_form: str = "real") -> None:
        if gp_form not in self.GP_FORMS:
            raise ValueError(f"StyleGAN2 gp_form must be one of {self.GP_FORMS}, got {gp_form!r}")
        self.gp_form = gp_form
        if d_reg_every < 1 or g_reg_every < 1 or pl_batch_shrink < 1:
            raise ValueError("d_reg_every, g_reg_every and pl_batch_shrink must be >= 1")
        if loss not in self.LOSSES or regulariser not in self.REGULARISERS:
            raise ValueError(f"StyleGAN2 loss must be one of {self.LOSSES} (got {loss!r}) and regulariser one of "
                             f"{self.REGULARISERS} (got {regulariser!r})")
        self.config = config
        G, D = StyleGAN2Generator(config), StyleGAN2Discriminator(config)
        self.models = {"G": G, "D": D}
        g_ratio = g_reg_every / (g_reg_every + 1) if lazy_regularisation and pl_weight > 0 else 1.0
        d_ratio = (d_reg_every / (d_reg_every + 1)
                   if lazy_regularisation and regulariser == "r1" and r1_gamma > 0 else 1.0)
        self.optimizers = {
            "G": torch.optim.Adam(G.parameters(), lr=lr * g_ratio, betas=(betas[0] ** g_ratio, betas[1] ** g_ratio)),
            "D": torch.optim.Adam(D.parameters(), lr=lr * d_lr_mult * d_ratio,
                                  betas=(betas[0] ** d_ratio, betas[1] ** d_ratio)),
        }
        self.mixing_prob, self.r1_gamma, self.d_reg_every = mixing_prob, r1_gamma, d_reg_every
        self.loss, self.regulariser, self.gp_weight = loss, regulariser, gp_weight
        self.lazy_regularisation = lazy_regularisation
        self.pl_weight, self.g_reg_every, self.pl_batch_shrink = pl_weight, g_reg_every, pl_batch_shrink
        self.augment = DiffAugment(augment)
        self.mean_path_length = torch.zeros(())

    def state_dict(self) -> dict[str, Any]:
        return {"mean_path_length": self.mean_path_length.detach().cpu()}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        self.mean_path_length = state["mean_path_length"].clone()

    def train_step(self, batch, step, accelerator):
        G, D = self.models["G"], self.models["D"]
        real = images_from(batch)
        batch_size, style_dim = real.shape[0], self.config.style_dim
        noise = MixingNoise(self.mixing_prob, real.device)
        logs: dict[str, torch.Tensor] = {}

        set_requires_grad(G, False)
        set_requires_grad(D, True)
        d_loss = losses.hinge_discriminator if self.loss == "hinge" else losses.logistic_discriminator
        with_gp = self.regulariser == "gp" and self.gp_weight > 0 and step % self.d_reg_every == 0
        with accelerator.autocast():
            fake, _ = G(noise(batch_size, style_dim))
            real_input = real.detach().requires_grad_(with_gp)
            real_logits = D(self.augment(real_input))
            fake_input = self.augment(fake).detach().requires_grad_(with_gp and self.gp_form != "real")
            fake_logits = D(fake_input)
            loss_d = d_loss(real_logits, fake_logits)
        logs["loss_d"] = loss_d.detach()
        if with_gp and self.gp_form == "real":
            gp = losses.gradient_penalty(real_logits.float(), real_input)
        elif with_gp:  # stylegan2-pytorch: the real and the fake penalties summed
            gp = (losses.squared_gradient_norms(real_logits.float(), real_input).mean()
                  + losses.squared_gradient_norms(fake_logits.float(), fake_input).mean())
        if with_gp:
            loss_d = loss_d + self.gp_weight * gp
            logs["gp"] = gp.detach()
        self.optimizers["D"].zero_grad(set_to_none=True)
        accelerator.backward(loss_d)
        self.optimizers["D"].step()

        if self.regulariser == "r1" and self.r1_gamma > 0 and step % self.d_reg_every == 0:
            real_input = real.detach().requires_grad_(True)
            real_logits = D(self.augment(real_input))
            r1 = losses.r1_penalty(real_logits, real_input)
            self.optimizers["D"].zero_grad(set_to_none=True)
            # x d_reg_every: the penalty is applied 1/k as often; + 0 * logit keeps every D output in the graph
            scale = self.d_reg_every if self.lazy_regularisation else 1
            accelerator.backward(self.r1_gamma / 2 * r1 * scale + 0 * real_logits[0].sum())
            self.optimizers["D"].step()
            logs["r1"] = r1.detach()

        set_requires_grad(G, True)
        set_requires_grad(D, False)
        with accelerator.autocast():
            fake, _ = G(noise(batch_size, style_dim))
            g_loss = losses.hinge_generator if self.loss == "hinge" else losses.logistic_generator
            loss_g = g_loss(D(self.augment(fake)))
        self.optimizers["G"].zero_grad(set_to_none=True)
        accelerator.backward(loss_g)
        self.optimizers["G"].step()
        logs["loss_g"] = loss_g.detach()

        if self.pl_weight > 0 and step % self.g_reg_every == 0:
            path_batch = max(1, batch_size // self.pl_batch_shrink)
            fake, latents = G(noise(path_batch, style_dim), return_latents=True)
            penalty, self.mean_path_length, path_lengths = losses.path_length_penalty(
                fake, latents, self.mean_path_length.to(fake.device))
            self.optimizers["G"].zero_grad(set_to_none=True)
            scale = self.g_reg_every if self.lazy_regularisation else 1
            accelerator.backward(self.pl_weight * scale * penalty + 0 * fake[0, 0, 0, 0])
            self.optimizers["G"].step()
            logs["path_length"] = path_lengths.mean()
        set_requires_grad(D, True)
        return logs


def build_task(preset: GANPreset) -> Task:
    """The task a preset describes (networks initialised from the current torch seed)."""
    common = dict(lr=preset.lr, betas=tuple(preset.betas), augment=preset.augment)
    if preset.kind == "dcgan":
        return DCGANTask(preset.model, **common, **preset.options)
    if preset.kind == "fastgan":
        return FastGANTask(preset.model, **common, **preset.options)
    return StyleGAN2Task(preset.model, **common, **preset.options)


def train_config(preset: GANPreset, **overrides: Any) -> TrainConfig:
    """The loop settings a preset implies (EMA of G when the source used one)."""
    settings: dict[str, Any] = dict(steps=preset.steps, batch_size=preset.batch_size,
                                    ema={"G": preset.ema_decay} if preset.ema_decay else {})
    settings.update(overrides)
    return TrainConfig(**settings)


def gan_sampler(n: int, seed: int, psi: float = 1.0, model: str = "G") -> Callable[[Trainer], torch.Tensor]:
    """For :class:`~toonlab.train.callbacks.SampleGrid`: ``n`` images in [0, 1] from fixed latents (the
    EMA generator when there is one), generated in eval mode (BatchNorm recalibrated on a copy, see
    :mod:`toonlab.gan.precise_bn`: the trained model and the RNG are untouched)."""

    def sample(trainer: Trainer) -> torch.Tensor:
        G = trainer.model(model)
        z = sample_latents(n, G.latent_dim, seed, device=next(G.parameters()).device)
        return render(G, z, psi=psi, seed=seed)

    return sample
