"""Chapter 03 — GAN baselines: the source projects' GANs trained on the book's data, and measured.

What the chapter does: FastGAN and StyleGAN2 (ToyHollyWood, PopYou) trained at the chapter's resolution,
their samples over training, latent interpolations, FD/KID against the real images beside the sources'
FIDs, the toon classifier's held-out accuracy (the network behind FD-toon), the Comics few-shot DCGAN with
and without DiffAugment (mode collapse and memorisation in numbers), and what each model costs.

The steps the notebook calls, in order:

* :func:`check_presets`, :func:`scaled_preset`, :func:`describe_preset` — the presets at this scale;
* :func:`load_images`, :func:`stack_images`, :func:`build_extractor`, :func:`reference_stats` — the real
  images and their features, embedded once;
* :func:`run_folder` under :func:`runs_root`, :func:`train_gan` (with :func:`fd_over_training`) — train,
  resume and export each generator; :func:`loss_figure`, :func:`grids_figure`;
* :func:`interpolation`, :func:`interpolation_figure` — latent walks;
* :func:`sample_images`, :func:`evaluate` — FD/KID of generated vs real images;
* :func:`heldout_table` — the toon classifier's held-out accuracy per head;
* :func:`diversity`, :func:`image_row_figure` — the few-shot failure in numbers and pictures;
* :func:`cost_rows` — parameters, training step time and generation speed;
* :func:`export_table`, :func:`publish_table` — where each exported generator is, and (``publish``) its
  fp16 copy under ``data/weights`` that chapters 05 and 06 load with
  :func:`toonlab.train.gan_runs.load_committed_generator`.

Training, export and reload live in :mod:`toonlab.train.gan_runs` (later chapters reuse them); this module
only composes them with the data and the metrics.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import torch
from torch.utils.data import Dataset

from toonlab.data import load_images
from toonlab.gan import generate, presets
from toonlab.gan.sampling import sample_latents
from toonlab.metrics.extractors import build_extractor
from toonlab.metrics.toon_features import heldout_table
from toonlab.paths import cache_dir
from toonlab.recorded import recorded_summary
from toonlab.train import Trainer
from toonlab.train.callbacks import grids_over_training_figure
from toonlab.train.gan_runs import (TINY_WIDTHS, GANRun, interpolation, load_committed_generator, load_generator,
                                    publish_generator, published_name, run_folder, sample_images, scaled_preset,
                                    train_gan)

CHAPTER = "03_gan"


def device() -> str:
    return "cuda" if torch.cuda.is_available() else "cpu"


def check_presets(names: Sequence[str]) -> None:
    """Fail at once, naming the choices, when a preset name is unknown or none is given."""
    unknown = [name for name in names if name not in presets.PRESETS]
    if unknown or not names:
        raise ValueError(f"presets {unknown or list(names)!r}: choose from {sorted(presets.PRESETS)}")


def runs_root(profile: str) -> Path:
    """The cache folder that holds this profile's GAN runs (one :func:`run_folder` each)."""
    return cache_dir("gan", profile)


def stack_images(dataset: Dataset, indices: Sequence[int] | None = None) -> torch.Tensor:
    indices = range(len(dataset)) if indices is None else indices
    return torch.stack([dataset[i][0] if isinstance(dataset[i], (tuple, list)) else dataset[i] for i in indices])


def reference_stats(reference: torch.Tensor, extractor: Any):
    """Features of the real images, embedded once and reused for every model's FD/KID."""
    from toonlab.metrics.fid import FeatureStats, extract_features

    features = extract_features(reference, extractor, progress=False, desc="reference")
    return FeatureStats.from_features(features, {"resize": "native size (tensor)", "weights": extractor.weights,
                                                 "n": len(features)})


def evaluate(images: torch.Tensor, reference: Any, extractor: Any, *, seed: int, kid_subset_size: int = 1000):
    """FD and KID of generated images ((N, 3, H, W) in [0, 1]) vs reference images or their
    :func:`reference_stats`, with one extractor."""
    from toonlab.metrics.fid import distribution_distance

    n_reference = reference.n if hasattr(reference, "n") else len(reference)
    return distribution_distance(images, reference, extractor, cache_reference=False, progress=False,
                                 kid_subset_size=min(kid_subset_size, len(images), n_reference), seed=seed)


def fd_over_training(reference: Any, extractor: Any, n: int, seed: int):
    """A :class:`~toonlab.train.callbacks.Metrics` function: FD/KID of ``n`` EMA samples during training."""

    def compute(trainer: Trainer, step: int) -> dict[str, float]:
        result = evaluate(sample_images(trainer.model("G"), n, seed), reference, extractor, seed=seed)
        values = {"fd": result.value}
        if result.kid_mean is not None:
            values["kid"] = result.kid_mean
        return values

    return compute


def diversity(samples: torch.Tensor, training: torch.Tensor) -> dict[str, float]:
    """Mode collapse and memorisation in pixel space (RMS distance per pixel, images in [0, 1]).

    ``sample_spread``: mean distance between two samples (collapse -> 0); ``training_spread``: the same
    for the training images (the scale to compare with); ``nearest_training``: mean distance from a
    sample to its closest training image (memorisation -> 0).
    """
    def pairwise(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        return torch.cdist(a.flatten(1).double(), b.flatten(1).double()) / a[0].numel() ** 0.5

    spread = pairwise(samples, samples)
    off_diagonal = spread[~torch.eye(len(samples), dtype=torch.bool)]
    train_spread = pairwise(training, training)[~torch.eye(len(training), dtype=torch.bool)]
    return {"sample_spread": off_diagonal.mean().item(), "training_spread": train_spread.mean().item(),
            "nearest_training": pairwise(samples, training).min(1).values.mean().item()}


# ---------------------------------------------------------------------------------------------------
# figures


def loss_figure(runs: Mapping[str, GANRun]):
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(runs), figsize=(4.2 * len(runs), 3.2), squeeze=False)
    for ax, (name, run) in zip(axes[0], runs.items()):
        for loss, (steps, values) in run.result.history.series.items():
            if loss.startswith("loss"):
                ax.plot(steps, values, label=loss, linewidth=1.2)
        ax.set_title(name)
        ax.set_xlabel("step")
        ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def fd_history(runs: Mapping[str, GANRun]):
    """FD/KID of the EMA samples at each ``fd_every`` step, one row per (model, step)."""
    import pandas as pd

    rows = []
    for name, run in runs.items():
        series = run.result.history.series
        if "fd" not in series:
            continue
        kid = dict(zip(*series["kid"])) if "kid" in series else {}
        rows += [{"model": name, "step": step, "FD": fd, "KID": kid.get(step)} for step, fd in zip(*series["fd"])]
    return pd.DataFrame(rows, columns=["model", "step", "FD", "KID"])


def fd_figure(history, distance_name: str, kid_name: str):
    """FD and KID over training (:func:`fd_history`), one line per model."""
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(9, 3.2))
    for name, rows in history.groupby("model", sort=False):
        axes[0].plot(rows["step"], rows["FD"], marker="o", label=name)
        axes[1].plot(rows["step"], rows["KID"], marker="o", label=name)
    for ax, title in zip(axes, (distance_name, kid_name)):
        ax.set_title(f"{title} over training (lower is better)", fontsize=9)
        ax.set_xlabel("step")
        ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def grids_figure(runs: Mapping[str, GANRun], max_columns: int = 5):
    """Each run's sample grids at evenly spaced steps (the same latents in every grid)."""
    return grids_over_training_figure({name: run.grids() for name, run in runs.items()}, max_columns)


def image_row_figure(rows: Mapping[str, torch.Tensor], n: int = 8):
    """One row of images per entry (tensors (N, 3, H, W) in [0, 1])."""
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(len(rows), n, figsize=(1.3 * n, 1.45 * len(rows)), squeeze=False)
    for r, (name, images) in enumerate(rows.items()):
        for c in range(n):
            ax = axes[r][c]
            ax.axis("off")
            if c < len(images):
                ax.imshow(images[c].permute(1, 2, 0).clamp(0, 1).numpy())
        axes[r][0].set_title(name, fontsize=8, loc="left")
    fig.tight_layout()
    return fig


def interpolation_figure(walks: Mapping[str, torch.Tensor], steps: int):
    rows = {}
    for name, images in walks.items():
        for i, chunk in enumerate(images.split(steps)):
            rows[f"{name} · walk {i + 1}"] = chunk
    return image_row_figure(rows, n=steps)


# ---------------------------------------------------------------------------------------------------
# cost


def cost_rows(runs: Mapping[str, GANRun], batch_size: int, device: str | torch.device) -> list[dict[str, Any]]:
    """Parameters, training time per step (this run) and generation throughput of each EMA generator."""
    from toonlab.metrics.cost import count_parameters, measure

    rows = []
    for name, run in runs.items():
        G = run.generator
        z = sample_latents(batch_size, G.latent_dim, 0, device=next(G.parameters()).device)

        def call(G=G, z=z) -> None:
            with torch.no_grad():
                generate(G, z)

        was_training = G.training
        G.eval()
        cost = measure(call, batch_size, device=device, warmup=1, repeats=3)
        G.train(was_training)
        rows.append({
            "model": name, "resolution": run.preset.model.resolution, "widths": widths(run.preset),
            "G parameters (M)": round(count_parameters(run.trainer.unwrap("G")) / 1e6, 3),
            "D parameters (M)": round(count_parameters(run.trainer.unwrap("D")) / 1e6, 3),
            "train s/step (this run)": None if run.seconds_per_step is None else round(run.seconds_per_step, 4),
            "images/s (generate)": round(cost.images_per_s, 1),
            # above the baseline just before the timed calls: the generation's own activations and buffers
            "extra memory (MiB)": round((cost.peak_memory_bytes - cost.baseline_memory_bytes) / 2**20, 1),
            "memory": cost.memory_kind,
        })
    return rows


WIDTH_FIELDS = {"dcgan": ("base_channels",), "fastgan": ("ngf", "ndf"),
                "stylegan2": ("style_dim", "n_mlp", "channel_base", "channel_max")}


def widths(preset: presets.GANPreset) -> str:
    """The width fields of a preset's network, with the source's value where ours differs (``ngf 12 (64)``)."""
    source = presets.get(preset.name).model
    parts = []
    for field in WIDTH_FIELDS[preset.kind]:
        ours, theirs = getattr(preset.model, field), getattr(source, field)
        if field == "channel_base" and theirs is not None:  # lucidrains' rule scales it with the resolution
            theirs = theirs * preset.model.resolution // source.resolution
        parts.append(f"{field} {ours}" + ("" if ours == theirs else f" ({theirs})"))
    return ", ".join(parts)


def describe_preset(preset: presets.GANPreset) -> dict[str, Any]:
    return {"preset": preset.name, "source": preset.source, "resolution": preset.model.resolution,
            "widths (source's)": widths(preset),
            "batch": preset.batch_size, "lr": preset.lr, "betas": str(tuple(preset.betas)),
            "augment": preset.augment or "none", "EMA": preset.ema_decay or "none",
            "options": json.dumps(preset.options, sort_keys=True), "notes": preset.notes}


def export_table(runs: Mapping[str, GANRun]):
    """Each exported generator: its file (relative to the cache), steps, and the step it resumed from."""
    import pandas as pd

    return pd.DataFrame([{"model": name, "file": str(r.generator_path.relative_to(cache_dir())), "steps": r.result.step,
                          "resumed from": r.result.resumed_from} for name, r in runs.items()])


def publish_table(runs: Mapping[str, GANRun], profile: str, root: Path | None = None):
    """Copy each run's generator in fp16 to ``data/weights/gan_<profile>_<preset>.safetensors`` and record its
    sha256 in that entry of data/registry.yaml (so the next chapter of the same run loads it, checked); an
    entry that does not exist yet is not invented: the table gives the sha256 to add. Commit both files."""
    import pandas as pd

    from toonlab.data.errors import DataSourceError
    from toonlab.data.registry import set_weights_sha256
    from toonlab.paths import repo_root

    root = root or repo_root()
    rows = []
    for name, run in runs.items():
        entry = published_name(profile, name)
        path, sha256 = publish_generator(run.generator_path, root / "data" / "weights" / f"{entry}.safetensors")
        try:
            status = "updated: commit it with the file" if set_weights_sha256(entry, sha256, root) else "yes"
        except DataSourceError:
            status = f"no: add `{entry}` (file, chapter: {CHAPTER}, sha256) under weights:"
        rows.append({"registry entry": entry, "file": path.relative_to(root).as_posix(), "MiB": round(path.stat().st_size / 2**20, 2),
                     "sha256": sha256, "steps": run.result.step, "in data/registry.yaml": status})
    return pd.DataFrame(rows)


# ---------------------------------------------------------------------------------------------------
# the peer benchmark's record

PEERS_FILE = "benchmark_peers.txt"  # benchmarks/gan_vs_peers.py --record <profile> writes it


def peers_command(profile: str) -> str:
    return (f"python benchmarks/gan_vs_peers.py --resolution 64 --batch 4 --width-divisor 4 --threads 1 "
            f"--features toon --record {profile}")


def peers_summary(profile: str) -> str:
    """The best recorded output of the peer benchmark (our networks beside lightweight-gan and
    stylegan2-pytorch), as Markdown; or how to produce it."""
    return recorded_summary(CHAPTER, PEERS_FILE, peers_command, profile)


__all__ = [
    "CHAPTER", "TINY_WIDTHS", "build_extractor", "check_presets", "cost_rows", "describe_preset", "device",
    "diversity", "evaluate", "export_table", "fd_figure", "fd_history", "fd_over_training", "GANRun", "grids_figure",
    "heldout_table", "image_row_figure", "interpolation", "interpolation_figure", "load_committed_generator",
    "load_generator", "load_images", "loss_figure", "peers_summary", "publish_generator", "publish_table", "reference_stats", "run_folder", "runs_root",
    "sample_images", "scaled_preset", "stack_images", "train_gan", "widths",
]
