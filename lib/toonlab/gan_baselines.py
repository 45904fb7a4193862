"""Chapter 03 — GAN baselines: train the source projects' GANs on the book's data and measure them.

Layer 6 (a chapter module): it composes the networks (:mod:`toonlab.gan`), the shared training loop
(:mod:`toonlab.train`) and the metrics (:mod:`toonlab.metrics`) into the steps the notebook calls:

* :func:`scaled_preset` — a source preset at the chapter's resolution and (in ``ci``) tiny widths;
* :func:`train_gan` — one preset on one data set, with sample grids over training, FD/KID over training
  (optional), exact resume, and the EMA generator exported for the inversion and editing chapters;
* :func:`load_generator` — that export back as a generator (what chapters 05 and 06 start from);
* :func:`evaluate` — FD/KID (FID with pytorch-fid weights) of generated vs real images;
* :func:`reference_stats` — the real images' features, embedded once;
* :func:`diversity` — the few-shot failure in numbers: how different the samples are from each other and
  how close they sit to the nearest training image;
* figures: loss curves, grids over training, interpolations, samples beside the training images;
* :func:`cost_rows` — parameters, training step time and generation speed.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch.utils.data import Dataset

from toonlab.gan import DCGANConfig, FastGANConfig, StyleGAN2Config, generate, presets
from toonlab.gan.dcgan import DCGANGenerator
from toonlab.gan.fastgan import FastGANGenerator
from toonlab.gan.precise_bn import render
from toonlab.gan.sampling import interpolation_path, sample_latents
from toonlab.gan.stylegan2 import StyleGAN2Generator
from toonlab.train import Metrics, SampleGrid, Trainer, TrainResult, load_weights, read_grids
from toonlab.train.callbacks import grids_over_training_figure
from toonlab.train.gan_tasks import build_task, gan_sampler, train_config

# Widths for ci: the same architectures, a few channels wide, so tens of steps fit in seconds on a CPU.
TINY_WIDTHS: dict[str, dict[str, Any]] = {
    "dcgan": {"base_channels": 8},
    "fastgan": {"ngf": 8, "ndf": 8},
    "stylegan2": {"style_dim": 32, "n_mlp": 2, "channel_base": 1024, "channel_max": 32},
}
GENERATOR_CLASSES = {"dcgan": (DCGANConfig, DCGANGenerator), "fastgan": (FastGANConfig, FastGANGenerator),
                     "stylegan2": (StyleGAN2Config, StyleGAN2Generator)}


def scaled_preset(name: str, resolution: int, tiny: bool = False, **changes: Any) -> presets.GANPreset:
    """A source preset moved to ``resolution``; ``tiny`` swaps in :data:`TINY_WIDTHS` (``ci`` only).

    ``changes`` replace preset fields; ``model={...}`` changes model-config fields on top of the above.
    """
    preset = presets.get(name)
    model: dict[str, Any] = {"resolution": resolution}
    if preset.kind == "stylegan2" and preset.model.channel_base is not None:
        # lucidrains' widths scale with the image size (capacity * 2 * size / res): keep that rule
        model["channel_base"] = preset.model.channel_base * resolution // preset.model.resolution
    if tiny:
        model.update(TINY_WIDTHS[preset.kind])
    model.update(changes.pop("model", None) or {})  # explicit model changes win
    return preset.replace(model=model, **changes)


def run_folder(root: str | Path, name: str, preset: presets.GANPreset, data: str, seed: int) -> Path:
    """Where a run's checkpoints live: named by preset, data and seed, plus a digest of everything that
    shapes the weights (model config, optimiser, augmentation, batch, EMA) but not the step count, so a
    longer run resumes the shorter one and a changed architecture never trips over an old checkpoint."""
    shape = {"model": dataclasses.asdict(preset.model), "lr": preset.lr, "betas": list(preset.betas),
             "augment": preset.augment, "options": preset.options, "batch": preset.batch_size,
             "ema": preset.ema_decay, "kind": preset.kind}
    digest = hashlib.sha256(json.dumps(shape, sort_keys=True, default=str).encode()).hexdigest()[:8]
    return Path(root) / f"{name}-{data}-{preset.model.resolution}px-seed{seed}-{digest}"


@dataclass
class GANRun:
    name: str
    preset: presets.GANPreset
    trainer: Trainer
    result: TrainResult
    generator_path: Path  # the exported EMA (or live) generator
    wall_s: float  # this call's wall time (a resumed run counts only what it trained now)
    steps_trained_now: int

    @property
    def generator(self) -> torch.nn.Module:
        return self.trainer.model("G")

    @property
    def out_dir(self) -> Path:
        return self.trainer.out_dir

    def grids(self):
        return read_grids(self.out_dir / "samples")

    @property
    def seconds_per_step(self) -> float | None:
        return self.wall_s / self.steps_trained_now if self.steps_trained_now else None


def train_gan(name: str, preset: presets.GANPreset, dataset: Dataset, out_dir: str | Path, *, seed: int,
              sample_every: int, n_samples: int = 16, log_every: int = 1, checkpoint_every: int | None = None,
              metric_every: int | None = None, metric_fn=None, mixed_precision: str = "no",
              progress: bool = True) -> GANRun:
    """Train one GAN preset (resuming from ``out_dir`` when a checkpoint is there) and export its generator.

    The networks are initialised from ``seed`` and the batches and noise follow from it, so a generator is
    reproducible from (preset, data, seed); the export carries the preset and config as metadata.
    """
    out_dir = Path(out_dir)
    torch.manual_seed(seed)
    task = build_task(preset)
    checkpoint_every = checkpoint_every or preset.steps
    checkpoint_every -= checkpoint_every % log_every  # a checkpoint never splits a logging window
    config = train_config(preset, seed=seed, log_every=log_every, checkpoint_every=max(log_every, checkpoint_every),
                          mixed_precision=mixed_precision, progress=progress)
    callbacks: list[Any] = [SampleGrid(gan_sampler(n_samples, seed + 1, psi=preset.truncation_psi), every=sample_every)]
    if metric_every and metric_fn is not None:
        callbacks.append(Metrics(metric_fn, every=metric_every))
    trainer = Trainer(task, dataset, config, out_dir, callbacks=callbacks)
    start = time.perf_counter()
    result = trainer.fit()
    wall = time.perf_counter() - start
    generator_path = trainer.export("G", out_dir / "generator.safetensors", config={
        "kind": preset.kind, "preset": preset.name, "model": dataclasses.asdict(preset.model),
        "steps": result.step, "seed": seed, "truncation_psi": preset.truncation_psi,
    })
    return GANRun(name, preset, trainer, result, generator_path, wall, result.step - (result.resumed_from or 0))


def load_generator(path: str | Path, device: str | torch.device = "cpu") -> tuple[torch.nn.Module, dict[str, Any]]:
    """A generator exported by :func:`train_gan`, in eval mode, with its metadata (kind, preset, config)."""
    state, meta = load_weights(path)
    if meta.get("kind") not in GENERATOR_CLASSES:
        raise ValueError(f"{path} does not say which GAN it holds (metadata {sorted(meta)}); export it with train_gan")
    config_cls, generator_cls = GENERATOR_CLASSES[meta["kind"]]
    model = dict(meta["model"])
    if "blur_kernel" in model:
        model["blur_kernel"] = tuple(model["blur_kernel"])
    generator = generator_cls(config_cls(**model))
    generator.load_state_dict(state)
    return generator.to(device).eval(), meta


@torch.no_grad()
def sample_images(generator: torch.nn.Module, n: int, seed: int, batch_size: int = 64, psi: float = 1.0) -> torch.Tensor:
    """``n`` images in [0, 1] (CPU) from seeded latents, in eval mode (BatchNorm recalibrated, see
    :mod:`toonlab.gan.precise_bn`)."""
    z = sample_latents(n, generator.latent_dim, seed, device=next(generator.parameters()).device)
    return render(generator, z, psi=psi, seed=seed, batch_size=batch_size).cpu()


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


@torch.no_grad()
def interpolation(generator: torch.nn.Module, seed: int, steps: int = 8, pairs: int = 3,
                  psi: float = 1.0) -> torch.Tensor:
    """(pairs * steps, 3, H, W) in [0, 1]: spherical walks between seeded latent pairs (z space), with the
    same truncation as the samples (StyleGAN2 truncates each step's w towards the mean)."""
    ends = sample_latents(2 * pairs, generator.latent_dim, seed, device=next(generator.parameters()).device)
    z = torch.cat([interpolation_path(ends[2 * i], ends[2 * i + 1], steps) for i in range(pairs)])
    return render(generator, z, psi=psi, seed=seed).cpu()


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
            "model": name, "resolution": run.preset.model.resolution,
            "G parameters (M)": round(count_parameters(run.trainer.unwrap("G")) / 1e6, 3),
            "D parameters (M)": round(count_parameters(run.trainer.unwrap("D")) / 1e6, 3),
            "train s/step (this run)": None if run.seconds_per_step is None else round(run.seconds_per_step, 4),
            "images/s (generate)": round(cost.images_per_s, 1),
            # above the baseline just before the timed calls: the generation's own activations and buffers
            "extra memory (MiB)": round((cost.peak_memory_bytes - cost.baseline_memory_bytes) / 2**20, 1),
            "memory": cost.memory_kind,
        })
    return rows


def describe_preset(preset: presets.GANPreset) -> dict[str, Any]:
    return {"preset": preset.name, "source": preset.source, "resolution": preset.model.resolution,
            "batch": preset.batch_size, "lr": preset.lr, "betas": str(tuple(preset.betas)),
            "augment": preset.augment or "none", "EMA": preset.ema_decay or "none",
            "options": json.dumps(preset.options, sort_keys=True), "notes": preset.notes}
