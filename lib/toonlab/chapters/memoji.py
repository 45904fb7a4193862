"""Chapter 07 — memoji: MyMemoji's SDXL LoRA + ControlNet canny + img2img refine, rebuilt with diffusers/peft
and measured for the first time.

What the chapter does: trains a LoRA on a memoji-style image set (the book's SDXL LoRA trainer on the shared
loop), exports it for diffusers and for A1111 (kohya), reads gender / expression / glasses from each photo
zero-shot to build the source's prompt, runs the two-pass pipeline (ControlNet canny img2img, then a 1.5x
img2img refine) over a folder of photos for every variant — no LoRA, LoRA, LoRA + ControlNet, + refine, and
sweeps of the ControlNet weight, the canny thresholds and the strength — and scores each variant for identity,
structure, style, prompt adherence, time and memory.

The steps the notebook calls, in order:

* :func:`load_style_set`, :func:`load_heldout_style`, :func:`load_photos` — training memoji with captions, the
  held-out style set, the input photos (written to a folder the batch reads);
* :func:`train_memoji_lora`, :func:`loss_figure`, :func:`export_kohya` — the LoRA (resumes after a kill,
  reloads when finished) and its kohya file;
* :func:`load_clip`, :func:`photo_prompts` — zero-shot attributes and the prompt of each photo;
* :func:`build_pipeline`, :func:`variants`, :func:`run_variants` — every variant over the photo folder
  (resumable, no duplicates);
* :func:`metric_table`, :func:`memoji_figure`, :func:`sweep_figure`, :func:`cost_table` — the results.

Composes :mod:`toonlab.diffusion.memoji` and :mod:`toonlab.diffusion.lora` (networks),
:mod:`toonlab.train.lora` (training), :mod:`toonlab.features.face_attributes`, :mod:`toonlab.metrics` and
:mod:`toonlab.zoo` — no model code of its own.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pandas as pd
import torch
from PIL import Image

from toonlab import zoo
from toonlab.data import load_images
from toonlab.diffusion import lora as lora_io
from toonlab.diffusion.memoji import (A1111_DEFAULT_STRENGTH, CANNY_THRESHOLDS, INTENDED_STRENGTH, SEED, STEPS,
                                      BatchReport,
                                      MemojiPipeline, MemojiSettings, load_batch, memoji_batch, memoji_prompt,
                                      prepare_photo, read_photos)
from toonlab.features.face_attributes import classify_attributes
from toonlab.paths import cache_dir
from toonlab.train import TrainConfig
from toonlab.train.lora import CaptionedImages, LoRARun, LoRATrainConfig, train_lora

CHAPTER = "07_memoji"
SOURCE_VARIANT = "LoRA + ControlNet + refine (MyMemoji)"

# python-avatars mouths -> the source's expression words (the avatar set has no gender, so its captions have none)
MOUTH_EXPRESSION = {"SMILE": "smiling", "BIG_SMILE": "Laughing", "TWINKLE": "smiling", "TONGUE": "Laughing",
                    "SAD": "Sad face", "CONCERNED": "Sad face", "SCREAM_OPEN": "Angry", "GRIMACE": "Angry",
                    "DEFAULT": "Neutral", "SERIOUS": "Neutral", "DISBELIEF": "Neutral", "EATING": "Neutral",
                    "VOMIT": "crying"}


def device() -> str:
    return "cuda" if torch.cuda.is_available() else "cpu"


def _digest(record: Any) -> str:
    return hashlib.sha256(json.dumps(record, sort_keys=True, default=str).encode()).hexdigest()[:12]


# ---------------------------------------------------------------------------------------------------
# data


def avatar_caption(attributes: Mapping[str, Any]) -> str:
    """``emoji, <expression>[, glasses]`` from an avatar's mouth and accessory: the source's prompt words."""
    glasses = str(attributes.get("glasses", "NONE")) not in ("NONE", "EYEPATCH")
    return "emoji, " + MOUTH_EXPRESSION.get(str(attributes.get("mouth")), "Neutral") + (", glasses" if glasses else "")


def _pil(dataset: Any) -> list[Image.Image]:
    return [Image.fromarray(dataset.uint8(i).permute(1, 2, 0).numpy()) for i in range(len(dataset))]


def style_figure(data: CaptionedImages, n: int = 8):
    """The first training images with their captions."""
    import matplotlib.pyplot as plt

    n = min(n, len(data))
    fig, axes = plt.subplots(1, n, figsize=(1.6 * n, 2.0), squeeze=False)
    for ax, image, caption in zip(axes[0], data.images, data.captions):
        ax.imshow(image)
        ax.set_title(caption.replace("emoji, ", "emoji,\n"), fontsize=7)
        ax.axis("off")
    fig.tight_layout()
    return fig


def quiet_diffusers() -> None:
    """diffusers warns on every img2img call that casting a VAE with ``to()`` may be inconsistent (our tiny VAE
    has no fp32-only modules) and on every UNet-only LoRA that the text encoders got no keys: errors only."""
    from diffusers.utils import logging as diffusers_logging

    diffusers_logging.set_verbosity_error()


def load_style_set(folder: str, limit: int, resolution: int, seed: int) -> CaptionedImages:
    """The LoRA's training set: a folder of memoji with ``.txt`` captions, or ("") rendered avatars captioned
    with the source's prompt words."""
    if folder:
        data = CaptionedImages.from_folder(folder, resolution)
        if limit:
            data = CaptionedImages(data.images[:limit], data.captions[:limit], resolution)
        return data
    avatars = load_images("avatars", resolution=resolution, limit=limit, seed=seed, progress=False)
    return CaptionedImages(_pil(avatars), [avatar_caption(a) for a in avatars.attributes], resolution)


def load_heldout_style(folder: str, limit: int, resolution: int, seed: int) -> list[Image.Image]:
    """Memoji the LoRA never saw (CLIP-I reference): a folder, or avatars drawn with another seed."""
    if folder:
        return [image for _, image in read_photos(folder)][: limit or None]
    return _pil(load_images("avatars", resolution=resolution, limit=limit, seed=seed + 1_000, progress=False))


def load_photos(folder: str, n_photos: int, resolution: int, profile: str) -> Path:
    """The folder of input photos: ``folder`` itself, or ("") scikit-image's astronaut, LFW faces (kept
    grey, as LFW ships them: a grey input case) and one non-face crop, written to a cache folder."""
    if folder:
        if not Path(folder).is_dir():
            raise FileNotFoundError(f"photos_folder {folder} does not exist; point it at a folder of face photos")
        return Path(folder)
    from toonlab import atomic
    from toonlab.diffusion.memoji import png_bytes

    photos = load_images("photos", resolution=resolution, progress=False)
    faces = [i for i in range(len(photos)) if photos.classes[photos.labels[i]] == "face"]
    non_faces = [i for i in range(len(photos)) if photos.classes[photos.labels[i]] == "non_face"]
    chosen = faces[: max(1, n_photos - 1)] + non_faces[:1]
    out = cache_dir("memoji", profile, f"photos-{resolution}-{n_photos}")
    for i in chosen:
        attributes = photos.attributes[i]
        image = Image.fromarray(photos.uint8(i).permute(1, 2, 0).numpy())
        kind = "face" if i in faces else "noface"
        if attributes.get("origin") == "lfw_subset":
            image = image.convert("L")
        atomic.write_bytes(out / f"{kind}-{attributes.get('origin')}-{int(attributes.get('index', 0)):03d}.png",
                           png_bytes(image))
    return out


# ---------------------------------------------------------------------------------------------------
# models


def load_base(models: str, role: str, profile: str, device: str, seed: int = 0, dtype: torch.dtype | None = None):
    """The SDXL base: tiny random from configs (``models="tiny"``) or the role's hub weights."""
    if models == "tiny":
        return zoo.load(role, "ci", device=device, seed=seed)
    return zoo.load(role, profile, device=device, dtype=dtype)


def base_label(models: str, role: str, profile: str) -> str:
    return zoo.describe(role, "ci" if models == "tiny" else profile)


def load_controlnet(models: str, profile: str, device: str, seed: int = 0, dtype: torch.dtype | None = None):
    if models == "tiny":
        return zoo.load("controlnet_canny_sdxl", "ci", device=device, seed=seed)
    return zoo.load("controlnet_canny_sdxl", profile, device=device, dtype=dtype)


def load_clip(profile: str, device: str):
    """The CLIP model that classifies attributes and scores CLIP-I / CLIP-T (the zoo's ``clip`` role)."""
    return zoo.load("clip", profile, device=device)


# ---------------------------------------------------------------------------------------------------
# the LoRA


def _data_fingerprint(data: CaptionedImages) -> str:
    digest = hashlib.sha256()
    for image, caption in zip(data.images, data.captions):
        digest.update(caption.encode())
        digest.update(image.convert("RGB").tobytes())
    return digest.hexdigest()[:16]


def train_memoji_lora(models: str, role: str, profile: str, data: CaptionedImages, *, rank: int, alpha: float,
                      text_encoders: bool, steps: int, batch_size: int, learning_rate: float, mixed_precision: str,
                      checkpoint_every: int, log_every: int, seed: int, device: str,
                      progress: bool = True) -> LoRARun:
    """Train (resume, or reload) the memoji LoRA; its folder is keyed by everything that determines it."""
    # The hub bases load with the fp16-fix VAE, which (as in diffusers' script given a VAE path) may run in the
    # training precision; SDXL's own VAE overflows in fp16, so the tiny/other bases keep theirs in fp32.
    config = LoRATrainConfig(lora=lora_io.LoRASpec(rank=rank, alpha=alpha or None, text_encoders=text_encoders),
                             resolution=data.resolution, learning_rate=learning_rate, vae_fp32=models != "hub")
    train = TrainConfig(steps=steps, batch_size=batch_size, seed=seed, mixed_precision=mixed_precision,
                        checkpoint_every=checkpoint_every, log_every=log_every, keep_checkpoints=1, progress=progress)
    label = base_label(models, role, profile)
    key = _digest({"base": label, "lora": config.to_dict(), "train": {k: v for k, v in vars(train).items()
                                                                       if k != "progress"},
                   "data": _data_fingerprint(data)})
    pipe = load_base(models, role, profile, device, seed=0)
    return train_lora(pipe, data, config, train, cache_dir("memoji", profile, f"lora-{key}"), base_name=label)


def loss_figure(run: LoRARun):
    import matplotlib.pyplot as plt

    steps, values = run.result.history.series["loss"]
    fig, ax = plt.subplots(figsize=(6, 3))
    ax.plot(steps, values, marker="o", markersize=3)
    ax.set_xlabel("training step")
    ax.set_ylabel("noise-prediction MSE")
    ax.set_title(f"LoRA rank {run.config.lora.rank} on {run.base.family}", fontsize=9)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    return fig


def export_kohya(run: LoRARun) -> dict[str, Any]:
    """The kohya/A1111 file beside the diffusers one; key counts and sizes of both."""
    target = run.weights.with_name("memoji_kohya.safetensors")
    lora_io.export_kohya(run.weights, target)
    from safetensors import safe_open

    def keys(path: Path) -> int:
        with safe_open(str(path), framework="pt") as handle:
            return len(list(handle.keys()))

    return {"diffusers file": run.weights.name, "diffusers keys": keys(run.weights),
            "kohya file": target.name, "kohya keys": keys(target),
            "size (KiB)": round(run.weights.stat().st_size / 1024, 1), "path": target}


# ---------------------------------------------------------------------------------------------------
# prompts from photos


def photo_prompts(clip: Any, folder: Path, size: int, faces: Any | None = None) -> pd.DataFrame:
    """Zero-shot gender / expression / glasses of every photo in ``folder`` and the prompt they make; with
    dlib's models, whether a face is found (a photo without one still gets its memoji, but no identity score)."""
    from toonlab.metrics.face_identity import face_descriptor

    photos = read_photos(folder)
    prepared = [prepare_photo(image, size) for _, image in photos]
    attributes = classify_attributes(clip, prepared)
    rows = []
    for (name, image), picture, found in zip(photos, prepared, attributes):
        face = "—" if faces is None else ("yes" if face_descriptor(picture, faces) is not None else
                                          "no face detected: memoji made, no identity score")
        rows.append({"photo": name, "mode": image.mode, "size": f"{image.width}x{image.height}", "face (dlib)": face,
                     **found.as_dict(),
                     "P(gender)": round(found.scores["gender"][found.gender], 3),
                     "P(expression)": round(found.scores["expression"][found.expression], 3),
                     "prompt": memoji_prompt(found.gender, found.expression, found.glasses)})
    return pd.DataFrame(rows)


# ---------------------------------------------------------------------------------------------------
# the pipeline and its variants


def build_pipeline(models: str, role: str, profile: str, lora_file: Path, device: str,
                   dtype: torch.dtype | None = None) -> MemojiPipeline:
    """A fresh base (the LoRA loaded from its file, as a user would) + the canny ControlNet."""
    base = load_base(models, role, profile, device, seed=0, dtype=dtype)
    controlnet = load_controlnet(models, profile, device, seed=0, dtype=dtype)
    return MemojiPipeline(base, controlnet, lora_file, base_name=base_label(models, role, profile))


def parse_thresholds(text: str) -> tuple[int, int]:
    try:
        low, high = (int(part) for part in text.split("/"))
    except ValueError:
        raise ValueError(f"canny thresholds {text!r} must look like '70/230' (low/high)") from None
    return low, high


def variants(settings: MemojiSettings, controlnet_weights: Sequence[float], canny_sweep: Sequence[str],
             intended_strength: bool) -> dict[str, MemojiSettings]:
    """The ablation (no LoRA -> LoRA -> + ControlNet -> + refine) and the sweeps around the source's variant."""
    found = {
        "no LoRA (img2img)": settings.with_(lora=False, controlnet=False, refine=False),
        "LoRA (img2img)": settings.with_(controlnet=False, refine=False),
        "LoRA + ControlNet": settings.with_(refine=False),
        SOURCE_VARIANT: settings,
    }
    for weight in controlnet_weights:
        if weight != settings.controlnet_weight:
            found[f"MyMemoji, ControlNet weight {weight:g}"] = settings.with_(controlnet_weight=weight)
    for text in canny_sweep:
        low, high = parse_thresholds(text)
        if (low, high) != (settings.canny_low, settings.canny_high):
            found[f"MyMemoji, canny {low}/{high}"] = settings.with_(canny_low=low, canny_high=high)
    if intended_strength and settings.strength != INTENDED_STRENGTH:
        found[f"MyMemoji, strength {INTENDED_STRENGTH} (the source's intent)"] = settings.with_(
            strength=INTENDED_STRENGTH, refine_strength=INTENDED_STRENGTH)
    return found


def run_variants(memoji: MemojiPipeline, photo_folder: Path, prompts: Sequence[str],
                 settings: Mapping[str, MemojiSettings], *, model: str, lora_file: Path, profile: str,
                 progress: bool = True) -> dict[str, BatchReport]:
    """Every variant over the photo folder, each in its own resumable folder (keyed by settings, model, LoRA)."""
    photos = read_photos(photo_folder)
    lora_sha = hashlib.sha256(Path(lora_file).read_bytes()).hexdigest()[:12]
    reports = {}
    for name, variant in settings.items():
        key = _digest({"settings": variant.to_dict(), "model": model, "lora": lora_sha, "prompts": list(prompts),
                       "photos": [n for n, _ in photos]})
        reports[name] = memoji_batch(memoji, photos, list(prompts), variant,
                                     cache_dir("memoji", profile, "batches", key), model=model, progress=progress)
    return reports


# ---------------------------------------------------------------------------------------------------
# results


def face_models(enabled: bool) -> tuple[Any | None, str]:
    """dlib's models when installed and wanted, with a sentence for the page either way."""
    from toonlab.metrics import face_identity

    if not enabled:
        return None, "identity metric switched off (identity: false)"
    ok, message = face_identity.available()
    return (face_identity.load_face_models(), message) if ok else (None, message)


def metric_table(reports: Mapping[str, BatchReport], settings: Mapping[str, MemojiSettings], photo_folder: Path,
                 prompts: Sequence[str], style_set: Sequence[Image.Image], clip: Any, faces: Any | None,
                 label: str, cost: pd.DataFrame | None = None) -> pd.DataFrame:
    """One row per variant: identity, face detection, edge F1, style CLIP-I, CLIP-T, seconds per memoji and
    (from :func:`cost_table`, ablation rows) peak memory; sweep rows share their models and sizes with
    the MyMemoji row."""
    from toonlab.metrics.memoji_eval import score_memoji

    photos = read_photos(photo_folder)
    # the cost table's memory is CUDA's peak allocation on a GPU but an RSS increase on a CPU: say which
    memory_column = "peak memory (MiB)"
    if cost is not None and len(cost):
        memory_column = f"peak memory (MiB; {'; '.join(sorted(set(cost['memory kind'])))})"
    rows = []
    for name, report in reports.items():
        variant = settings[name]
        inputs = [prepare_photo(image, variant.size) for _, image in photos]
        outputs = load_batch(report.folder)
        scores = score_memoji(inputs, outputs, prompts, style_set, clip, faces)
        seconds = [sum(record["seconds"].values()) for record in report.records]
        rows.append({"variant": name, "measured": label,
                     "identity distance (dlib, ↓)": scores.identity_distance,
                     "faces found: photo / memoji": (f"{scores.photo_face_rate:.2f} / {scores.memoji_face_rate:.2f}"
                                                     if scores.photo_face_rate is not None else "—"),
                     "edge F1 (↑)": scores.edge_f1, "style CLIP-I (↑)": scores.style_clip_i,
                     "CLIP-T (↑)": scores.clip_t, "s / memoji": sum(seconds) / len(seconds),
                     memory_column: (float(cost.set_index("variant").loc[name, "peak memory (MiB)"])
                                           if cost is not None and name in set(cost["variant"]) else None),
                     "identity note": scores.identity_note})
    return pd.DataFrame(rows)


def metric_records(table: pd.DataFrame) -> dict[str, dict[str, Any]]:
    """The metric table as ``{variant: {column: value}}`` for metrics.json (empty cells as null, not NaN)."""
    records = {}
    for row in table.to_dict("records"):
        records[row["variant"]] = {k: (None if isinstance(v, float) and v != v else v) for k, v in row.items()
                                   if k not in ("variant", "measured")}
    return records


def cost_table(memoji: MemojiPipeline, photo_folder: Path, prompt: str, settings: Mapping[str, MemojiSettings],
               device: str, label: str) -> pd.DataFrame:
    """Seconds per stage and peak memory of one memoji per ablation variant (first photo, warm models): on CUDA
    the peak allocated, on CPU the peak RSS increase over the RSS when the call began (the process RSS peak
    beside it)."""
    from toonlab.metrics.cost import track_peak_memory

    name, photo = read_photos(photo_folder)[0]
    rows = []
    for variant_name in list(settings)[:4]:
        with track_peak_memory(device) as peak:
            output = memoji.generate(photo, prompt, settings[variant_name])
        rows.append({"variant": variant_name, "measured": label, **{f"{k} (s)": v for k, v in output.seconds.items()},
                     "total (s)": sum(output.seconds.values()),
                     # CPU: what the call added to the process's RSS (the RSS itself holds every loaded model)
                     "peak memory (MiB)": peak.mib if device == "cuda" else peak.increase_mib,
                     "memory kind": peak.kind if device == "cuda" else "cpu peak RSS increase over the call's entry",
                     "process RSS peak (MiB)": peak.mib if device != "cuda" else None, "pass-1 size": settings[variant_name].size,
                     "output size": f"{output.final.width}x{output.final.height}", "device": device})
    return pd.DataFrame(rows)


def sdxl_size_cost(label: str, strength: float, steps: int = STEPS, sides: Sequence[int] | None = None,
                   real: bool = True, progress: bool = True) -> tuple[pd.DataFrame | None, str]:
    """The pipeline's cost at SDXL base's real size with random weights (``cpu``: no hub weights offline),
    estimated from one timed call per stage at the largest pass-1 side of ``sides`` (1024/768/512) that fits
    in the memory available; ``real=False`` runs the tiny configs (tests). Returns the table (None when no
    side fits) and a sentence that states the side, the load average and that it is an estimate."""
    import psutil

    from toonlab.diffusion import memoji_cost
    from toonlab.zoo.diffusion import SDXLParts

    parts = SDXLParts(real=real)
    sides = tuple(sides or memoji_cost.SIDES)
    available = psutil.virtual_memory().available
    side = memoji_cost.largest_fitting_side(parts, sides, available)
    what = "SDXL base's configs" if real else "the tiny SDXL configs"
    if side is None:
        need = memoji_cost.needed_bytes(parts, min(sides)) / 2**30
        return None, (f"Not measured: even a {min(sides)} px pass needs about {need:.1f} GiB for its largest stage "
                      f"({what}), more than {memoji_cost.MEMORY_MARGIN:.0%} of the {available / 2**30:.1f} GiB "
                      "available.")
    load_before = os.getloadavg()[0]

    def report(stage: memoji_cost.StageCost) -> None:
        if progress:
            print(f"{stage.stage}: {stage.seconds:.1f} s at {stage.side} px, peak {stage.peak_mib:.0f} MiB", flush=True)

    rows, totals = memoji_cost.estimate(memoji_cost.stage_costs(parts, side, report=report), steps, strength,
                                        strength)
    table = pd.DataFrame(rows)
    total = {"stage": "one memoji (estimate)", "side (px)": side,
             "s per memoji (estimate)": totals["s per memoji (estimate)"],
             "peak RSS above entry (MiB)": totals["largest stage peak (MiB)"],
             "weights (MiB)": totals["all weights resident (MiB)"]}
    table = pd.concat([table, pd.DataFrame([total])], ignore_index=True)
    table.insert(1, "measured", f"{label}; {what}, random weights; estimate from one timed call per stage")
    load = (load_before + totals["load average (1 min)"]) / 2
    largest = "" if side == max(sides) else f" ({max(sides)} px does not fit the {available / 2**30:.1f} GiB available)"
    note = (f"**Estimate, not a timed memoji:** {what} with random weights, pass-1 side {side} px{largest}, refine "
            f"{table['side (px)'].max()} px, each stage timed once on the CPU ({totals['torch threads']} threads, "
            f"load average {load:.2f}) and scaled to {steps} DDIM steps × strength {strength} "
            f"({totals['pass-1 steps']} + {totals['refine steps']} denoising steps, CFG batch 2): "
            f"**{totals['s per memoji (estimate)'] / 60:.1f} min per memoji**. One model in memory at a time, the "
            f"largest stage peaked {totals['largest stage peak (MiB)'] / 1024:.1f} GiB above the process's entry "
            f"RSS; all weights resident in fp32 (as the pipeline holds them) are "
            f"{totals['all weights resident (MiB)'] / 1024:.1f} GiB.")
    return table, note


def memoji_figure(photo_folder: Path, reports: Mapping[str, BatchReport], names: Sequence[str], size: int,
                  max_rows: int = 4, canny: tuple[int, int] = CANNY_THRESHOLDS):
    """Rows: photos; columns: the photo, its canny edges, then each named variant's memoji."""
    import matplotlib.pyplot as plt

    photos = read_photos(photo_folder)[:max_rows]
    edges = load_batch(reports[names[-1]].folder, "edges")
    outputs = {name: load_batch(reports[name].folder) for name in names}
    columns = 2 + len(names)
    fig, axes = plt.subplots(len(photos), columns, figsize=(1.9 * columns, 2.0 * len(photos)), squeeze=False)
    for row, (name, photo) in enumerate(photos):
        pictures = [prepare_photo(photo, size), edges[row]] + [outputs[n][row] for n in names]
        titles = ["photo", f"canny {canny[0]}/{canny[1]}"] + list(names)
        for ax, picture, title in zip(axes[row], pictures, titles):
            ax.imshow(picture)
            ax.axis("off")
            if row == 0:
                ax.set_title(title, fontsize=7, wrap=True)
    fig.tight_layout()
    return fig


def sweep_figure(reports: Mapping[str, BatchReport], names: Sequence[str], photo_index: int = 0):
    """One photo's memoji across the sweep variants (ControlNet weight, canny thresholds, strength)."""
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(names), figsize=(2.0 * len(names), 2.4), squeeze=False)
    for ax, name in zip(axes[0], names):
        ax.imshow(load_batch(reports[name].folder)[photo_index])
        ax.set_title(name.replace("MyMemoji, ", ""), fontsize=7, wrap=True)
        ax.axis("off")
    fig.tight_layout()
    return fig


__all__ = [
    "A1111_DEFAULT_STRENGTH", "CANNY_THRESHOLDS", "CHAPTER", "INTENDED_STRENGTH", "MemojiSettings", "SEED",
    "SOURCE_VARIANT", "avatar_caption", "base_label", "build_pipeline", "cost_table", "device", "export_kohya",
    "face_models", "load_clip", "load_heldout_style", "load_photos", "load_style_set", "loss_figure",
    "memoji_figure", "metric_records", "metric_table", "parse_thresholds", "photo_prompts", "quiet_diffusers",
    "run_variants", "sdxl_size_cost", "style_figure", "sweep_figure", "train_memoji_lora", "variants",
]
