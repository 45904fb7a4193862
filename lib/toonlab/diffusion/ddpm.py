"""DDPM from scratch (Ho et al. 2020) with diffusers' ``UNet2DModel`` and ``DDPMScheduler``.

ToyHollyWood trained a DDPM at 80 px with its own "SimpleUnet" (64..1024 channels, a 32-d sinusoidal
time embedding, no attention), T=300 steps, a linear beta schedule 1e-4 -> 0.02, an L1 loss on the
predicted noise and Adam 1e-4 halved every 10 epochs (StepLR). We keep its *diffusion* recipe exactly
(:data:`SCHEDULES` ``"t300"``: T, schedule, L1, Adam 1e-4, optional step halving) and replace its network
by diffusers' standard DDPM UNet (residual blocks, self-attention at 16 px), because the source network
is a tutorial model whose FID was never reported; ``"t1000"`` is the paper's standard setting (T=1000,
the same linear schedule, MSE loss). The paper's steps are named where they happen:

* training (Algorithm 1): ``x0`` -> ``t ~ U{0..T-1}``, ``eps ~ N(0, I)``,
  ``x_t = sqrt(abar_t) x0 + sqrt(1 - abar_t) eps`` -> loss ``|eps - eps_theta(x_t, t)|``;
* sampling (Algorithm 2): ancestral DDPM steps with the posterior variance (``fixed_small``), or DDIM
  (Song et al. 2021, eta=0) on a subsequence of the T steps — both through diffusers' pipelines.

Note on the source schedule: with T=300 and betas 1e-4..0.02, ``sqrt(abar_T) ≈ 0.22``, so x_T still holds
a fifth of the image and sampling from pure noise starts off-distribution; the chapter compares it with
T=1000 (``sqrt(abar_T) ≈ 0.006``) rather than silently fixing it.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from accelerate import Accelerator
from torch import nn

from toonlab.train import Task, load_weights

# UNet widths per resolution; self-attention at 16 px as in the DDPM paper (diffusers' train_unconditional
# example uses the same pattern). Each entry is one resolution level, the first at full size. 32 px is the
# paper's CIFAR-10 network (Ho et al. 2020, appendix B: 128 channels, multipliers 1, 2, 2, 2, two residual
# blocks per level, attention at 16 px, dropout 0.1): 35.7 M parameters in diffusers' UNet2DModel, as the
# paper's 35.7 M. The other sizes are diffusers-example widths (the paper's 256 px networks are larger).
PRESETS: dict[int, tuple[int, ...]] = {
    32: (128, 256, 256, 256),
    64: (64, 128, 256, 256),
    128: (64, 128, 128, 256, 256),
    256: (64, 64, 128, 128, 256, 256),
}

# The two noise schedules of the chapter: the source's and the paper's.
# The DDPM paper's CIFAR-10 network (what the 32 px preset and the notebook's default dropout reproduce).
PAPER_NETWORK_32: dict[str, Any] = {"resolution": 32, "block_out_channels": (128, 256, 256, 256),
                                    "attention_resolutions": (16,), "layers_per_block": 2, "dropout": 0.1}
PAPER_PARAMETERS_M = 35.7  # "Our CIFAR10 model has 35.7 million parameters" (appendix B)

SCHEDULES: dict[str, dict[str, Any]] = {
    # ToyHollyWood: T=300, linear 1e-4 -> 0.02, L1 on the noise
    "t300": {"num_train_timesteps": 300, "beta_schedule": "linear", "beta_start": 1e-4, "beta_end": 0.02,
             "loss": "l1"},
    # Ho et al. 2020: T=1000, the same linear schedule, MSE on the noise
    "t1000": {"num_train_timesteps": 1000, "beta_schedule": "linear", "beta_start": 1e-4, "beta_end": 0.02,
              "loss": "mse"},
}
LOSSES = ("l1", "mse")
SAMPLERS = ("ddpm", "ddim")


@dataclass
class DDPMConfig:
    """A DDPM: the UNet, the noise schedule and the optimiser settings. Defaults = the source (T=300)."""

    resolution: int = 32  # image side; 32/64/128/256 have width presets
    block_out_channels: tuple[int, ...] | None = None  # None: PRESETS[resolution]
    attention_resolutions: tuple[int, ...] = (16,)  # feature-map sides that get self-attention
    layers_per_block: int = 2
    norm_num_groups: int = 32  # GroupNorm groups (must divide every width)
    dropout: float = 0.0
    num_train_timesteps: int = 300  # T
    beta_schedule: str = "linear"
    beta_start: float = 1e-4
    beta_end: float = 0.02
    loss: str = "l1"  # "l1" as the source; "mse" as the paper
    learning_rate: float = 1e-4  # Adam, as the source
    lr_halve_every: int | None = None  # source: StepLR(10 epochs, 0.5); here in optimisation steps, None = constant
    random_flip: bool = True  # horizontal flips (standard DDPM practice; the source did not say)

    def __post_init__(self) -> None:
        self.block_out_channels = tuple(self.block_out_channels or self._preset())
        self.attention_resolutions = tuple(self.attention_resolutions)
        levels = len(self.block_out_channels)
        if self.resolution % 2 ** (levels - 1):
            raise ValueError(f"resolution {self.resolution} must be divisible by 2**{levels - 1} for a UNet with "
                             f"{levels} levels; pick another resolution or fewer block_out_channels")
        bad = [c for c in self.block_out_channels if c % self.norm_num_groups]
        if bad:
            raise ValueError(f"widths {bad} are not divisible by norm_num_groups={self.norm_num_groups}")
        if self.loss not in LOSSES:
            raise ValueError(f"loss must be one of {LOSSES}, got {self.loss!r}")
        if self.num_train_timesteps < 2:
            raise ValueError(f"num_train_timesteps must be >= 2, got {self.num_train_timesteps}")
        if not 0 < self.beta_start < self.beta_end < 1:
            raise ValueError(f"need 0 < beta_start < beta_end < 1, got {self.beta_start}, {self.beta_end}")
        if self.lr_halve_every is not None and self.lr_halve_every < 1:
            raise ValueError(f"lr_halve_every must be >= 1 or None, got {self.lr_halve_every}")

    def _preset(self) -> tuple[int, ...]:
        if self.resolution not in PRESETS:
            raise ValueError(f"no width preset for {self.resolution} px (presets: {sorted(PRESETS)}); "
                             "pass block_out_channels explicitly")
        return PRESETS[self.resolution]

    @classmethod
    def from_schedule(cls, schedule: str, **overrides: Any) -> DDPMConfig:
        """``"t300"`` (the source) or ``"t1000"`` (the paper), with any field overridden."""
        if schedule not in SCHEDULES:
            raise ValueError(f"unknown schedule {schedule!r}; choose one of {sorted(SCHEDULES)}")
        return cls(**{**SCHEDULES[schedule], **overrides})

    def to_dict(self) -> dict[str, Any]:
        record = dataclasses.asdict(self)
        record["block_out_channels"] = list(self.block_out_channels)
        record["attention_resolutions"] = list(self.attention_resolutions)
        return record

    @classmethod
    def from_dict(cls, record: Mapping[str, Any]) -> DDPMConfig:
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(record) - known)
        if unknown:
            raise ValueError(f"unknown DDPMConfig fields {unknown}; the file was written by another version")
        return cls(**{k: tuple(v) if isinstance(v, list) else v for k, v in record.items()})


def build_unet(config: DDPMConfig) -> nn.Module:
    """The noise predictor eps_theta(x_t, t): diffusers ``UNet2DModel`` with attention at chosen sizes."""
    from diffusers import UNet2DModel

    sizes = [config.resolution // 2**i for i in range(len(config.block_out_channels))]
    attend = [size in config.attention_resolutions for size in sizes]
    return UNet2DModel(
        sample_size=config.resolution, in_channels=3, out_channels=3,
        block_out_channels=config.block_out_channels, layers_per_block=config.layers_per_block,
        down_block_types=tuple("AttnDownBlock2D" if a else "DownBlock2D" for a in attend),
        up_block_types=tuple("AttnUpBlock2D" if a else "UpBlock2D" for a in reversed(attend)),
        norm_num_groups=config.norm_num_groups, dropout=config.dropout,
    )


def build_scheduler(config: DDPMConfig):
    """The forward process q(x_t | x_0) and the ancestral sampler: ``DDPMScheduler`` with the config's betas."""
    from diffusers import DDPMScheduler

    # fixed_small = the posterior variance beta~_t (the paper's choice for sampling, and the source's);
    # clip_sample keeps the predicted x0 in [-1, 1] at every step, as the paper's code does.
    return DDPMScheduler(num_train_timesteps=config.num_train_timesteps, beta_schedule=config.beta_schedule,
                         beta_start=config.beta_start, beta_end=config.beta_end, variance_type="fixed_small",
                         clip_sample=True, prediction_type="epsilon")


def signal_left_at_T(config: DDPMConfig) -> float:
    """sqrt(abar_T): how much of the image the last noisy step still holds (≈0 for a well-posed schedule)."""
    return float(build_scheduler(config).alphas_cumprod[-1].sqrt())


class DDPMTask(Task):
    """Algorithm 1 of the DDPM paper as a :class:`toonlab.train.Task` for the shared training loop."""

    def __init__(self, config: DDPMConfig, init_seed: int = 0) -> None:
        self.config = config
        with torch.random.fork_rng(devices=[]):  # initialisation must not shift the training stream
            torch.manual_seed(init_seed)
            unet = build_unet(config)
        self.scheduler = build_scheduler(config)
        self.models = {"unet": unet}
        self.optimizers = {"unet": torch.optim.Adam(unet.parameters(), lr=config.learning_rate)}

    def learning_rate(self, step: int) -> float:
        """The source's StepLR as a pure function of the step (so a resumed run needs no scheduler state)."""
        if self.config.lr_halve_every is None:
            return self.config.learning_rate
        return self.config.learning_rate * 0.5 ** (step // self.config.lr_halve_every)

    def train_step(self, batch: Any, step: int, accelerator: Accelerator) -> Mapping[str, torch.Tensor]:
        images = batch[0] if isinstance(batch, (list, tuple)) else batch
        if images.ndim != 4 or images.shape[1] != 3 or images.shape[-1] != self.config.resolution:
            raise ValueError(f"DDPM expects image batches (B, 3, {self.config.resolution}, "
                             f"{self.config.resolution}) in [0, 1], got {tuple(images.shape)}")
        x0 = images * 2.0 - 1.0  # [0, 1] -> [-1, 1], the range the schedule is defined on
        if self.config.random_flip:
            flip = torch.rand(x0.shape[0], device=x0.device) < 0.5
            x0 = torch.where(flip[:, None, None, None], x0.flip(-1), x0)
        # Algorithm 1: t ~ Uniform{0..T-1}, eps ~ N(0, I), x_t = sqrt(abar_t) x0 + sqrt(1 - abar_t) eps
        t = torch.randint(0, self.config.num_train_timesteps, (x0.shape[0],), device=x0.device)
        noise = torch.randn_like(x0)
        x_t = self.scheduler.add_noise(x0, noise, t)
        predicted = self.models["unet"](x_t, t).sample
        if self.config.loss == "l1":
            loss = nn.functional.l1_loss(predicted, noise)
        else:
            loss = nn.functional.mse_loss(predicted, noise)
        optimizer = self.optimizers["unet"]
        for group in optimizer.param_groups:
            group["lr"] = self.learning_rate(step)
        optimizer.zero_grad(set_to_none=True)
        accelerator.backward(loss)
        optimizer.step()
        return {"loss": loss.detach()}


# ---------------------------------------------------------------------------------------------------
# sampling (Algorithm 2 and DDIM)


def image_seed(seed: int, index: int) -> int:
    """The seed of image ``index`` in a run seeded ``seed``: independent streams, no overlap across seeds.

    Each image gets its own generator, so an image depends on (seed, index) only — not on the batch size
    nor on which images were generated before it (what makes resumed generation gap- and duplicate-free).
    """
    return int(np.random.SeedSequence([int(seed), int(index)]).generate_state(1, dtype=np.uint64)[0] >> 1)


def generators(seed: int, indices: Sequence[int]) -> list[torch.Generator]:
    # CPU generators: the same noise on every device (diffusers draws on CPU and moves it).
    return [torch.Generator("cpu").manual_seed(image_seed(seed, i)) for i in indices]


def make_pipeline(unet: nn.Module, config: DDPMConfig, sampler: str = "ddpm"):
    """A diffusers ``DDPMPipeline`` (ancestral, Algorithm 2) or ``DDIMPipeline`` around a trained UNet."""
    from diffusers import DDIMPipeline, DDIMScheduler, DDPMPipeline

    if sampler not in SAMPLERS:
        raise ValueError(f"sampler must be one of {SAMPLERS}, got {sampler!r}")
    scheduler = build_scheduler(config)
    if sampler == "ddpm":
        pipe = DDPMPipeline(unet=unet, scheduler=scheduler)
    else:
        pipe = DDIMPipeline(unet=unet, scheduler=DDIMScheduler.from_config(scheduler.config))
    pipe.set_progress_bar_config(disable=True)
    return pipe


@torch.no_grad()
def sample(unet: nn.Module, config: DDPMConfig, n: int, seed: int, *, sampler: str = "ddpm",
           steps: int | None = None, eta: float = 0.0, batch_size: int = 64, start: int = 0,
           progress: bool = False) -> torch.Tensor:
    """``n`` images (n, 3, R, R) in [0, 1] on CPU; image ``start + i`` is a function of (seed, start + i).

    ``steps``: denoising steps (default T for DDPM — the full chain — and 50 for DDIM, at most T).
    """
    from tqdm.auto import tqdm

    if n < 1 or batch_size < 1:
        raise ValueError(f"need n >= 1 and batch_size >= 1, got {n}, {batch_size}")
    if sampler not in SAMPLERS:
        raise ValueError(f"sampler must be one of {SAMPLERS}, got {sampler!r}")
    if not 0.0 <= eta <= 1.0:
        raise ValueError(f"DDIM eta must be in [0, 1] (0: deterministic, 1: ancestral noise), got {eta}")
    steps = steps or (config.num_train_timesteps if sampler == "ddpm" else min(50, config.num_train_timesteps))
    if not 1 <= steps <= config.num_train_timesteps:
        raise ValueError(f"steps must be in 1..T={config.num_train_timesteps}, got {steps}")
    pipe = make_pipeline(unet, config, sampler)
    was_training = unet.training
    unet.eval()
    chunks = []
    try:
        for first in tqdm(range(start, start + n, batch_size), desc=f"{sampler}-{steps}", disable=not progress,
                          leave=False):
            indices = range(first, min(first + batch_size, start + n))
            kwargs = {"eta": eta} if sampler == "ddim" else {}
            out = pipe(batch_size=len(indices), generator=generators(seed, indices), num_inference_steps=steps,
                       output_type="np", **kwargs).images
            chunks.append(torch.from_numpy(np.ascontiguousarray(out)).permute(0, 3, 1, 2).float())
    finally:
        unet.train(was_training)
    return torch.cat(chunks)


# ---------------------------------------------------------------------------------------------------
# trained weights


def save_unet(path: str | Path, unet: nn.Module, config: DDPMConfig) -> Path:
    from toonlab.train import save_weights

    return save_weights(path, unet, {"ddpm": config.to_dict()})


def load_unet(path: str | Path, device: str | torch.device = "cpu") -> tuple[nn.Module, DDPMConfig]:
    """A UNet and its config from :func:`save_unet` (safetensors; loading runs no code)."""
    state, meta = load_weights(path)
    if "ddpm" not in meta:
        raise ValueError(f"{path} holds no DDPM config; it was not written by toonlab.diffusion.save_unet")
    config = DDPMConfig.from_dict(meta["ddpm"])
    unet = build_unet(config)
    unet.load_state_dict(state)
    return unet.to(device).eval(), config


def sample_grid(images: torch.Tensor, nrow: int | None = None, padding: int = 2) -> torch.Tensor:
    """Images (n, 3, H, W) in [0, 1] -> one grid image (3, H', W') (torchvision's make_grid)."""
    from torchvision.utils import make_grid

    nrow = nrow or max(1, math.ceil(math.sqrt(len(images))))
    return make_grid(images, nrow=nrow, padding=padding, pad_value=1.0)

