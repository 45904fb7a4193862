"""Chapter 04's steps, one call each from the notebook: train the two schedules, sample with DDPM and DDIM,
score FID/KID beside the sources, draw the figures.

Training folders live in the cache under a hash of everything that determines the run (model config,
training settings, the data set's manifest), so a re-run of the chapter resumes or reloads the same
run and a changed setting starts a new one instead of clashing with an old checkpoint.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pandas as pd
import torch

from toonlab.diffusion.ddpm import DDPMConfig, sample
from toonlab.diffusion.training import DDPMRun, train_ddpm
from toonlab.train import TrainConfig

SCHEDULE_LABELS = {"t300": "T=300 (ToyHollyWood)", "t1000": "T=1000 (Ho et al.)"}


def _digest(record: Mapping[str, Any]) -> str:
    return hashlib.sha256(json.dumps(record, sort_keys=True, default=str).encode()).hexdigest()[:12]


def dataset_fingerprint(dataset: Any) -> str:
    """What identifies the training images: their sha256 list when the data set has one, else the pixels."""
    hashes = getattr(dataset, "sha256", None)
    if hashes:
        return hashlib.sha256("".join(hashes).encode()).hexdigest()[:16]
    digest = hashlib.sha256()
    for i in range(len(dataset)):
        item = dataset[i]
        digest.update((item[0] if isinstance(item, (tuple, list)) else item).numpy().tobytes())
    return digest.hexdigest()[:16]


def train_schedules(dataset: Any, schedules: Sequence[str], root: str | Path, *, model: Mapping[str, Any],
                    steps: int, batch_size: int, seed: int, ema_decay: float, grid_every: int, grid_n: int,
                    grid_steps: int, checkpoint_every: int, log_every: int, mixed_precision: str = "no",
                    progress: bool = True) -> dict[str, DDPMRun]:
    """Train (resume, or reload) one DDPM per schedule on the same data with the same UNet and settings."""
    runs = {}
    data_id = dataset_fingerprint(dataset)
    for schedule in schedules:
        config = DDPMConfig.from_schedule(schedule, **model)
        train = TrainConfig(steps=steps, batch_size=batch_size, seed=seed, mixed_precision=mixed_precision,
                            ema={"unet": ema_decay}, checkpoint_every=checkpoint_every, log_every=log_every,
                            keep_checkpoints=1, progress=progress)
        settings = {k: v for k, v in vars(train).items() if k != "progress"}  # display only
        key = _digest({"ddpm": config.to_dict(), "train": settings, "data": data_id,
                       "grid": [grid_every, grid_n, grid_steps]})
        runs[schedule] = train_ddpm(dataset, config, train, Path(root) / f"{schedule}-{key}",
                                    grid_every=grid_every, grid_n=grid_n, grid_steps=grid_steps)
    return runs


def sample_all(runs: Mapping[str, DDPMRun], n: int, seed: int, *, ddpm_steps: int | None, ddim_steps: int,
               batch_size: int, progress: bool = True) -> dict[tuple[str, str], torch.Tensor]:
    """``n`` images per (schedule, sampler) from each run's EMA UNet, the same seeds everywhere.

    ``ddpm_steps=None`` runs the whole chain of T ancestral steps (the paper's and the source's sampler).
    """
    samples = {}
    for schedule, run in runs.items():
        T = run.config.num_train_timesteps
        for sampler, steps in (("ddpm", ddpm_steps or T), ("ddim", min(ddim_steps, T))):
            samples[(schedule, f"{sampler.upper()}-{steps}")] = sample(
                run.unet, run.config, n, seed, sampler=sampler, steps=steps, batch_size=batch_size,
                progress=progress)
    return samples


def fid_kid_table(samples: Mapping[tuple[str, str], torch.Tensor], reference: torch.Tensor, extractor: Any, *,
                  kid_subset_size: int, seed: int) -> tuple[pd.DataFrame, dict[str, Any]]:
    """FID and KID (or their labelled smoke versions) of every sample set against the same real images."""
    from toonlab.metrics.fid import FeatureStats, distribution_distance, extract_features

    # The real images are embedded once for all rows.
    ref_features = extract_features(reference, extractor, desc="reference")
    ref = FeatureStats.from_features(ref_features, {"resize": "native size (tensor)", "weights": extractor.weights,
                                                    "n": len(ref_features)})
    rows, details = [], {}
    for (schedule, sampler), images in samples.items():
        result = distribution_distance(images, ref, extractor, kid_subset_size=min(kid_subset_size, len(images),
                                                                                    ref.n),
                                       seed=seed, progress=False)
        name = f"{schedule}/{sampler}"
        details[name] = result.as_dict()
        rows.append({"schedule": SCHEDULE_LABELS.get(schedule, schedule), "sampler": sampler,
                     result.distance_name: result.value,
                     f"{result.kid_name} (mean)": result.kid_mean, f"{result.kid_name} (std)": result.kid_std,
                     "generated": result.n_generated, "reference": result.n_reference})
    return pd.DataFrame(rows), details


# ---------------------------------------------------------------------------------------------------
# figures


def loss_figure(runs: Mapping[str, DDPMRun]):
    """Training loss (mean over each logging window) per schedule."""
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 3.2))
    for schedule, run in runs.items():
        steps, values = run.result.history.series["loss"]
        ax.plot(steps, values, marker="o", markersize=3, label=f"{SCHEDULE_LABELS.get(schedule, schedule)}, "
                                                               f"{run.config.loss.upper()} loss")
    ax.set_xlabel("training step")
    ax.set_ylabel("loss on the noise")
    ax.legend()
    ax.grid(alpha=0.3)
    fig.tight_layout()
    return fig


def grids_figure(runs: Mapping[str, DDPMRun], max_columns: int = 6):
    """EMA samples from fixed seeds over training: one row per schedule, one column per saved grid."""
    from toonlab.train.callbacks import grids_over_training_figure

    return grids_over_training_figure({SCHEDULE_LABELS.get(schedule, schedule): run.grids()
                                       for schedule, run in runs.items()}, max_columns)


def samples_figure(samples: Mapping[tuple[str, str], torch.Tensor], n_show: int = 8):
    """One row of images per (schedule, sampler), the same seeds in every row."""
    import matplotlib.pyplot as plt

    from toonlab.diffusion.ddpm import sample_grid

    fig, axes = plt.subplots(len(samples), 1, figsize=(1.1 * n_show, 1.35 * len(samples)), squeeze=False)
    for ax, ((schedule, sampler), images) in zip(axes[:, 0], samples.items()):
        grid = sample_grid(images[:n_show], nrow=n_show)
        ax.imshow(grid.permute(1, 2, 0).numpy())
        ax.set_title(f"{SCHEDULE_LABELS.get(schedule, schedule)} · {sampler}", fontsize=8)
        ax.axis("off")
    fig.tight_layout()
    return fig


def pil_figure(images: Sequence[Any], titles: Sequence[str], columns: int = 4, wrap: int = 28):
    """PIL images in a grid with wrapped titles (prompt baselines, generated data sets)."""
    import textwrap

    import matplotlib.pyplot as plt

    rows = max(1, -(-len(images) // columns))
    fig, axes = plt.subplots(rows, columns, figsize=(2.4 * columns, 2.7 * rows), squeeze=False)
    for i, ax in enumerate(axes.flat):
        ax.axis("off")
        if i < len(images):
            ax.imshow(images[i])
            ax.set_title("\n".join(textwrap.wrap(titles[i], wrap)), fontsize=6)
    fig.tight_layout()
    return fig


__all__ = ["SCHEDULE_LABELS", "dataset_fingerprint", "fid_kid_table", "grids_figure", "loss_figure", "pil_figure",
           "sample_all", "samples_figure", "train_schedules"]
