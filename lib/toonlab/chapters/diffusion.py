"""Chapter 04 — diffusion synthesis: DDPM from scratch, prompt baselines, a synthetic data set, and cost.

What the chapter does: a DDPM trained here with ToyHollyWood's T=300 schedule beside Ho et al.'s T=1000,
samples over training, DDPM vs DDIM sampling, FID/KID of every (schedule, sampler) beside the sources, the
Comics and PopYou text-to-image prompt baselines scored with CLIP-T, PopYou's synthetic data set generated
resumably from a name list, and what each sampler and generator costs (PopYou's "diffusion is slower" claim).

The steps the notebook calls, in order:

* :func:`load_images`, :func:`schedule_table` — the training images and the two schedules;
* :func:`train_schedules` under :func:`runs_root`, :func:`loss_figure`, :func:`grids_figure` — one DDPM per
  schedule (resumes after a kill, reloads when finished);
* :func:`sample_all`, :func:`samples_figure` — DDPM and DDIM samples from the same seeds;
* :func:`build_extractor`, :func:`fid_kid_table` — FID/KID against the real images;
* :func:`load_clip`, :func:`prompt_baselines`, :func:`pil_figure` — the prompt baselines with CLIP-T;
* :func:`synthetic_dataset`, :func:`load_generated` — PopYou's data set (resumable, with a manifest);
* :func:`network_table` — this profile's UNet beside the DDPM paper's 32 px network;
* :func:`chapter03_generators`, :func:`gan_samples`, :func:`budget_table` — chapter 03's committed GANs
  scored with the same features at this resolution, and what each model cost to train (GAN vs diffusion
  at a CPU budget);
* :func:`cost_gans`, :func:`cost_table` — images/s and memory of the samplers, GANs at a stated scale and
  the text-to-image pipeline.

Training folders live in the cache under a hash of everything that determines the run (model config,
training settings, the data set's manifest), so a re-run of the chapter resumes or reloads the same
run and a changed setting starts a new one instead of clashing with an old checkpoint.

Composes :mod:`toonlab.diffusion` (DDPM, prompts, generation, cost), :mod:`toonlab.zoo` (pipelines, CLIP),
:mod:`toonlab.gan` (the GANs in the cost table) and :mod:`toonlab.metrics` — no model code of its own.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import torch

from toonlab import zoo
from toonlab.data import load_images
from toonlab.diffusion import cost, prompts
from toonlab.diffusion.ddpm import PAPER_NETWORK_32, PAPER_PARAMETERS_M, DDPMConfig, build_unet, sample, signal_left_at_T
from toonlab.diffusion.generate import GenerationJob, GenerationReport, generate_dataset, load_generated, read_manifest
from toonlab.diffusion.prompts import POPYOU_DECI_CLIP, POPYOU_GAN_CLIP
from toonlab.diffusion.text2image import clip_t_per_prompt, generate_images
from toonlab.diffusion.training import DDPMRun, train_ddpm
from toonlab.gan import DCGANConfig, DCGANGenerator, FastGANConfig, FastGANGenerator
from toonlab.metrics.cost import count_parameters
from toonlab.metrics.clip_score import load_people
from toonlab.metrics.extractors import build_extractor
from toonlab.paths import cache_dir
from toonlab.train import TrainConfig
from toonlab.train.gan_runs import TINY_WIDTHS, load_committed_generator, published_name, sample_images

CHAPTER = "04_diffusion"

SCHEDULE_LABELS = {"t300": "T=300 (ToyHollyWood)", "t1000": "T=1000 (Ho et al.)"}


def device() -> str:
    return "cuda" if torch.cuda.is_available() else "cpu"


def runs_root(profile: str) -> Path:
    """The cache folder that holds this profile's DDPM runs (one per schedule and setting)."""
    return cache_dir("diffusion", profile)


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


def schedule_table(schedules: Sequence[str], model: Mapping[str, Any]) -> pd.DataFrame:
    """Each schedule's T, betas, loss and the signal left at T (sqrt of alpha-bar_T) with the chapter's UNet."""
    return pd.DataFrame([
        {"schedule": SCHEDULE_LABELS[name], "T": cfg.num_train_timesteps,
         "betas": f"linear {cfg.beta_start:g} → {cfg.beta_end:g}", "loss": cfg.loss.upper(),
         "sqrt(abar_T)": signal_left_at_T(cfg)}
        for name in schedules for cfg in [DDPMConfig.from_schedule(name, **model)]])


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
        start = time.perf_counter()
        runs[schedule] = train_ddpm(dataset, config, train, Path(root) / f"{schedule}-{key}",
                                    grid_every=grid_every, grid_n=grid_n, grid_steps=grid_steps)
        trained_now = runs[schedule].result.step - (runs[schedule].result.resumed_from or 0)
        runs[schedule].seconds_per_step = (time.perf_counter() - start) / trained_now if trained_now else None
    return runs


def sample_all(runs: Mapping[str, DDPMRun], n: int, seed: int, *, ddpm_steps: int | None, ddim_steps: int,
               batch_size: int, ddim_etas: Sequence[float] = (0.0,), progress: bool = True
               ) -> dict[tuple[str, str], torch.Tensor]:
    """``n`` images per (schedule, sampler) from each run's EMA UNet, the same seeds everywhere.

    ``ddpm_steps=None`` runs the whole chain of T ancestral steps (the paper's and the source's sampler).
    DDIM runs once per ``ddim_etas`` entry: eta 0 is deterministic DDIM ("DDIM-50"), eta 1 adds back the
    ancestral amount of noise at every step ("DDIM-50 η=1"), which hides an undertrained model's error.
    """
    if not ddim_etas:
        raise ValueError("ddim_etas is empty: give at least one DDIM eta (0.0 is deterministic DDIM)")
    samples = {}
    for schedule, run in runs.items():
        T = run.config.num_train_timesteps
        steps = ddpm_steps or T
        samples[(schedule, f"DDPM-{steps}")] = sample(run.unet, run.config, n, seed, sampler="ddpm", steps=steps,
                                                      batch_size=batch_size, progress=progress)
        steps = min(ddim_steps, T)
        for eta in ddim_etas:
            name = f"DDIM-{steps}" + (f" η={eta:g}" if eta else "")
            samples[(schedule, name)] = sample(run.unet, run.config, n, seed, sampler="ddim", steps=steps, eta=eta,
                                               batch_size=batch_size, progress=progress)
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


def network_table(model: Mapping[str, Any]) -> pd.DataFrame:
    """This profile's UNet beside the DDPM paper's CIFAR-10 network (the 32 px preset), parameters counted."""
    rows = []
    for name, fields in (("DDPM paper, CIFAR-10 32 px (Ho et al. 2020)", PAPER_NETWORK_32), ("this profile", model)):
        config = DDPMConfig(**{k: v for k, v in fields.items() if k in DDPMConfig.__dataclass_fields__})
        rows.append({"network": name, "resolution": config.resolution,
                     "block_out_channels": str(list(config.block_out_channels)),
                     "blocks per level": config.layers_per_block,
                     "attention at": str(list(config.attention_resolutions)), "dropout": config.dropout,
                     "parameters (M)": round(count_parameters(build_unet(config)) / 1e6, 2)})
    paper, ours = rows
    same = all(paper[k] == ours[k] for k in paper if k != "network")
    ours["network"] += " (the paper's network)" if same else " (reduced: differs from the paper's where the values differ)"
    paper["network"] += f" — reported {PAPER_PARAMETERS_M} M"
    return pd.DataFrame(rows)


# The GANs of chapter 03 that chapter 04 scores and times beside the DDPM (their committed cpu exports).
CHAPTER03_GANS = {"FastGAN": "toyhollywood_fastgan", "StyleGAN2": "toyhollywood_stylegan2",
                  "StyleGAN2, paper Adam (ours)": "toyhollywood_stylegan2_paper_adam"}


def chapter03_generators(profile: str = "cpu", device: str = "cpu") -> dict[str, tuple[torch.nn.Module, dict[str, Any]]]:
    """Chapter 03's generators as committed (``gan_<profile>_<preset>`` in data/registry.yaml), sha256-checked."""
    return {f"{label} (chapter 03, {profile})": load_committed_generator(published_name(profile, preset), device=device)
            for label, preset in CHAPTER03_GANS.items()}


def chapter03_table(name: str, profile: str = "cpu") -> pd.DataFrame | None:
    """One of chapter 03's committed tables of ``profile``, if present: ``cost`` (its measured seconds per
    training step) or ``presets`` (the batch each GAN trained at). The notebook declares the files it reads
    (:mod:`toonlab.other_chapters`): a new chapter 03 result stales this chapter's."""
    from toonlab import other_chapters

    return other_chapters.read_table(profile, "03_gan", f"{name}.csv")


def gan_samples(gans: Mapping[str, tuple[torch.nn.Module, Mapping[str, Any]]], n: int, seed: int, resolution: int,
                batch_size: int = 64) -> dict[tuple[str, str], torch.Tensor]:
    """``n`` samples per GAN, as chapter 03 samples them (precise BN, the preset's truncation), resized to
    ``resolution`` with antialiasing, keyed like :func:`sample_all` for :func:`fid_kid_table`."""
    import torch.nn.functional as F

    out = {}
    for label, (generator, meta) in gans.items():
        images = sample_images(generator, n, seed, batch_size=batch_size, psi=float(meta.get("truncation_psi", 1.0)))
        size = images.shape[-1]
        if size != resolution:
            images = F.interpolate(images, size=(resolution, resolution), mode="bilinear", antialias=True).clamp(0, 1)
        out[(label, f"generator, {size} → {resolution} px" if size != resolution else "generator")] = images
    return out


def budget_table(runs: Mapping[str, DDPMRun], batch_size: int, gans: Mapping[str, tuple[torch.nn.Module, Mapping[str, Any]]],
                 gan_cost: pd.DataFrame | None, gan_presets: pd.DataFrame | None = None) -> pd.DataFrame:
    """What each model cost to train: parameters, steps, batch, images seen, seconds per step (as measured
    in its own run, on its own machine; chapter 03's from its committed cost and presets tables)."""

    def chapter03_value(table: pd.DataFrame | None, preset: str, column: str) -> Any:
        found = None if table is None else table.loc[table["preset" if "preset" in table else "model"] == preset]
        return None if found is None or not len(found) else found.iloc[0].get(column)

    rows = []
    for name, run in runs.items():
        rows.append({"model": f"DDPM {SCHEDULE_LABELS[name]}", "resolution": run.config.resolution,
                     "parameters (M)": round(count_parameters(run.unet) / 1e6, 2), "steps": run.result.step,
                     "batch": batch_size, "images seen": run.result.step * batch_size,
                     "train s/step": None if run.seconds_per_step is None else round(run.seconds_per_step, 3)})
    for label, (generator, meta) in gans.items():
        batch = chapter03_value(gan_presets, meta["preset"], "batch")
        batch = None if batch is None or pd.isna(batch) else int(batch)
        rows.append({"model": label, "resolution": meta["model"]["resolution"],
                     "parameters (M)": round(count_parameters(generator) / 1e6, 2), "steps": meta["steps"],
                     "batch": batch, "images seen": None if batch is None else meta["steps"] * batch,
                     "train s/step": chapter03_value(gan_cost, meta["preset"], "train s/step (this run)")})
    frame = pd.DataFrame(rows)
    frame["train minutes"] = (frame["steps"] * frame["train s/step"].astype(float) / 60).round(1)
    return frame


def cost_gans(scale: str, resolution: int, profile: str = "cpu") -> dict[str, tuple[torch.nn.Module, int, int]]:
    """The GAN generators of the cost table at a stated scale, as ``{name: (generator, latent_dim, size)}``.

    ``source``: the sources' full widths; ``tiny``: :data:`TINY_WIDTHS` (``ci``, beside a tiny UNet);
    ``committed``: chapter 03's committed ``profile`` generators (what this profile's DDPM is compared with)
    beside the source's DCGAN. GANs make power-of-two sizes: at another resolution (80 px) they run at the
    next one up, and FastGAN at 64 px at least (its smallest); both err against the GAN."""
    size = 1 << (resolution - 1).bit_length()
    dcgan_widths = TINY_WIDTHS["dcgan"] if scale == "tiny" else {}
    gans = {"DCGAN (Comics)": (DCGANGenerator(DCGANConfig(resolution=size, **dcgan_widths)), 100, size)}
    if scale in ("source", "tiny"):
        fastgan_widths = TINY_WIDTHS["fastgan"] if scale == "tiny" else {}
        gans["FastGAN (PopYou, ToyHollyWood)"] = (FastGANGenerator(FastGANConfig(resolution=max(64, size), **fastgan_widths)),
                                                  256, max(64, size))
    elif scale == "committed":
        for label, (generator, meta) in chapter03_generators(profile).items():
            gans[label] = (generator, generator.latent_dim, int(meta["model"]["resolution"]))
    else:
        raise ValueError(f"cost GAN scale {scale!r}: use source, tiny or committed")
    return gans


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


# ---------------------------------------------------------------------------------------------------
# text-to-image: prompt baselines and PopYou's synthetic data set


def load_clip(profile: str, device: str):
    """The CLIP model that scores CLIP-T (the zoo's ``clip`` role for the profile)."""
    return zoo.load("clip", profile, device=device)


def baseline_prompts() -> list[str]:
    """The Comics prompt(s), then PopYou's text prompts."""
    return list(prompts.COMICS_PROMPTS) + prompts.popyou_text_prompts()


def reported_clip_t() -> dict[str, float]:
    """PopYou's CLIP-T per text prompt, keyed by the filled prompt."""
    return {prompts.fill(prompts.POPYOU_TEXT_TEMPLATE, text=t): v for t, v in prompts.POPYOU_TEXT_PROMPTS.items()}


def prompt_baselines(roles: Sequence[str], profile: str, clip: Any, prompt_list: Sequence[str], *, per_prompt: int,
                     seed: int, steps: int, guidance: float, size: int | None, batch_size: int,
                     device: str) -> tuple[pd.DataFrame | None, dict[str, tuple[list[Any], list[str]]], dict[str, float]]:
    """Every text-to-image role on the same prompts and seeds, scored with CLIP-T beside PopYou's numbers.

    Returns the table (``None`` without roles), the first image of each prompt per role (for the figure) and
    the mean CLIP-T per role. One pipeline is loaded at a time and dropped before the next.
    """
    tables, images_by_role, mean_clip_t = [], {}, {}
    reported = reported_clip_t()
    for role in roles:
        pipe = zoo.load(role, profile, device=device)
        job = GenerationJob(tuple(prompt_list), zoo.describe(role, profile), per_prompt, seed, steps, guidance,
                            size, size)
        images, texts = generate_images(pipe, job, batch_size=batch_size)
        table = clip_t_per_prompt(clip, images, texts, reported=reported)
        table.insert(0, "model", role)
        tables.append(table)
        images_by_role[role] = (images[::per_prompt], texts[::per_prompt])
        mean_clip_t[role] = float(table["CLIP-T (ours)"].mean())
        del pipe
    return (pd.concat(tables, ignore_index=True) if tables else None), images_by_role, mean_clip_t


@dataclass
class SyntheticDataset:
    """PopYou's data set as generated here: the job, its folder, the pipeline that made it, its CLIP-T."""

    names: list[str]
    job: GenerationJob
    folder: Path
    pipe: Any
    report: GenerationReport
    manifest: pd.DataFrame
    clip_t: float


def synthetic_dataset(model: str, profile: str, clip: Any, *, names_file: str | None, n_names: int, per_name: int,
                      seed: int, steps: int, size: int | None, batch_size: int, device: str) -> SyntheticDataset:
    """Generate (or resume) ``per_name`` images for each of ``n_names`` names with PopYou's template.

    One folder per job: a killed run resumes in it, a changed setting gets a new one.
    """
    names = load_people(names_file)[:n_names]
    job = GenerationJob(tuple(prompts.popyou_prompts(names)), zoo.describe(model, profile), per_name, seed, steps,
                        7.5, size, size)
    folder = cache_dir("diffusion", "generated", profile, f"{model}-{job.fingerprint()}")
    pipe = zoo.load(model, profile, device=device)
    report = generate_dataset(pipe, job, folder, batch_size=batch_size)
    manifest = pd.DataFrame(read_manifest(folder))
    clip_t = clip_t_per_prompt(clip, *load_generated(folder))
    return SyntheticDataset(names, job, folder, pipe, report, manifest, float(clip_t["CLIP-T (ours)"].mean()))


# ---------------------------------------------------------------------------------------------------
# cost


def cost_table(runs: Mapping[str, DDPMRun], resolution: int, *, batch_size: int, measured_steps: int | None,
               device: str, synthetic: SyntheticDataset | None = None, gen_model: str = "", gen_size: int | None = None,
               gen_steps: int = 25, gen_batch: int = 8,
               gans: Mapping[str, tuple[torch.nn.Module, int, int]] | None = None) -> pd.DataFrame:
    """Images/s and memory of DDPM and DDIM per schedule, of the two GAN baselines, and of the pipeline that
    made the synthetic data set, as ratios to the DCGAN (PopYou's "diffusion is slower" claim, measured).

    ``measured_steps`` times only that many denoising steps and scales linearly (``None``: all of them);
    ``gans`` (:func:`cost_gans`, default its ``source`` scale) are the generators compared, at their stated scale.
    """
    rows = []
    for name, run in runs.items():
        T = run.config.num_train_timesteps
        for sampler, steps in (("ddpm", T), ("ddim", min(50, T))):
            rows.append(cost.ddpm_cost(run.unet, run.config, sampler=sampler, steps=steps, batch_size=batch_size,
                                       device=device, measured_steps=min(steps, measured_steps or steps)))
    gans = gans if gans is not None else cost_gans("source", resolution)
    for gan_name, (generator, latent_dim, size) in gans.items():
        rows.append(cost.generator_cost(generator, latent_dim, size, name=gan_name, batch_size=batch_size,
                                        device=device))
    # The text-to-image model that made the synthetic data set, at its own output size (PopYou's generator).
    if synthetic is not None:
        pipe = synthetic.pipe
        pipe_size = gen_size or pipe.unet.config.sample_size * pipe.vae_scale_factor
        rows.append(cost.pipeline_cost(pipe, prompts.popyou_prompts(synthetic.names)[0],
                                       name=f"{gen_model}: {synthetic.job.model}", steps=gen_steps,
                                       measured_steps=min(gen_steps, measured_steps or gen_steps), height=pipe_size,
                                       width=pipe_size, batch_size=min(batch_size, gen_batch), device=device))
    # On a GPU the notebook's other models stay resident, so compare what each sampler adds (activations,
    # buffers); on a CPU that is lost in the allocator's reuse, so compare the peak resident size.
    memory_column = "extra memory (MiB)" if device == "cuda" else "peak memory (MiB)"
    return cost.ratio_table(rows, baseline="DCGAN (Comics)", memory_column=memory_column)


__all__ = [
    "CHAPTER", "CHAPTER03_GANS", "budget_table", "chapter03_generators", "chapter03_table", "cost_gans", "gan_samples", "network_table",
    "POPYOU_DECI_CLIP", "POPYOU_GAN_CLIP", "SCHEDULE_LABELS", "SyntheticDataset", "baseline_prompts",
    "build_extractor", "cost_table", "dataset_fingerprint", "device", "fid_kid_table", "grids_figure", "load_clip",
    "load_generated", "load_images", "loss_figure", "pil_figure", "prompt_baselines", "reported_clip_t", "runs_root",
    "sample_all", "samples_figure", "schedule_table", "synthetic_dataset", "train_schedules",
]
