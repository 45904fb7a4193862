"""Periodic callbacks for the training loop: sample grids saved as PNG, and metrics over training.

Both run on the main process with the RNG isolated (see :class:`toonlab.train.loop.Callback`), so a run
watched every 10 steps trains exactly like one never watched. Files are written atomically and named by
step, so a resumed run rewrites the same grid rather than adding a duplicate.
"""

from __future__ import annotations

import io
import re
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

import torch
from PIL import Image
from torchvision.utils import make_grid

from toonlab import atomic
from toonlab.train.loop import Callback, Trainer

_GRID = re.compile(r"^step-(\d{8})\.png$")


def to_pil(image: torch.Tensor) -> Image.Image:
    """(3, H, W) in [0, 1] -> 8-bit RGB image."""
    array = image.detach().clamp(0, 1).mul(255).round().to(torch.uint8).permute(1, 2, 0).cpu().numpy()
    return Image.fromarray(array, mode="RGB")


def save_png(path: str | Path, image: torch.Tensor) -> Path:
    buffer = io.BytesIO()
    to_pil(image).save(buffer, format="PNG")
    return atomic.write_bytes(path, buffer.getvalue())


def grid_image(images: torch.Tensor, nrow: int | None = None, padding: int = 2) -> torch.Tensor:
    """A batch (B, 3, H, W) in [0, 1] tiled into one image (3, H', W')."""
    nrow = nrow or max(1, round(images.shape[0] ** 0.5))
    return make_grid(images.detach().float().clamp(0, 1).cpu(), nrow=nrow, padding=padding, pad_value=1.0)


def read_grids(folder: str | Path) -> list[tuple[int, Image.Image]]:
    """``(step, image)`` of every grid a :class:`SampleGrid` saved in ``folder``, by step."""
    folder = Path(folder)
    found = sorted((int(m.group(1)), p) for p in folder.glob("step-*.png") if (m := _GRID.match(p.name)))
    return [(step, Image.open(path).convert("RGB")) for step, path in found]


def grids_over_training_figure(rows: Mapping[str, Sequence[tuple[int, Image.Image | str | Path]]],
                               max_columns: int = 5):
    """The saved grids of several runs side by side: one row per run, ``max_columns`` grids at evenly
    spaced steps (always the first and the last). Items are ``(step, image or path)``, as :func:`read_grids`
    or a run's ``grids()`` give them."""
    import matplotlib.pyplot as plt

    columns = max(1, min(max_columns, max((len(g) for g in rows.values()), default=1)))
    fig, axes = plt.subplots(len(rows), columns, figsize=(2.3 * columns, 2.4 * len(rows)), squeeze=False)
    for r, (name, grids) in enumerate(rows.items()):
        shown = min(columns, len(grids))
        picks = [grids[round(i * (len(grids) - 1) / max(1, shown - 1))] for i in range(shown)]
        for c, ax in enumerate(axes[r]):
            ax.axis("off")
            if c < len(picks):
                step, image = picks[c]
                if isinstance(image, (str, Path)):
                    with Image.open(image) as opened:
                        image = opened.convert("RGB")
                ax.imshow(image)
                ax.set_title(f"step {step}", fontsize=8)
        axes[r][0].text(-0.1, 0.5, name, transform=axes[r][0].transAxes, rotation=90, va="center", ha="right",
                        fontsize=8)
    fig.tight_layout()
    return fig


class SampleGrid(Callback):
    """Every ``every`` steps (and before the first), ``sample(trainer)`` -> images in [0, 1], saved as
    ``<out_dir>/<folder>/step-XXXXXXXX.png``. ``sample`` should use fixed inputs (a seeded generator) so
    the grids show the same latents evolving."""

    def __init__(self, sample: Callable[[Trainer], torch.Tensor], every: int, folder: str = "samples",
                 nrow: int | None = None, at_start: bool = True) -> None:
        if every < 1:
            raise ValueError(f"SampleGrid.every must be >= 1, got {every}")
        self.sample, self.every, self.folder, self.nrow, self.at_start = sample, every, folder, nrow, at_start

    def path(self, trainer: Trainer, step: int) -> Path:
        return trainer.out_dir / self.folder / f"step-{step:08d}.png"

    def __call__(self, trainer: Trainer, step: int) -> None:
        images = self.sample(trainer)
        save_png(self.path(trainer, step), grid_image(images, self.nrow))
        return None


class Metrics(Callback):
    """Every ``every`` steps, ``compute(trainer, step)`` -> ``{name: number}`` added to the loss log
    (FID/KID over training, a reconstruction error...)."""

    def __init__(self, compute: Callable[[Trainer, int], Mapping[str, float]], every: int,
                 at_start: bool = False) -> None:
        if every < 1:
            raise ValueError(f"Metrics.every must be >= 1, got {every}")
        self.compute, self.every, self.at_start = compute, every, at_start

    def __call__(self, trainer: Trainer, step: int) -> Mapping[str, float]:
        return {name: float(value) for name, value in self.compute(trainer, step).items()}
