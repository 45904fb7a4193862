"""What one memoji costs at SDXL's real size on a CPU, measured stage by stage with random weights.

A memoji at 50 DDIM steps and SDXL size takes hours on a few CPU cores, and the hub weights are not on the
offline machines; but a network's cost does not depend on its weights' values. So each stage of the pipeline
(:class:`toonlab.diffusion.memoji.MemojiPipeline`) is built from SDXL base's configs with random weights and
timed **once**, one model in memory at a time, and a memoji's cost is **estimated** from the timed calls:

* text encode (both encoders; once per pass, as each img2img call encodes its prompt);
* VAE encode and decode at the pass-1 side and at the refine side (img2img encodes its input image and
  decodes its result in each pass);
* one denoising step of pass 1 = the ControlNet and the UNet given its residuals, at the pass-1 side;
* one denoising step of the refine pass = the UNet at the refine side (1.5x);
* both steps with classifier-free guidance: batch 2 (prompt and empty prompt), as CFG 7 runs;

times ``int(steps x strength)`` steps per pass (diffusers' and A1111's img2img, 37 of 50 at 0.75). Memory per
stage is the peak resident size above the RSS when the measurement began (the stage's model + its activations,
sampled). Loading one model at a time keeps the peak to the largest stage; the whole pipeline resident in fp32
(all models at once, as :class:`MemojiPipeline` holds them) needs the sum of the weights plus that stage's
activations, given beside it.
"""

from __future__ import annotations

import gc
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import psutil
import torch

PROMPT = "emoji, male, smiling, glasses"
SIDES = (1024, 768, 512)
# Activation bound used to decide whether a side fits before anything is allocated (fp32): the VAE at the
# refine side holds about three 256-channel full-resolution maps at once (its last up blocks), the UNet a few
# 320-channel latent-size maps per batch item (attention runs through SDPA's memory-efficient CPU kernel).
VAE_BYTES_PER_PIXEL = 3 * 256 * 4
UNET_BYTES_PER_LATENT = 16 * 320 * 4 * 2  # x2: the CFG batch
MEMORY_MARGIN = 0.85  # of the memory available when the measurement starts


@dataclass(frozen=True)
class StageCost:
    stage: str
    side: int  # px
    seconds: float  # one call
    per_memoji: int  # calls per memoji
    peak_mib: float  # peak RSS above the measurement's entry during the call (model + activations)
    weights_mib: float  # the stage's models


def _rss() -> int:
    return psutil.Process().memory_info().rss


class _Peak:
    """Peak RSS over a block, sampled on a thread (:class:`toonlab.metrics.cost.track_peak_memory`'s sampler)."""

    def __init__(self) -> None:
        from toonlab.metrics.cost import track_peak_memory

        self.tracker = track_peak_memory("cpu")

    def __enter__(self) -> _Peak:
        self.tracker.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        self.tracker.__exit__(*exc)

    @property
    def bytes(self) -> float:
        return self.tracker.mib * 2**20


def _weights_bytes(*modules: torch.nn.Module) -> int:
    return sum(p.numel() * p.element_size() for m in modules for p in m.parameters())


def _meta_bytes(build: Callable[[], Any]) -> int:
    """Bytes of the weights ``build`` would allocate, counted on the meta device (nothing allocated)."""
    from accelerate import init_empty_weights

    with init_empty_weights():
        built = build()
    modules = built if isinstance(built, tuple) else (built,)
    return sum(p.numel() * 4 for m in modules for p in m.parameters())  # fp32


def multiples(parts: Any) -> tuple[int, int]:
    """(VAE downscale, the side every pass must be a multiple of), from the models' configs (meta device)."""
    from accelerate import init_empty_weights

    with init_empty_weights():
        vae, unet = parts.vae(), parts.unet()
    factor = 2 ** (len(vae.config.block_out_channels) - 1)
    return factor, factor * 2 ** (len(unet.config.block_out_channels) - 1)


def refine_side(side: int, upscale: float, multiple: int) -> int:
    """The refine pass's side, as :meth:`MemojiPipeline.refine_size` rounds it."""
    return max(multiple, int(round(side * upscale / multiple)) * multiple)


def needed_bytes(parts: Any, side: int, upscale: float = 1.5) -> int:
    """Upper estimate of the largest stage's memory at ``side`` (weights counted exactly, activations bounded)."""
    factor, multiple = multiples(parts)
    big = refine_side(side, upscale, multiple)
    latent = big // factor
    stages = [_meta_bytes(parts.text_encoders),
              _meta_bytes(parts.vae) + VAE_BYTES_PER_PIXEL * big * big,
              _meta_bytes(parts.controlnet) + UNET_BYTES_PER_LATENT * (side // factor) ** 2,
              _meta_bytes(parts.unet) + UNET_BYTES_PER_LATENT * latent * latent]
    return max(stages)


def largest_fitting_side(parts: Any, sides: Sequence[int] = SIDES, available: int | None = None,
                         upscale: float = 1.5) -> int | None:
    """The largest of ``sides`` whose largest stage fits in ``MEMORY_MARGIN`` of the available memory."""
    available = psutil.virtual_memory().available if available is None else available
    for side in sorted(sides, reverse=True):
        if needed_bytes(parts, side, upscale) <= MEMORY_MARGIN * available:
            return side
    return None


def _free() -> None:
    """Collect, and hand freed heap back to the kernel (glibc keeps it otherwise, and every later stage's RSS
    would carry the earlier stages' peaks)."""
    gc.collect()
    try:
        import ctypes

        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):  # not glibc: RSS may include freed heap (an overestimate)
        pass


@torch.inference_mode()
def stage_costs(parts: Any, side: int, *, upscale: float = 1.5, prompt: str = PROMPT, seed: int = 0,
                report: Callable[[StageCost], None] | None = None) -> list[StageCost]:
    """Time each stage once at pass-1 side ``side`` (random weights, one model in memory at a time).

    ``parts``: :class:`toonlab.zoo.diffusion.SDXLParts` (real SDXL configs, or the tiny ones for tests);
    ``report``: called with each stage as it finishes (a real-size run takes a long while). Each call is timed
    once, cold: its one-time overhead (thread pools, lazy kernels: a second or so) is negligible beside a
    real-size call's minute, not beside a tiny model's."""
    entry = _rss()
    generator = torch.Generator().manual_seed(seed)
    rows: list[StageCost] = []

    def timed(stage: str, at: int, calls: int, weights: int, fn: Callable[[], Any]) -> Any:
        with _Peak() as peak:
            start = time.perf_counter()
            value = fn()
            seconds = time.perf_counter() - start
        rows.append(StageCost(stage, at, seconds, calls, (peak.bytes - entry) / 2**20, weights / 2**20))
        if report is not None:
            report(rows[-1])
        return value

    # text encoders: SDXL concatenates both encoders' penultimate hidden states; the pooled embedding is
    # encoder 2's projection (StableDiffusionXLPipeline.encode_prompt; the empty negative prompt is zeros)
    tokenizers, encoders = parts.tokenizers(), parts.text_encoders()

    def encode():
        hidden = []
        for tokenizer, encoder in zip(tokenizers, encoders):
            ids = tokenizer(prompt, padding="max_length", max_length=tokenizer.model_max_length, truncation=True,
                            return_tensors="pt").input_ids
            out = encoder(ids, output_hidden_states=True)
            hidden.append(out.hidden_states[-2])
        return torch.cat(hidden, dim=-1), out[0]

    prompt_embeds, pooled = timed("text encode (both encoders)", side, 2, _weights_bytes(*encoders), encode)
    del encoders
    _free()
    prompt_embeds = torch.cat([torch.zeros_like(prompt_embeds), prompt_embeds])  # the CFG batch
    pooled = torch.cat([torch.zeros_like(pooled), pooled])

    factor, latent_multiple = multiples(parts)
    big = refine_side(side, upscale, latent_multiple)
    vae = parts.vae()
    vae_weights = _weights_bytes(vae)
    for at, what in ((side, "pass-1 side"), (big, "refine side")):
        image = torch.rand(1, 3, at, at, generator=generator) * 2 - 1
        latents = timed(f"VAE encode ({what})", at, 1, vae_weights, lambda: vae.encode(image).latent_dist.mean)
        timed(f"VAE decode ({what})", at, 1, vae_weights, lambda: vae.decode(latents).sample)
    del vae, image, latents
    _free()

    def step_inputs(at: int):
        latent = torch.randn(2, 4, at // factor, at // factor, generator=generator)
        time_ids = torch.tensor([[at, at, 0, 0, at, at]] * 2, dtype=torch.float32)
        return latent, {"text_embeds": pooled, "time_ids": time_ids}

    controlnet = parts.controlnet()
    latent, added = step_inputs(side)
    edges = (torch.rand(2, 3, side, side, generator=generator) > 0.9).float()
    t = torch.tensor(500)
    down, mid = timed("ControlNet, one step (pass-1 side)", side, 0, _weights_bytes(controlnet), lambda: controlnet(
        latent, t, encoder_hidden_states=prompt_embeds, controlnet_cond=edges, conditioning_scale=1.0,
        added_cond_kwargs=added, return_dict=False))
    controlnet_weights = _weights_bytes(controlnet)
    del controlnet
    _free()

    unet = parts.unet()
    unet_weights = _weights_bytes(unet)
    timed("UNet with ControlNet residuals, one step (pass-1 side)", side, 0, unet_weights, lambda: unet(
        latent, t, encoder_hidden_states=prompt_embeds, added_cond_kwargs=added,
        down_block_additional_residuals=down, mid_block_additional_residual=mid, return_dict=False))
    latent, added = step_inputs(big)
    timed("UNet, one step (refine side)", big, 0, unet_weights, lambda: unet(
        latent, t, encoder_hidden_states=prompt_embeds, added_cond_kwargs=added, return_dict=False))
    del unet
    _free()
    rows.append(StageCost("_controlnet_weights", side, 0.0, 0, 0.0, controlnet_weights / 2**20))
    return rows


def estimate(rows: Sequence[StageCost], steps: int = 50, strength: float = 0.75,
             refine_strength: float = 0.75) -> tuple[list[dict[str, Any]], dict[str, float]]:
    """Per-stage rows of one memoji (calls x timed seconds) and the totals.

    Denoising steps per pass: ``min(int(steps * strength), steps)`` (diffusers' img2img ``get_timesteps``)."""
    n1, n2 = min(int(steps * strength), steps), min(int(steps * refine_strength), steps)
    by_stage = {row.stage: row for row in rows}
    controlnet_weights = by_stage.pop("_controlnet_weights").weights_mib
    table = []
    for row in by_stage.values():
        calls = row.per_memoji or (n2 if "refine" in row.stage else n1)
        table.append({"stage": row.stage, "side (px)": row.side, "timed call (s)": row.seconds,
                      "calls per memoji": calls, "s per memoji (estimate)": calls * row.seconds,
                      "peak RSS above entry (MiB)": row.peak_mib, "weights (MiB)": row.weights_mib})
    weights = (by_stage["text encode (both encoders)"].weights_mib + controlnet_weights
               + next(r.weights_mib for r in by_stage.values() if r.stage.startswith("VAE"))
               + next(r.weights_mib for r in by_stage.values() if r.stage.startswith("UNet")))
    totals = {"s per memoji (estimate)": sum(r["s per memoji (estimate)"] for r in table),
              "pass-1 steps": n1, "refine steps": n2,
              "largest stage peak (MiB)": max(r.peak_mib for r in by_stage.values()),
              "all weights resident (MiB)": weights,
              "load average (1 min)": os.getloadavg()[0], "torch threads": torch.get_num_threads()}
    return table, totals


__all__ = ["SIDES", "StageCost", "estimate", "largest_fitting_side", "multiples", "needed_bytes", "refine_side", "stage_costs"]
