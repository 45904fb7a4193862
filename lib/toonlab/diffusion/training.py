"""Training a DDPM with the book's one loop (:class:`toonlab.train.Trainer`): EMA, resume, sample grids.

Everything around the optimisation step (accelerate, atomic safetensors checkpoints, exact resume, the
loss log) is the shared loop's; this module only adds the DDPM task and a callback that saves a grid of
EMA samples every few steps, so the chapter can show samples over training.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import torch
from PIL import Image
from torch.utils.data import Dataset

from toonlab import atomic
from toonlab.diffusion.ddpm import DDPMConfig, DDPMTask, sample, sample_grid, save_unet
from toonlab.train import Callback, Trainer, TrainConfig, TrainResult


def grid_path(out_dir: str | Path, step: int) -> Path:
    return Path(out_dir) / "samples" / f"step-{step:08d}.png"


def to_pil(image: torch.Tensor) -> Image.Image:
    """(3, H, W) in [0, 1] -> 8-bit RGB PIL image."""
    array = image.clamp(0, 1).mul(255).round().to(torch.uint8).permute(1, 2, 0).cpu().numpy()
    return Image.fromarray(array, mode="RGB")


def save_png(path: str | Path, image: torch.Tensor) -> Path:
    import io

    buffer = io.BytesIO()
    to_pil(image).save(buffer, format="PNG")
    return atomic.write_bytes(path, buffer.getvalue())


class SampleGrid(Callback):
    """Every ``every`` steps, a grid of ``n`` samples of the EMA UNet from fixed seeds -> samples/step-N.png.

    DDIM with few steps keeps this cheap; the loop runs callbacks with the RNG isolated, so watching a
    run never changes it. Fixed seeds make the grids of different steps directly comparable.
    """

    def __init__(self, config: DDPMConfig, out_dir: str | Path, every: int = 100, n: int = 16, seed: int = 1234,
                 sampler: str = "ddim", steps: int = 50, at_start: bool = True) -> None:
        self.config, self.out_dir = config, Path(out_dir)
        self.every, self.n, self.seed, self.sampler = every, n, seed, sampler
        self.steps, self.at_start = min(steps, config.num_train_timesteps), at_start

    def __call__(self, trainer: Trainer, step: int) -> None:
        images = sample(trainer.model("unet"), self.config, self.n, self.seed, sampler=self.sampler,
                        steps=self.steps, batch_size=self.n)
        save_png(grid_path(self.out_dir, step), sample_grid(images))
        return None


@dataclass
class DDPMRun:
    trainer: Trainer
    result: TrainResult
    config: DDPMConfig
    weights: Path  # the exported EMA UNet (safetensors + config)
    seconds_per_step: float | None = None  # wall time per step where the caller timed it (None: not timed, or resumed with nothing to train)

    @property
    def unet(self) -> torch.nn.Module:
        """The EMA UNet (what one samples from)."""
        return self.trainer.model("unet")

    def grids(self) -> list[tuple[int, Path]]:
        folder = self.trainer.out_dir / "samples"
        return sorted((int(p.stem.split("-")[1]), p) for p in folder.glob("step-*.png"))


def train_ddpm(dataset: Dataset, config: DDPMConfig, train: TrainConfig, out_dir: str | Path, *,
               init_seed: int | None = None, grid_every: int | None = None, grid_n: int = 16,
               grid_steps: int = 50, callbacks: Sequence[Callback] = ()) -> DDPMRun:
    """Train (or resume, or just reload a finished run from ``out_dir``) and export the EMA UNet.

    ``train.ema`` should hold ``{"unet": decay}``; without it samples come from the live weights.
    """
    out_dir = Path(out_dir)
    task = DDPMTask(config, init_seed=train.seed if init_seed is None else init_seed)
    extra = list(callbacks)
    if grid_every:
        extra.append(SampleGrid(config, out_dir, every=grid_every, n=grid_n, steps=grid_steps))
    trainer = Trainer(task, dataset, train, out_dir, callbacks=extra)
    result = trainer.fit()
    weights = trainer.export("unet", out_dir / "unet_ema.safetensors", config={"ddpm": config.to_dict()})
    return DDPMRun(trainer, result, config, weights)


__all__ = ["DDPMRun", "SampleGrid", "grid_path", "save_png", "save_unet", "to_pil", "train_ddpm",
           "TrainConfig"]
