"""Chapter 08 — the few-shot character study: DreamBooth, LoRA and DreamBooth+LoRA (Comics-GenAI), measured
with the DreamBench protocol instead of by eye.

What the chapter does: fine-tunes a diffusion model on a few images of one subject with each of the Comics
study's three methods (on the shared loop, chapter 07's LoRA trainer extended), keeps a checkpoint every N
steps and scores every checkpoint afterwards with DreamBooth's automatic metrics (DINO, CLIP-I, CLIP-T) plus
the share of NaN/black images, picks the best checkpoint by rule, sweeps the learning rate and the inference
steps, and measures the methods' Table 1 (trainable parameters, file size, step time, peak memory).

The steps the notebook calls, in order:

* :func:`load_subjects`, :func:`subject_figure`, :func:`identifier_table` — the subjects' images (checked and
  normalised), the identifier's tokens;
* :func:`load_base`, :func:`prior_images` — the base model per method and the cached class images;
* :func:`train_all` — every (subject, method) run, resumable; :func:`loss_figure`;
* :func:`evaluate_runs`, :func:`best_checkpoints`, :func:`curve_figure`, :func:`samples_figure` — the
  per-checkpoint quality curve and the automatic choice;
* :func:`lr_sweep`, :func:`inference_steps_sweep` — the sources' sweeps with failures counted;
* :func:`cost_tables`, :func:`table1`, :func:`published_table` — Table 1 measured, and the published numbers
  in their own table.

Composes :mod:`toonlab.data.dreambench`, :mod:`toonlab.diffusion.fewshot`, :mod:`toonlab.train.dreambooth`,
:mod:`toonlab.train.fewshot_cost`, :mod:`toonlab.metrics` and :mod:`toonlab.zoo` — no model code of its own.
"""

from __future__ import annotations

import copy
import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

from toonlab import zoo
from toonlab.data.dreambench import subject_classes, subject_images, subject_prompts
from toonlab.diffusion.fewshot import (InstanceSet, check_identifier, generate_class_images, identifier_pieces,
                                       sample, to_pil)
from toonlab.diffusion.lora import LoRASpec
from toonlab.metrics.dreambooth import dreambooth_scores
from toonlab.metrics.failures import failure_rates
from toonlab.paths import cache_dir
from toonlab.train import TrainConfig
from toonlab.train.dreambooth import (COMICS_PRESETS, METHOD_LABELS, METHODS, DreamBoothImages, FewShotConfig,
                                      FewShotRun, train_fewshot, trainable_parameters, use_checkpoint)
from toonlab.train.fewshot_cost import COMICS_METHODS, THESIS_TABLE1, CostSize, cost_rows, ratios

CHAPTER = "08_fewshot"
BASE_ROLES = {"dreambooth": "sd15", "lora": "sd14", "dreambooth_lora": "sdxl"}  # the Comics study's pairing


def device() -> str:
    return "cuda" if torch.cuda.is_available() else "cpu"


def _digest(record: Any) -> str:
    return hashlib.sha256(json.dumps(record, sort_keys=True, default=str).encode()).hexdigest()[:12]


def quiet_diffusers() -> None:
    """Errors only: the tiny pipelines' and UNet-only LoRAs' routine warnings would fill the page."""
    from diffusers.utils import logging as diffusers_logging

    diffusers_logging.set_verbosity_error()


# ---------------------------------------------------------------------------------------------------
# subjects


def load_subjects(subjects: Sequence[str], resolution: int, comic_folder: str = "",
                  source: str = "committed", min_images: int = 3) -> dict[str, InstanceSet]:
    """Each DreamBench subject's images (``source``: ``committed``, the subset under data/dreambench/, or
    ``dreambench``, the registered whole data set), plus ``comic`` from a local folder when given; checked and
    normalised by :class:`InstanceSet`."""
    found = {s: InstanceSet.from_images(subject_images(s, source), resolution=resolution, min_images=min_images)
             for s in subjects}
    if comic_folder:
        found["comic"] = InstanceSet.from_folder(comic_folder, resolution=resolution, min_images=min_images)
    return found


def subject_class(subject: str, comic_class: str = "cartoon") -> str:
    return comic_class if subject == "comic" else subject_classes()[subject]


def prompts_for(subject: str, identifier: str, n_prompts: int, comic_prompts: Sequence[str] = (),
                comic_class: str = "cartoon") -> list[str]:
    """The first ``n_prompts`` DreamBench prompts (0: all 25); a comic folder uses ``comic_prompts`` (``{}`` marks
    where the identifier and class go), else the object prompts with its class."""
    if subject == "comic" and comic_prompts:
        prompts = [p.format(f"{identifier} {comic_class}") for p in comic_prompts]
    elif subject == "comic":
        prompts = [p.replace("sks toy", f"{identifier} {comic_class}") for p in subject_prompts("monster_toy")]
    else:
        prompts = subject_prompts(subject, identifier)
    return prompts[: n_prompts or None]


def subject_figure(subjects: Mapping[str, InstanceSet], n: int = 4):
    import matplotlib.pyplot as plt

    rows = len(subjects)
    fig, axes = plt.subplots(rows, n, figsize=(1.6 * n, 1.7 * rows), squeeze=False)
    for row, (name, instance) in enumerate(subjects.items()):
        for col in range(n):
            ax = axes[row][col]
            ax.axis("off")
            if col < len(instance):
                ax.imshow(instance.images[col])
                if col == 0:
                    ax.set_title(name, fontsize=8, loc="left")
    fig.tight_layout()
    return fig


def identifier_table(tokenizer: Any, identifiers: Sequence[str]) -> pd.DataFrame:
    """How the tokenizer splits each identifier; more than one piece is warned about when training starts."""
    rows = []
    for identifier in identifiers:
        pieces = identifier_pieces(tokenizer, identifier)
        rows.append({"identifier": identifier, "tokens": len(pieces), "pieces": " · ".join(pieces),
                     "verdict": "one rare token (DreamBooth's choice)" if len(pieces) == 1 else
                     "several pieces: warned (each carries the model's prior meaning)"})
    return pd.DataFrame(rows)


# ---------------------------------------------------------------------------------------------------
# models and class images


def base_role(method: str, dreambooth_lora_base: str) -> str:
    return dreambooth_lora_base if method == "dreambooth_lora" else BASE_ROLES[method]


def load_base(models: str, role: str, profile: str, device: str, dtype: torch.dtype | None = None):
    """A method's base pipeline: tiny random from configs (``models="tiny"``) or the role's hub weights."""
    if models == "tiny":
        return zoo.load(role, "ci", device=device, seed=0)
    return zoo.load(role, profile, device=device, dtype=dtype)


def base_label(models: str, role: str, profile: str) -> str:
    return zoo.describe(role, "ci" if models == "tiny" else profile)


def load_scorers(models: str, profile: str, device: str) -> tuple[Any, Any]:
    """(CLIP, DINO) for the DreamBooth metrics: the paper's CLIP ViT-B/32 (the zoo's ``clip_b32``) and DINO
    ViT-S/16; with tiny models (``ci``) tiny random ones of the same classes."""
    where = "ci" if models == "tiny" else profile
    return zoo.load("clip_b32", where, device=device), zoo.load("dino", where, device=device)


def prior_images(pipe: Any, class_noun: str, count: int, *, label: str, profile: str, size: int, steps: int,
                 seed: int, progress: bool = True) -> list[Any]:
    """``count`` images of "a photo of <class>" from the frozen base, generated once into the cache (resumable)."""
    prompt = f"a photo of {class_noun}"
    folder = cache_dir("fewshot", profile, "class-images", _digest([label, prompt, count, size, steps, seed]))
    return generate_class_images(pipe, prompt, count, folder, model=label, seed=seed, steps=steps, size=size,
                                 progress=progress)


# ---------------------------------------------------------------------------------------------------
# training


@dataclass(frozen=True)
class RunSettings:
    """What every run shares (one parameter each in the notebook)."""

    resolution: int
    steps: int
    batch_size: int
    checkpoint_every: int
    lora_rank: int
    prior_preservation: bool
    prior_loss_weight: float
    train_text_encoder: bool
    mixed_precision: str
    seed: int
    learning_rates: Mapping[str, float]  # per method


def method_config(method: str, settings: RunSettings, learning_rate: float | None = None) -> FewShotConfig:
    """The method's Comics preset (lr schedule, optimizer, accumulation) at this run's size and steps."""
    preset = COMICS_PRESETS[method].config
    optimizer = preset.optimizer if torch.cuda.is_available() else "adamw"  # 8-bit Adam is CUDA-only
    return FewShotConfig(method=method, resolution=settings.resolution,
                         learning_rate=learning_rate or settings.learning_rates[method],
                         lr_schedule=preset.lr_schedule, lora=LoRASpec(rank=settings.lora_rank),
                         train_text_encoder=settings.train_text_encoder and method == "dreambooth",
                         prior_loss_weight=settings.prior_loss_weight, optimizer=optimizer,
                         vae_fp32=preset.vae_fp32 or not torch.cuda.is_available())


def train_one(base: Any, label: str, method: str, subject: str, instance: InstanceSet, identifier: str,
              class_noun: str, class_images: Sequence[Any], settings: RunSettings, profile: str, *,
              learning_rate: float | None = None, progress: bool = True) -> FewShotRun:
    """One (subject, method) run on a copy of ``base``, in a cache folder keyed by everything that determines it
    (a finished run reloads, a killed one resumes)."""
    config = method_config(method, settings, learning_rate)
    instance_prompt = f"a photo of {identifier} {class_noun}"
    # Comics: prior preservation for DreamBooth only (DreamBooth+LoRA ran without; the text-to-image LoRA has none)
    prior = settings.prior_preservation and method == "dreambooth"
    data = DreamBoothImages(instance.images, instance_prompt, settings.resolution,
                            class_images if prior else (), f"a photo of {class_noun}" if prior else None)
    train = TrainConfig(steps=settings.steps, batch_size=settings.batch_size, seed=settings.seed,
                        mixed_precision=settings.mixed_precision, checkpoint_every=settings.checkpoint_every,
                        log_every=settings.checkpoint_every, progress=progress,
                        keep_checkpoints=settings.steps // settings.checkpoint_every + 1)
    images = hashlib.sha256(b"".join(np.asarray(image).tobytes() for image in [*instance.images, *data_classes(data)]))
    key = _digest({"base": label, "config": config.to_dict(), "train": {k: v for k, v in vars(train).items()
                                                                         if k != "progress"},
                   "prompt": instance_prompt, "prior": prior, "images": images.hexdigest()})
    pipe = copy.deepcopy(base)
    return train_fewshot(pipe, data, config, train, cache_dir("fewshot", profile, f"{method}-{subject}-{key}"),
                         base_name=label)


def data_classes(data: DreamBoothImages) -> list[Any]:
    return list(data.classes.images) if data.classes is not None else []


def train_all(bases: Mapping[str, Any], labels: Mapping[str, str], methods: Sequence[str],
              subjects: Mapping[str, InstanceSet], identifier: str, class_images: Mapping[str, Sequence[Any]],
              settings: RunSettings, profile: str, comic_class: str = "cartoon",
              progress: bool = True) -> dict[tuple[str, str], FewShotRun]:
    """Every (subject, method) run; the identifier is checked once (a warning if it splits)."""
    first = next(iter(bases.values()))
    check_identifier(first.tokenizer, identifier)
    runs = {}
    for subject, instance in subjects.items():
        noun = subject_class(subject, comic_class)
        for method in methods:
            runs[(subject, method)] = train_one(bases[method], labels[method], method, subject, instance, identifier,
                                                noun, class_images.get(noun, ()), settings, profile,
                                                progress=progress)
    return runs


def loss_figure(runs: Mapping[tuple[str, str], FewShotRun]):
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 3))
    for (subject, method), run in runs.items():
        if run.result is None:
            continue
        steps, values = run.result.history.series["loss"]
        ax.plot(steps, values, marker="o", markersize=3, label=f"{METHOD_LABELS[method]} · {subject}")
    ax.set_xlabel("training step")
    ax.set_ylabel("loss (instance + prior)")
    ax.legend(fontsize=7)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    return fig


# ---------------------------------------------------------------------------------------------------
# evaluation: every checkpoint, afterwards


@dataclass(frozen=True)
class EvalSettings:
    n_prompts: int  # DreamBench prompts per subject (0: all 25)
    images_per_prompt: int  # the paper: 4
    steps: int  # inference steps
    guidance: float
    size: int
    seed: int = 0


def _scores(images: np.ndarray, prompts: Sequence[str], references: Sequence[Any], clip: Any,
            dino: Any) -> dict[str, float]:
    failures = failure_rates(images)
    row = {"NaN share": failures.nan, "black share": failures.black}
    ok = [i for i, image in enumerate(images) if np.isfinite(image).all()]
    if ok:
        scores = dreambooth_scores(to_pil(images[ok]), references, [prompts[i] for i in ok], clip, dino)
        row.update({name: score.mean for name, score in scores.items()})
    else:  # every image failed: there is nothing to score
        row.update({"CLIP-I": None, "CLIP-T": None, "DINO": None})
    return row


def generate_for(pipe: Any, prompts: Sequence[str], settings: EvalSettings, steps: int | None = None) -> tuple[np.ndarray, list[str]]:
    all_prompts = [p for p in prompts for _ in range(settings.images_per_prompt)]
    seeds = [settings.seed + i for i in range(len(all_prompts))]
    return sample(pipe, all_prompts, seeds, steps=steps or settings.steps, guidance=settings.guidance,
                  size=settings.size), all_prompts


def evaluate_runs(runs: Mapping[tuple[str, str], FewShotRun], subjects: Mapping[str, InstanceSet],
                  identifier: str, settings: EvalSettings, clip: Any, dino: Any,
                  comic_prompts: Sequence[str] = (), comic_class: str = "cartoon",
                  progress: bool = True) -> pd.DataFrame:
    """DINO, CLIP-I, CLIP-T and the NaN/black shares of every kept checkpoint of every run: each checkpoint's
    weights are put back into the run's pipeline (no retraining); the last one is restored at the end."""
    from tqdm.auto import tqdm

    rows = []
    for (subject, method), run in tqdm(list(runs.items()), desc="evaluate", disable=not progress):
        prompts = prompts_for(subject, identifier, settings.n_prompts, comic_prompts, comic_class)
        checkpoints = run.checkpoints()
        for step, path in checkpoints:
            use_checkpoint(run, path)
            images, all_prompts = generate_for(run.trainer.task.pipe, prompts, settings)
            rows.append({"subject": subject, "method": METHOD_LABELS[method], "step": step,
                         **_scores(images, all_prompts, subjects[subject].images, clip, dino)})
        if checkpoints:
            use_checkpoint(run, checkpoints[-1][1])
    return pd.DataFrame(rows)


def best_checkpoints(curve: pd.DataFrame) -> pd.DataFrame:
    """The automatic choice the Comics study made by eye: per subject and method, the checkpoint with the highest
    DINO (the DreamBooth paper's subject-fidelity metric) among those without failed images; CLIP-T breaks ties."""
    usable = curve[(curve["NaN share"] == 0) & (curve["black share"] == 0) & curve["DINO"].notna()]
    if usable.empty:
        return usable
    order = usable.sort_values(["DINO", "CLIP-T", "step"], ascending=[False, False, True])
    return order.groupby(["subject", "method"], as_index=False).first()


def curve_figure(curve: pd.DataFrame, metric: str = "DINO"):
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 3))
    for (subject, method), part in curve.groupby(["subject", "method"]):
        ax.plot(part["step"], part[metric], marker="o", markersize=3, label=f"{method} · {subject}")
    ax.set_xlabel("training step (checkpoint)")
    ax.set_ylabel(metric)
    ax.legend(fontsize=7)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    return fig


def samples_figure(runs: Mapping[tuple[str, str], FewShotRun], subjects: Mapping[str, InstanceSet],
                   identifier: str, settings: EvalSettings, comic_class: str = "cartoon"):
    """Per run: one real image, then the final model's image for each of the first prompts."""
    import matplotlib.pyplot as plt

    n = max(1, min(3, settings.n_prompts or 3))
    fig, axes = plt.subplots(len(runs), n + 1, figsize=(1.7 * (n + 1), 1.8 * len(runs)), squeeze=False)
    for row, ((subject, method), run) in enumerate(runs.items()):
        prompts = prompts_for(subject, identifier, n, comic_class=comic_class)
        images = sample(run.trainer.task.pipe, prompts, [settings.seed] * len(prompts), steps=settings.steps,
                        guidance=settings.guidance, size=settings.size)
        axes[row][0].imshow(subjects[subject].images[0])
        axes[row][0].set_title(f"{METHOD_LABELS[method]}\n{subject}", fontsize=7)
        for col, (image, prompt) in enumerate(zip(to_pil(images), prompts), start=1):
            axes[row][col].imshow(image)
            if row == 0:
                axes[row][col].set_title(prompt.replace(f"a {identifier} ", "… "), fontsize=6, wrap=True)
        for ax in axes[row]:
            ax.axis("off")
    fig.tight_layout()
    return fig


# ---------------------------------------------------------------------------------------------------
# sweeps


def lr_sweep(base: Any, label: str, method: str, subject: str, instance: InstanceSet, identifier: str,
             class_images: Sequence[Any], learning_rates: Sequence[float], settings: RunSettings,
             eval_settings: EvalSettings, clip: Any, dino: Any, profile: str, progress: bool = True) -> pd.DataFrame:
    """The Comics learning-rate sweep (1e-1 ... 1e-6; 1e-1 and 1e-2 "gave black images"), counted: per learning
    rate, whether training diverged, the NaN and black shares of the final model's images, and its scores."""
    noun = subject_class(subject)
    prompts = prompts_for(subject, identifier, eval_settings.n_prompts)
    rows = []
    for lr in learning_rates:
        run = train_one(base, label, method, subject, instance, identifier, noun, class_images, settings, profile,
                        learning_rate=lr, progress=progress)
        images, all_prompts = generate_for(run.trainer.task.pipe, prompts, eval_settings)
        rows.append({"method": METHOD_LABELS[method], "subject": subject, "learning rate": lr,
                     "diverged at": _diverged_step(run.diverged),
                     **_scores(images, all_prompts, instance.images, clip, dino)})
    return pd.DataFrame(rows)


def _diverged_step(message: str | None) -> str:
    if not message:
        return "—"
    return message.split(":")[0].replace("non-finite loss at ", "")


def inference_steps_sweep(runs: Mapping[tuple[str, str], FewShotRun], subjects: Mapping[str, InstanceSet],
                          identifier: str, steps_list: Sequence[int], eval_settings: EvalSettings, clip: Any,
                          dino: Any) -> pd.DataFrame:
    """The final models of the first subject at each number of inference steps (Comics: 10 ... 100)."""
    rows = []
    first = next(iter(subjects))
    for (subject, method), run in runs.items():
        if subject != first:  # one subject is enough to see the trend; every subject's cost is the same
            continue
        prompts = prompts_for(subject, identifier, eval_settings.n_prompts)
        for steps in steps_list:
            images, all_prompts = generate_for(run.trainer.task.pipe, prompts, eval_settings, steps=steps)
            rows.append({"subject": subject, "method": METHOD_LABELS[method], "inference steps": steps,
                         **_scores(images, all_prompts, subjects[subject].images, clip, dino)})
    return pd.DataFrame(rows)


def sweep_figure(table: pd.DataFrame, x: str, metric: str = "DINO", logx: bool = False):
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5, 2.8))
    for keys, part in table.groupby(["method", "subject"]):
        ax.plot(part[x], part[metric].astype(float), marker="o", markersize=3, label=" · ".join(keys))
        failed = part[(part["NaN share"] + part["black share"]) > 0]
        if len(failed):
            ax.scatter(failed[x], [0.0] * len(failed), marker="x", color="k", label="NaN/black images")
    if logx:
        ax.set_xscale("log")
    ax.set_xlabel(x)
    ax.set_ylabel(metric)
    ax.legend(fontsize=7)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    return fig


# ---------------------------------------------------------------------------------------------------
# Table 1


def cost_tables(real_size: bool, device: str, steps: int = 2,
                budget_gib: float = 0.0, progress: bool = True) -> tuple[pd.DataFrame, pd.DataFrame, str]:
    """(exact columns at real size, measured step time and memory, a sentence on what was measured). With
    ``real_size`` the step is measured at the largest SD 1.5 size that fits ``budget_gib`` (0: 85 % of the
    memory available), else at the tiny configs."""
    size = None if real_size else CostSize("tiny", 64)
    budget = int(budget_gib * 2**30) if budget_gib else None
    exact, measured, sentence = cost_rows(COMICS_METHODS, budget_bytes=budget, size=size, steps=steps, device=device,
                                          report=print if progress else None)
    exact_frame = pd.DataFrame(exact)
    exact_frame.insert(1, "how", "real size, random weights: exact (no measurement)")
    measured_frame = pd.DataFrame(measured)
    if measured and exact:
        sentence += " " + "; ".join(f"{k}: {v:.3g}" for k, v in ratios(measured, exact).items()) + "."
    return exact_frame, measured_frame, sentence


def table1(exact: pd.DataFrame, measured: pd.DataFrame, best: pd.DataFrame | None, label: str) -> pd.DataFrame:
    """Ours, one row per method: exact columns, measured columns (their size named), quality at the best
    checkpoint (mean over subjects; labelled with the run that made it)."""
    rows = []
    for i, spec in enumerate(COMICS_METHODS):
        row = {"method": METHOD_LABELS[spec.method], "model (file, parameters)": spec.label,
               "trainable parameters": int(exact.iloc[i]["trainable parameters"]),
               "saved file (MB)": round(float(exact.iloc[i]["saved file (MB)"]), 2)}
        if len(measured):
            m = measured.iloc[i]
            row.update({"s / step": round(float(m["s / step"]), 3), "peak memory (MiB)": round(float(m["peak memory (MiB)"]), 1),
                        "step measured at": f"{m['measured at']}, batch {m['batch']}, {m['device']}"})
        if best is not None and len(best):
            mine = best[best["method"] == METHOD_LABELS[spec.method]]
            if len(mine):
                row.update({"best DINO": float(mine["DINO"].mean()), "best CLIP-T": float(mine["CLIP-T"].mean()),
                            "best step(s)": ", ".join(str(int(s)) for s in mine["step"]),
                            "quality measured": label})
        rows.append(row)
    return pd.DataFrame(rows)


def thesis_table() -> pd.DataFrame:
    """The Comics thesis's Table 1 as reported (sizes, times, manual quality), beside nothing of ours."""
    return pd.DataFrame([{"method": METHOD_LABELS[m], "saved file": size, "training time": time, "quality": quality,
                          "protocol": "Comics thesis Table 1: Kaggle P100 GPU, quality judged by eye (best ratio "
                                      "0.35 flawless of 39 outputs, DreamBooth+LoRA at 1,800 steps)"}
                         for m, (size, time, quality) in THESIS_TABLE1.items()])


def published_table() -> pd.DataFrame:
    """DreamBench numbers as published, each row with its protocol (never a row of ours)."""
    paper = ("DreamBooth paper Table 1: 30 subjects x 25 prompts x 4 images, DINO ViT-S/16, CLIP ViT-B/32; "
             "pretrained weights")
    rows = [("Real images", 0.774, 0.885, None, paper),
            ("DreamBooth (Stable Diffusion)", 0.668, 0.803, 0.305, paper),
            ("Textual Inversion (Stable Diffusion)", 0.569, 0.780, 0.255, paper),
            ("Custom Diffusion", 0.643, 0.790, 0.305, "later papers on DreamBench (as quoted in this study's "
                                                       "issue 17); not in the DreamBooth paper")]
    return pd.DataFrame([{"method": m, "DINO": d, "CLIP-I": ci, "CLIP-T": ct, "protocol": p} for m, d, ci, ct, p in rows])


def ours_summary(best: pd.DataFrame, label: str, protocol: str) -> pd.DataFrame:
    """Our best checkpoints' mean DINO / CLIP-I / CLIP-T per method, with our protocol (beside the published
    table, not in it)."""
    if best is None or best.empty:
        return pd.DataFrame()
    summary = best.groupby("method", as_index=False)[["DINO", "CLIP-I", "CLIP-T"]].mean()
    summary["protocol"] = f"{label}; {protocol}"
    return summary


def comics_presets() -> pd.DataFrame:
    return pd.DataFrame([{"run": p.name, "base": p.role, "method": METHOD_LABELS[p.config.method],
                          "lr": p.config.learning_rate, "steps": p.steps, "batch (x accumulation)": p.batch_size,
                          "checkpoint every": p.checkpoint_every, "prompt": p.instance_prompt, "as in the source": p.note}
                         for p in COMICS_PRESETS.values()])


def trainable_table(runs: Mapping[tuple[str, str], FewShotRun]) -> pd.DataFrame:
    """Trainable parameters and saved bytes of the runs themselves (the models this run trained)."""
    rows = []
    for (subject, method), run in runs.items():
        rows.append({"subject": subject, "method": METHOD_LABELS[method],
                     "trainable parameters": trainable_parameters(run.task.models),
                     "saved (bytes)": run.saved_bytes if run.weights else None,
                     "steps": run.result.step if run.result else None,
                     "diverged": _diverged_step(run.diverged)})
    return pd.DataFrame(rows)


__all__ = ["BASE_ROLES", "CHAPTER", "EvalSettings", "METHODS", "RunSettings", "base_label", "base_role",
           "best_checkpoints", "comics_presets", "cost_tables", "curve_figure", "device", "evaluate_runs",
           "identifier_table", "inference_steps_sweep", "load_base", "load_scorers", "load_subjects", "loss_figure", "lr_sweep",
           "ours_summary", "prior_images", "prompts_for", "published_table", "quiet_diffusers", "samples_figure",
           "subject_class", "subject_figure", "sweep_figure", "table1", "thesis_table", "train_all", "train_one",
           "trainable_table"]
