"""Table 1 of the Comics study, measured: what DreamBooth, LoRA and DreamBooth+LoRA cost.

Two kinds of columns, both at the real models' size with random weights (a cost does not depend on the weights'
values, so no download is needed):

* **exact** — trainable parameters and the saved file's size. The models are built on the meta device (no
  memory); the LoRA file is really written by :func:`toonlab.diffusion.lora.save_lora` (its adapters
  materialised, the base left on meta); the DreamBooth checkpoint's size is computed from its tensors' shapes
  with :func:`safetensors_bytes`, which the tests check byte for byte against files safetensors writes.
* **measured** — seconds per optimisation step and peak memory, a few steps of each method's real training step
  (:class:`~toonlab.train.dreambooth.FewShotTask`) at the largest :data:`SIZES` entry whose estimated memory fits
  the budget; every row says which size it measured and on what device. On a CPU the peak memory is the
  process's resident size above its value before the model was built (weights + gradients + optimizer state +
  activations); on CUDA the peak allocated.
"""

from __future__ import annotations

import gc
import json
import os
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image

from toonlab.diffusion.lora import LoRASpec, base_signature, save_lora
from toonlab.metrics.cost import track_peak_memory
from toonlab.train.dreambooth import DreamBoothImages, FewShotConfig, FewShotTask, METHOD_LABELS

# safetensors' header: dtype names, and the order in which it lays tensors out (larger dtypes first, then by name)
_ST_DTYPES = {torch.float64: ("F64", 8), torch.float32: ("F32", 4), torch.float16: ("F16", 2),
              torch.bfloat16: ("BF16", 2), torch.int64: ("I64", 8), torch.int32: ("I32", 4),
              torch.int16: ("I16", 2), torch.int8: ("I8", 1), torch.uint8: ("U8", 1), torch.bool: ("BOOL", 1)}
_ST_ORDER = ["BOOL", "U8", "I8", "I16", "F16", "BF16", "I32", "F32", "F64", "I64"]


def safetensors_bytes(tensors: Mapping[str, torch.Tensor], metadata: Mapping[str, str] | None = None) -> int:
    """The size of the file ``safetensors.torch.save_file(tensors, metadata=metadata)`` writes, from the tensors'
    names, dtypes and shapes alone (meta tensors work): an 8-byte header length, the JSON header padded with
    spaces to a multiple of 8, then the data. Written here because safetensors has no dry-run; tested against it."""
    entries = []
    for name, tensor in tensors.items():
        dtype, size = _ST_DTYPES[tensor.dtype]
        entries.append((name, dtype, list(tensor.shape), tensor.numel() * size))
    entries.sort(key=lambda e: (-_ST_ORDER.index(e[1]), e[0]))
    header: dict[str, Any] = {}
    if metadata:
        header["__metadata__"] = dict(metadata)
    offset = 0
    for name, dtype, shape, nbytes in entries:
        header[name] = {"dtype": dtype, "shape": shape, "data_offsets": [offset, offset + nbytes]}
        offset += nbytes
    text = json.dumps(header, separators=(",", ":"), ensure_ascii=False).encode()
    text += b" " * ((8 - len(text) % 8) % 8)
    return 8 + len(text) + offset


# ---------------------------------------------------------------------------------------------------
# exact columns at real size


@dataclass(frozen=True)
class MethodSpec:
    """One Table 1 row: the method on its base (the Comics study's pairing), LoRA rank, text-encoder training."""

    method: str
    base: str  # "SD 1.5" | "SD 1.4" | "SDXL"
    rank: int = 4
    train_text_encoder: bool = False

    @property
    def label(self) -> str:
        extra = " + text encoder" if self.train_text_encoder else ""
        rank = f", rank {self.rank}" if self.method != "dreambooth" else ""
        return f"{METHOD_LABELS[self.method]} ({self.base}{extra}{rank})"


COMICS_METHODS = (MethodSpec("dreambooth", "SD 1.5", train_text_encoder=True), MethodSpec("lora", "SD 1.4"),
                  MethodSpec("dreambooth_lora", "SDXL"))
THESIS_TABLE1 = {"dreambooth": ("4 GB", "2 h", "low"), "lora": ("3.23 MB", "12 h+", "low"),
                 "dreambooth_lora": ("25 MB", "1 h", "high")}  # file size, training time, quality (thesis)


def _lora_holder(pipeline_class: Any, unet: Any, encoders: Sequence[Any]) -> Any:
    """What :func:`save_lora` needs of a pipeline — its class's ``save_lora_weights``, ``unet``, the text encoders
    for the base signature — without building one: the base weights stay on the meta device."""
    holder = type("LoRAHolder", (), {"save_lora_weights": pipeline_class.save_lora_weights})()
    holder.unet = unet
    for name, encoder in zip(("text_encoder", "text_encoder_2"), encoders):
        setattr(holder, name, encoder)
    return holder


def _meta_models(base: str) -> tuple[Any, list[Any], Any]:
    """(UNet, text encoders, pipeline class) of a real base, on the meta device."""
    from accelerate import init_empty_weights
    from diffusers import StableDiffusionPipeline, StableDiffusionXLPipeline, UNet2DConditionModel

    from toonlab.zoo import diffusion as zd
    from toonlab.zoo.sd15 import SD15_UNET_CONFIG, sd15_text_encoder_from_config

    with init_empty_weights():
        if base == "SDXL":
            return zd.sdxl_unet_from_configs(), list(zd.sdxl_text_encoders_from_configs()), StableDiffusionXLPipeline
        if base in ("SD 1.5", "SD 1.4"):
            return (UNet2DConditionModel(**SD15_UNET_CONFIG), [sd15_text_encoder_from_config()],
                    StableDiffusionPipeline)
    raise ValueError(f"unknown base {base!r}; one of 'SD 1.5', 'SD 1.4', 'SDXL'")


def _materialise_lora(module: torch.nn.Module) -> None:
    """Give the (meta-device) LoRA adapters real zero tensors; the base stays on meta."""
    for name, sub in module.named_modules():
        if any(part in ("lora_A", "lora_B") for part in name.split(".")) and isinstance(sub, torch.nn.Linear):
            sub.to_empty(device="cpu")
            torch.nn.init.zeros_(sub.weight)


def exact_costs(spec: MethodSpec, folder: str | Path | None = None) -> dict[str, Any]:
    """Trainable parameters and saved bytes of ``spec`` at the base's real size (no weights allocated)."""
    unet, encoders, pipeline_class = _meta_models(spec.base)
    if spec.method == "dreambooth":
        models = {"unet": unet, **({"text_encoder": encoders[0]} if spec.train_text_encoder else {})}
        trainable = sum(p.numel() for m in models.values() for p in m.parameters())
        saved = sum(safetensors_bytes(m.state_dict(), {"format": "pt"}) for m in models.values())
        what = "trained models, fp32 safetensors (size from shapes)"
    else:
        unet.requires_grad_(False)
        unet.add_adapter(LoRASpec(rank=spec.rank).peft_config(LoRASpec().unet_targets))
        _materialise_lora(unet)
        trainable = sum(p.numel() for n, p in unet.named_parameters() if "lora_" in n)
        holder = _lora_holder(pipeline_class, unet, encoders)
        with tempfile.TemporaryDirectory(dir=folder) as tmp:
            path = save_lora(Path(tmp) / "pytorch_lora_weights.safetensors", holder,
                             base_signature(holder, spec.base), LoRASpec(rank=spec.rank))
            saved = path.stat().st_size
        what = "LoRA file written by save_lora (diffusers format, fp32)"
    total = sum(p.numel() for n, p in unet.named_parameters() if "lora_" not in n) + sum(
        p.numel() for e in encoders for p in e.parameters())
    return {"method": spec.label, "trainable parameters": int(trainable),
            "trainable share of UNet + text encoders": trainable / total, "saved file (bytes)": int(saved),
            "saved file (MB)": saved / 1e6, "file": what}


# ---------------------------------------------------------------------------------------------------
# measured columns: seconds per step and peak memory at the largest size that fits


@dataclass(frozen=True)
class CostSize:
    model: str  # "SD 1.5" (real configs, random weights) | "tiny" (the book's tiny SD)
    resolution: int

    @property
    def label(self) -> str:
        what = "SD 1.5 configs, random weights" if self.model == "SD 1.5" else "tiny SD configs (not SD's size)"
        return f"{what}, {self.resolution} px"


SIZES = (CostSize("SD 1.5", 512), CostSize("SD 1.5", 256), CostSize("SD 1.5", 128), CostSize("tiny", 64))
# Upper bound of the UNet activations kept for the backward pass, per latent pixel and image (fp32, SD 1.5's
# widths, no gradient checkpointing); used only to pick a size before anything is allocated.
SD15_ACTIVATION_BYTES = 2 * 2**20
MEMORY_MARGIN = 0.85


def _build(size: CostSize, seed: int = 0) -> Any:
    from toonlab.zoo.diffusion import TinySDConfig, tiny_sd_pipeline
    from toonlab.zoo.sd15 import sd15_from_configs

    if size.model == "SD 1.5":
        return sd15_from_configs(seed=seed)
    return tiny_sd_pipeline(TinySDConfig(sample_size=size.resolution // 2), seed=seed)


def needed_bytes(spec: MethodSpec, size: CostSize, batch_size: int) -> int:
    """Estimated peak: fp32 weights of the whole pipeline, gradient + two AdamW moments per trainable weight,
    the UNet's activations. Used to choose a size, never reported as a measurement."""
    if size.model == "tiny":
        return 2**30
    unet, encoders, _ = _meta_models("SD 1.5")
    weights = sum(p.numel() for p in unet.parameters()) + sum(p.numel() for p in encoders[0].parameters())
    weights += 83_653_863  # SD's VAE
    if spec.method == "dreambooth":
        trainable = sum(p.numel() for p in unet.parameters())
        if spec.train_text_encoder:
            trainable += sum(p.numel() for p in encoders[0].parameters())
    else:
        trainable = 797_184  # rank-4 LoRA on SD 1.x's attention projections (exact_costs counts it)
    latent = (size.resolution // 8) ** 2
    return 4 * weights + 12 * trainable + SD15_ACTIVATION_BYTES * latent * batch_size


def largest_fitting_size(specs: Sequence[MethodSpec], batch_size: int, budget_bytes: int,
                         sizes: Sequence[CostSize] = SIZES) -> CostSize | None:
    for size in sizes:
        if max(needed_bytes(spec, size, batch_size) for spec in specs) <= budget_bytes:
            return size
    return None


def _free() -> None:
    gc.collect()
    try:
        import ctypes

        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):  # not glibc: RSS may keep freed heap (an overestimate)
        pass


def _random_images(n: int, resolution: int, seed: int) -> list[Image.Image]:
    rng = np.random.default_rng(seed)
    return [Image.fromarray(rng.integers(0, 256, (resolution, resolution, 3), dtype=np.uint8)) for _ in range(n)]


def measure_step(spec: MethodSpec, size: CostSize, *, batch_size: int = 1, steps: int = 2, warmup: int = 1,
                 device: str = "cpu", seed: int = 0) -> dict[str, Any]:
    """Seconds per optimisation step (mean of ``steps`` after ``warmup``) and the peak memory of one method's
    training step, built fresh. Every method's step runs on SD 1.x's architecture (the same model, batch and
    resolution for all three), without prior preservation."""
    from toonlab.train.loop import TrainConfig, _make_accelerator
    from toonlab.zoo.tokenizer import END, clip_tokenizer

    # libraries and the tokenizer loaded before the measurement starts, so their memory is not counted as the step's
    import diffusers.pipelines.stable_diffusion  # noqa: F401
    import transformers.models.clip.modeling_clip  # noqa: F401

    clip_tokenizer(END)
    _free()
    with track_peak_memory(device) as peak:
        pipe = _build(size, seed).to(device)
        config = FewShotConfig(method=spec.method, resolution=size.resolution, learning_rate=1e-6,
                               train_text_encoder=spec.train_text_encoder, lora=LoRASpec(rank=spec.rank))
        task = FewShotTask(pipe, config, total_steps=warmup + steps)
        accelerator = _make_accelerator(TrainConfig(steps=1, batch_size=batch_size))
        data = DreamBoothImages(_random_images(batch_size, size.resolution, seed), "a photo of sks toy",
                                size.resolution)
        from torch.utils.data import default_collate

        batch = default_collate([data[i % len(data)] for i in range(batch_size)])
        batch = {k: v.to(device) if isinstance(v, torch.Tensor) else v for k, v in batch.items()}
        seconds = []
        for step in range(warmup + steps):
            if device == "cuda":
                torch.cuda.synchronize()
            start = time.perf_counter()
            task.train_step(batch, step, accelerator)
            if device == "cuda":
                torch.cuda.synchronize()
            seconds.append(time.perf_counter() - start)
        trainable = sum(p.numel() for m in task.models.values() for p in m.parameters() if p.requires_grad)
    del task, pipe, batch
    _free()
    memory = peak.mib if device == "cuda" else peak.increase_mib
    # every method's step is measured on SD 1.x's architecture (DreamBooth+LoRA's SDXL step is not measured)
    return {"method": MethodSpec(spec.method, "SD 1.x", spec.rank, spec.train_text_encoder).label,
            "measured at": size.label, "batch": batch_size, "device": device,
            "torch threads": torch.get_num_threads(), "s / step": float(np.mean(seconds[warmup:])),
            "peak memory (MiB)": memory,
            "memory kind": peak.kind if device == "cuda" else "cpu peak RSS above the RSS before building the model",
            "trainable parameters (measured model)": int(trainable), "steps timed": steps}


def cost_rows(specs: Sequence[MethodSpec] = COMICS_METHODS, *, budget_bytes: int | None = None,
              size: CostSize | None = None, batch_size: int = 1, steps: int = 2, device: str = "cpu",
              report: Callable[[str], None] | None = None) -> tuple[list[dict[str, Any]], list[dict[str, Any]], str]:
    """(exact rows, measured rows, a sentence naming the measured size and why). ``size`` forces one size;
    otherwise the largest :data:`SIZES` entry whose estimate fits ``budget_bytes`` (default: 85 % of the memory
    available now)."""
    import psutil

    exact = [exact_costs(spec) for spec in specs]
    if size is None:
        available = psutil.virtual_memory().available
        budget = budget_bytes if budget_bytes is not None else int(MEMORY_MARGIN * available)
        size = largest_fitting_size(specs, batch_size, budget)
        if size is None:
            return exact, [], f"Not measured: no size fits the memory budget of {budget / 2**30:.1f} GiB."
        why = f"the largest size whose estimated peak fits the budget of {budget / 2**30:.1f} GiB"
    else:
        why = "the size asked for"
    measured = []
    for spec in specs:
        if report:
            report(f"measuring {spec.label} at {size.label} ...")
        row = measure_step(spec, size, batch_size=batch_size, steps=steps, device=device)
        measured.append(row)
        if report:
            report(f"  {row['s / step']:.2f} s/step, peak {row['peak memory (MiB)']:.0f} MiB")
    sentence = (f"Step time and peak memory measured at {size.label}, batch {batch_size}, on {device} "
                f"({torch.get_num_threads()} threads, load average {os.getloadavg()[0]:.2f}): {why}.")
    return exact, measured, sentence


def ratios(measured: Sequence[Mapping[str, Any]], exact: Sequence[Mapping[str, Any]]) -> dict[str, float]:
    """LoRA / DreamBooth step time and memory (same size), DreamBooth file / LoRA file."""
    by = {row["method"].split(" (")[0]: row for row in measured}
    files = {row["method"].split(" (")[0]: row for row in exact}
    out = {"DreamBooth file / LoRA file": files["DreamBooth"]["saved file (bytes)"] / files["LoRA"]["saved file (bytes)"]}
    if "DreamBooth" in by and "LoRA" in by:
        out["LoRA / DreamBooth step time"] = by["LoRA"]["s / step"] / by["DreamBooth"]["s / step"]
        out["LoRA / DreamBooth peak memory"] = by["LoRA"]["peak memory (MiB)"] / by["DreamBooth"]["peak memory (MiB)"]
    return out


__all__ = ["COMICS_METHODS", "CostSize", "MethodSpec", "SIZES", "THESIS_TABLE1", "cost_rows", "exact_costs",
           "largest_fitting_size", "measure_step", "needed_bytes", "ratios", "safetensors_bytes"]
