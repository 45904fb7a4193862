"""GAN runs: a source preset at a chosen scale, trained on the shared loop, exported, reloaded and sampled.

Layer 4 (training). Chapter 03 trains the generators with these functions; the inversion and editing
chapters start from the exported generators (:func:`load_generator`), and find them again with the same
:func:`scaled_preset` and :func:`run_folder`.

* :func:`scaled_preset` — a source preset at another resolution and (in ``ci``) tiny widths;
* :func:`run_folder` — where a run's checkpoints live, keyed by everything that shapes the weights;
* :func:`train_gan` — one preset on one data set, with sample grids (and optional metrics) over training,
  exact resume, and the EMA generator exported as safetensors with its config;
* :func:`load_generator` — that export back as a generator;
* :func:`publish_generator`, :func:`load_committed_generator` — a small fp16 copy committed under
  ``data/weights`` with its sha256 in data/registry.yaml (the ``cpu`` generators that chapters 05 and 06
  start from), and that copy back after checking its sha256, family and resolution;
* :func:`sample_images`, :func:`interpolation` — seeded samples and latent walks in eval mode.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch.utils.data import Dataset

from toonlab.gan import DCGANConfig, FastGANConfig, StyleGAN2Config, presets
from toonlab.gan.dcgan import DCGANGenerator
from toonlab.gan.fastgan import FastGANGenerator
from toonlab.gan.precise_bn import render
from toonlab.gan.sampling import interpolation_path, sample_latents
from toonlab.gan.stylegan2 import StyleGAN2Generator
from toonlab.train.callbacks import Metrics, SampleGrid, read_grids
from toonlab.train.checkpoint import load_weights
from toonlab.train.gan_tasks import build_task, gan_sampler, train_config
from toonlab.train.loop import Trainer, TrainResult

# Widths for ci: the same architectures, a few channels wide, so tens of steps fit in seconds on a CPU.
TINY_WIDTHS: dict[str, dict[str, Any]] = {
    "dcgan": {"base_channels": 8},
    "fastgan": {"ngf": 8, "ndf": 8},
    "stylegan2": {"style_dim": 32, "n_mlp": 2, "channel_base": 1024, "channel_max": 32},
}
GENERATOR_CLASSES = {"dcgan": (DCGANConfig, DCGANGenerator), "fastgan": (FastGANConfig, FastGANGenerator),
                     "stylegan2": (StyleGAN2Config, StyleGAN2Generator)}


def scaled_preset(name: str, resolution: int, tiny: bool = False, widths: Mapping[str, Mapping[str, Any]] | None = None,
                  **changes: Any) -> presets.GANPreset:
    """A source preset moved to ``resolution``; ``tiny`` swaps in :data:`TINY_WIDTHS` (``ci`` only).

    ``widths`` maps a GAN family (``fastgan``, ``stylegan2``, ``dcgan``) to model-config changes (the
    ``cpu`` profile's reduced widths); ``changes`` replace preset fields, and ``model={...}`` changes
    model-config fields on top of all the above.
    """
    preset = presets.get(name)
    model: dict[str, Any] = {"resolution": resolution}
    if preset.kind == "stylegan2" and preset.model.channel_base is not None:
        # lucidrains' widths scale with the image size (capacity * 2 * size / res): keep that rule
        model["channel_base"] = preset.model.channel_base * resolution // preset.model.resolution
    if tiny:
        model.update(TINY_WIDTHS[preset.kind])
    unknown = sorted(set(widths or {}) - set(GENERATOR_CLASSES))
    if unknown:
        raise ValueError(f"widths for unknown GAN families {unknown}; use {sorted(GENERATOR_CLASSES)}")
    model.update((widths or {}).get(preset.kind) or {})
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
    # a published copy is stored in fp16 (publish_generator); the networks always run in fp32
    generator.load_state_dict({key: value.float() if value.is_floating_point() else value for key, value in state.items()})
    return generator.to(device).eval(), meta


class CommittedGeneratorError(RuntimeError):
    """A committed generator is missing, changed, or not the network the caller expects."""


def published_name(profile: str, preset: str) -> str:
    """The registry name (data/registry.yaml, ``weights:``) of a published generator: ``gan_<profile>_<preset>``."""
    return f"gan_{profile}_{preset}"


def publish_generator(path: str | Path, dest: str | Path, max_bytes: int = 5 * 2**20) -> tuple[Path, str]:
    """Copy an exported generator to ``dest`` in fp16 (half the bytes; eval samples barely change), with
    the same metadata plus ``dtype``, atomically; returns ``(dest, sha256)``. Refuses a file over
    ``max_bytes`` (the repository keeps committed weights small: reduce the widths instead)."""
    from toonlab.data.manifest import sha256_file
    from toonlab.train.checkpoint import save_weights

    generator, meta = load_generator(path)
    size = sum(t.numel() for t in generator.state_dict().values() if t.is_floating_point()) * 2
    if size > max_bytes:
        raise CommittedGeneratorError(f"{path}: {size / 2**20:.1f} MiB in fp16, over the {max_bytes / 2**20:.0f} MiB "
                                      f"allowed for committed weights; publish a narrower generator")
    dest = save_weights(dest, generator.half(), config={**meta, "dtype": "float16"})
    return dest, sha256_file(dest)


def load_committed_generator(name: str, *, kind: str | None = None, resolution: int | None = None,
                             device: str | torch.device = "cpu", root: Path | None = None
                             ) -> tuple[torch.nn.Module, dict[str, Any]]:
    """The committed generator ``name`` (``weights:`` in data/registry.yaml, e.g. ``gan_cpu_toyhollywood_fastgan``)
    after checking its sha256 and, when given, that it is a ``kind`` generator at ``resolution`` px."""
    from toonlab.data.manifest import sha256_file
    from toonlab.data.registry import weights_spec

    spec = weights_spec(name, root)
    rebuild = f"rebuild it with `{spec.command}`" if spec.command else "rebuild it"
    if not spec.file.is_file():
        raise CommittedGeneratorError(f"generator {name!r}: {spec.file} is missing; it ships with the repository "
                                      f"(git checkout -- the file) or {rebuild}")
    actual = sha256_file(spec.file)
    if actual != spec.sha256:
        raise CommittedGeneratorError(f"generator {name!r}: {spec.file} has sha256 {actual[:16]}…, the registry says "
                                      f"{spec.sha256[:16]}…; restore the file, or {rebuild} and update data/registry.yaml")
    generator, meta = load_generator(spec.file, device)
    found = (meta["kind"], int(meta["model"]["resolution"]))
    if (kind is not None and kind != found[0]) or (resolution is not None and resolution != found[1]):
        raise CommittedGeneratorError(f"generator {name!r} is a {found[0]} at {found[1]} px, but a "
                                      f"{kind or found[0]} at {resolution or found[1]} px was asked for; "
                                      f"load another entry or train one at that size")
    meta["sha256"] = actual
    return generator, meta


@torch.no_grad()
def sample_images(generator: torch.nn.Module, n: int, seed: int, batch_size: int = 64, psi: float = 1.0) -> torch.Tensor:
    """``n`` images in [0, 1] (CPU) from seeded latents, in eval mode (BatchNorm recalibrated, see
    :mod:`toonlab.gan.precise_bn`)."""
    z = sample_latents(n, generator.latent_dim, seed, device=next(generator.parameters()).device)
    return render(generator, z, psi=psi, seed=seed, batch_size=batch_size).cpu()


@torch.no_grad()
def interpolation(generator: torch.nn.Module, seed: int, steps: int = 8, pairs: int = 3,
                  psi: float = 1.0) -> torch.Tensor:
    """(pairs * steps, 3, H, W) in [0, 1]: spherical walks between seeded latent pairs (z space), with the
    same truncation as the samples (StyleGAN2 truncates each step's w towards the mean)."""
    ends = sample_latents(2 * pairs, generator.latent_dim, seed, device=next(generator.parameters()).device)
    z = torch.cat([interpolation_path(ends[2 * i], ends[2 * i + 1], steps) for i in range(pairs)])
    return render(generator, z, psi=psi, seed=seed).cpu()
