"""The source projects' GAN settings as presets (METHODS.md), plus tiny ``ci`` variants.

A preset is data: which network, its config, the optimisation hyperparameters and the evaluation
protocol, with a note on where each value comes from and what the source left unsaid (and what we
chose there). :func:`toonlab.train.gan_tasks.build_task` turns one into a trainable task.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

from toonlab.gan.dcgan import DCGANConfig
from toonlab.gan.fastgan import FastGANConfig
from toonlab.gan.stylegan2 import StyleGAN2Config

ModelConfig = DCGANConfig | FastGANConfig | StyleGAN2Config


@dataclass(frozen=True)
class GANPreset:
    name: str
    source: str  # the project (and code base) the numbers come from
    model: ModelConfig
    batch_size: int
    steps: int
    lr: float
    betas: tuple[float, float]
    ema_decay: float | None = None
    augment: str = ""  # DiffAugment policy
    options: dict[str, Any] = field(default_factory=dict)  # task-specific (losses, regularisation, ...)
    fid_samples: int | None = None  # how many generated images the source's FID used
    truncation_psi: float = 1.0  # used when sampling for evaluation
    notes: str = ""

    @property
    def kind(self) -> str:
        return {DCGANConfig: "dcgan", FastGANConfig: "fastgan", StyleGAN2Config: "stylegan2"}[type(self.model)]

    def replace(self, **changes: Any) -> GANPreset:
        """A copy with some fields changed; ``model=dict(...)`` changes fields of the model config."""
        if isinstance(changes.get("model"), dict):
            changes["model"] = dataclasses.replace(self.model, **changes["model"])
        if "options" in changes:
            changes["options"] = {**self.options, **changes["options"]}
        return dataclasses.replace(self, **changes)


PRESETS: dict[str, GANPreset] = {}


def register(preset: GANPreset) -> GANPreset:
    PRESETS[preset.name] = preset
    return preset


def get(name: str) -> GANPreset:
    if name not in PRESETS:
        raise KeyError(f"unknown GAN preset {name!r}; known presets: {sorted(PRESETS)}")
    return PRESETS[name]


register(GANPreset(
    name="popyou_fastgan",
    source="PopYou: official FastGAN (odegeasslbc/FastGAN-pytorch), upstream defaults",
    model=FastGANConfig(resolution=1024, latent_dim=256, ngf=64, ndf=64),
    batch_size=8, steps=50_000, lr=2e-4, betas=(0.5, 0.999), ema_decay=0.999, augment="color,translation",
    options={"reconstruction_loss": "lpips"},
    notes="PopYou gives neither resolution nor iterations: upstream defaults (1024 px, batch 8, 50k iterations, "
          "Adam 2e-4 (0.5, 0.999), EMA 0.999, DiffAugment color+translation, LPIPS reconstruction).",
))

register(GANPreset(
    name="toyhollywood_fastgan",
    source="ToyHollyWood: lucidrains lightweight-gan (a FastGAN re-implementation)",
    model=FastGANConfig(resolution=128, latent_dim=256, ngf=64, ndf=64),
    # 16 images per optimiser step: the reported batch 4 x lightweight-gan's default gradient accumulation 4
    batch_size=16, steps=150_000, lr=2e-4, betas=(0.5, 0.9), ema_decay=0.995, augment="translation,cutout",
    options={"reconstruction_loss": "mse", "loss": "hinge", "gp_every": 4, "gp_weight": 10.0}, fid_samples=12_800,
    notes="128 px, latent 256, batch 4, lr 2e-4, hinge, translation+cutout, FID on 12,800 EMA images with "
          "pytorch-fid: as reported. Unstated, so lightweight-gan's defaults: gradient accumulation 4 (16 "
          "images per optimiser step; ours takes them as one batch of 16, so BatchNorm sees 16 where "
          "lightweight-gan's sees 4), 150k steps, Adam betas "
          "(0.5, 0.9), fixed-margin hinge with a gradient penalty (weight 10) every 4th step, MSE "
          "reconstruction. The penalty differs: ours is (||grad|| - 1)^2 at the real images, lightweight-gan "
          "1.2.1's is ||grad||^2 at the real and the fake images (option gp_form='lightweight-gan', used by "
          "benchmarks/gan_vs_peers.py; the default keeps the committed reference runs reproducible). Our FastGAN network replaces lightweight-gan's. Our choice, not the library's: the "
          "EMA generator is updated every step with decay 0.995 from step 0 (lightweight-gan averages with "
          "0.995 only every 10 steps after step 20,000, and resets the average until step 25,000).",
))

register(GANPreset(
    name="toyhollywood_stylegan2",
    source="ToyHollyWood: lucidrains stylegan2-pytorch",
    # lucidrains' widths: capacity * 2 * (size / res), at most 512 -> channel_base = 16 * 2 * 128.
    # lr_mlp 0.1: lucidrains' mapping layers (lr_mul 0.1) take relative Adam steps of lr; see the notes.
    model=StyleGAN2Config(resolution=128, style_dim=512, n_mlp=8, channel_base=16 * 2 * 128, channel_max=512,
                          lr_mlp=0.1),
    # 30 images per optimiser step: stylegan2-pytorch's batch 5 x its default gradient accumulation 6
    batch_size=30, steps=150_000, lr=2e-3, betas=(0.5, 0.9), ema_decay=0.99,
    options={"d_lr_mult": 2.0, "mixing_prob": 0.9, "loss": "hinge", "regulariser": "gp", "gp_weight": 10.0,
             "d_reg_every": 4, "pl_weight": 0.0, "lazy_regularisation": False, "gp_form": "stylegan2-pytorch"},
    fid_samples=12_800, truncation_psi=0.6,
    notes="128 px, capacity 16, lr 2e-4, TTUR x2, mixing 0.9, psi 0.6: as reported, for lucidrains' network. "
          "Ours is rosinality's layout with equalised learning rates (weights stored at unit variance, "
          "scaled by 1/sqrt(fan_in) at run time), where the same Adam lr moves each weight ~10x less "
          "relative to its size than in lucidrains' kaiming-initialised convolutions (measured: 2e-4 vs "
          "1.7e-3 to 3.4e-3 on the generator's convolutions). The equivalent here is lr 2e-3 (discriminator "
          "4e-3), the StyleGAN2 paper's own lr for an equalised network; likewise lucidrains' mapping "
          "layers (weight x lr_mul 0.1) learn at relative step lr, which needs lr_mlp 0.1 here (rosinality's "
          "0.01 leaves the mapping network nearly frozen). At lr 2e-4 and 0.01 the cpu run learned only "
          "per-pixel noise in 1,200 steps (FD-toon 159 at psi 0.6); with both and the penalty below, 126. "
          "Unstated, so stylegan2-pytorch's defaults: batch 5 with gradient accumulation 6 (30 images per "
          "optimiser step, one batch of 30 here), 150k steps, Adam (0.5, 0.9) for both networks, "
          "hinge losses, gradient penalty (weight 10) every 4 steps added to that step's loss (no lazy "
          "rescaling of lr or betas) in stylegan2-pytorch 1.9.0's form, ||grad||^2 at the real plus the "
          "fake images. Our rosinality-layout network replaces lucidrains'. Our choices, not the "
          "library's: path-length regularisation off (lucidrains adds it every 32 steps after step 5,000), "
          "and the EMA generator updated every step with decay 0.99 from step 0 (lucidrains: every 10 steps "
          "after step 20,000, the average reset until step 25,000).",
))

register(PRESETS["toyhollywood_stylegan2"].replace(
    name="toyhollywood_stylegan2_paper_adam",
    source="ToyHollyWood's StyleGAN2 with the StyleGAN2 paper's Adam betas (our change, not in the source)",
    betas=(0.0, 0.99),
    notes="toyhollywood_stylegan2 with one change: Adam betas (0, 0.99), as in the StyleGAN2 paper and "
          "rosinality's train.py, in place of stylegan2-pytorch's (0.5, 0.9). Why: at the cpu profile's scale "
          "(batch 8, 1,200 steps) the faithful preset mode-collapses, every latent drawing nearly the same "
          "head (sample spread 0.18 against the real images' 0.30 at psi 1), and neither DiffAugment "
          "(translation, cutout), a discriminator twice as wide nor a batch of 32 (near stylegan2-pytorch's "
          "30; collapsing by step 400) prevented it; without first-moment momentum it did not collapse "
          "(spread 0.24; FD-toon at psi 1 76 against 94; measured while choosing, same code, 1,024 samples). "
          "Chapters 04-06 use this generator as chapter 03's StyleGAN2 (04 also scores the faithful one).",
))

register(GANPreset(
    name="rosinality_stylegan2",
    source="StyleGAN2 paper / rosinality train.py defaults (the FFHQ checkpoints of e4e, pSp, StyleCLIP)",
    model=StyleGAN2Config(resolution=256, style_dim=512, n_mlp=8, channel_multiplier=2),
    batch_size=16, steps=800_000, lr=2e-3, betas=(0.0, 0.99), ema_decay=0.5 ** (32 / (10 * 1000)),
    options={"d_lr_mult": 1.0, "mixing_prob": 0.9, "r1_gamma": 10.0, "d_reg_every": 16, "pl_weight": 2.0,
             "g_reg_every": 4, "pl_batch_shrink": 2},
    notes="Lazy regularisation (R1 every 16, path length every 4, learning rates and betas rescaled by "
          "k/(k+1)), as in the paper and rosinality's train.py.",
))

register(GANPreset(
    name="comics_dcgan",
    source="Comics: DCGAN baseline (PyTorch notebook v2; the TF notebook used latent 128)",
    model=DCGANConfig(resolution=64, latent_dim=100, base_channels=64),
    batch_size=128, steps=100, lr=2e-4, betas=(0.5, 0.999),
    notes="6 images at 64 px, BCE, Adam 2e-4 (0.5, 0.999), batch 128, 100 epochs. With 6 images one epoch "
          "is one batch, so 100 epochs = 100 steps; our step-indexed sampler fills a batch of 128 by cycling "
          "the 6 images (the notebook's batches held just the 6).",
))

register(GANPreset(
    name="comics_dcgan_diffaugment",
    source="Comics DCGAN + DiffAugment (our improvement, not in the source)",
    model=DCGANConfig(resolution=64, latent_dim=100, base_channels=64),
    batch_size=128, steps=100, lr=2e-4, betas=(0.5, 0.999), augment="color,translation,cutout",
    notes="The Comics baseline with DiffAugment on every discriminator input (Zhao et al. 2020): the "
          "few-shot fix the source did not try.",
))
