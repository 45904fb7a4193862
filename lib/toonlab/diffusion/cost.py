"""What one image costs: DDPM (all T steps), DDIM-50, text-to-image pipelines and GAN generators.

All timing and memory goes through :func:`toonlab.metrics.cost.measure` (warm-up excluded, CUDA
synchronised, peak CUDA memory or sampled CPU RSS). A diffusion sampler's time is linear in its number of
denoising steps (one UNet call + one scheduler update each), so on a CPU a long chain may be measured on
``measured_steps`` < ``steps`` and scaled by ``measured_steps / steps``; the table says so in its
"measured steps" column. Peak memory does not depend on the number of steps.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pandas as pd
import torch
from torch import nn

from toonlab.diffusion.ddpm import DDPMConfig, generators, make_pipeline
from toonlab.metrics.cost import Cost, count_parameters, measure


def _row(model: str, kind: str, steps: int | None, measured_steps: int | None, resolution: int, batch: int,
         cost: Cost, params: int) -> dict[str, Any]:
    scale = (measured_steps / steps) if steps and measured_steps else 1.0
    images_per_s = cost.images_per_s * scale
    return {
        "model": model, "kind": kind, "steps": steps, "measured steps": measured_steps or steps,
        "resolution": resolution, "batch": batch, "images/s": images_per_s, "s/image": 1.0 / images_per_s,
        "peak memory (MiB)": cost.peak_memory_mib,
        "extra memory (MiB)": max(0, cost.peak_memory_bytes - cost.baseline_memory_bytes) / 2**20,
        "memory kind": cost.memory_kind, "parameters (M)": params / 1e6, "device": cost.device,
    }


def _check_steps(steps: int, measured_steps: int | None) -> int:
    measured = measured_steps or steps
    if not 1 <= measured <= steps:
        raise ValueError(f"measured_steps must be in 1..steps={steps}, got {measured_steps}")
    return measured


def ddpm_cost(unet: nn.Module, config: DDPMConfig, *, sampler: str, steps: int, batch_size: int,
              device: str | torch.device = "cpu", measured_steps: int | None = None, warmup: int = 1,
              repeats: int = 2, name: str | None = None) -> dict[str, Any]:
    """images/s and peak memory of sampling ``batch_size`` images with ``steps`` DDPM or DDIM steps."""
    measured = _check_steps(steps, measured_steps)
    unet = unet.to(device).eval()
    pipe = make_pipeline(unet, config, sampler)

    def call() -> None:
        kwargs = {"eta": 0.0} if sampler == "ddim" else {}
        with torch.no_grad():
            pipe(batch_size=batch_size, generator=generators(0, range(batch_size)), num_inference_steps=measured,
                 output_type="np", **kwargs)

    cost = measure(call, batch_size, device, warmup=warmup, repeats=repeats)
    label = name or f"DDPM T={config.num_train_timesteps}, {sampler.upper()}-{steps}"
    return _row(label, f"diffusion ({sampler})", steps, measured, config.resolution, batch_size, cost,
                count_parameters(unet))


def generator_cost(generator: nn.Module, latent_dim: int, resolution: int, *, name: str, batch_size: int,
                   device: str | torch.device = "cpu", warmup: int = 1, repeats: int = 5) -> dict[str, Any]:
    """images/s and peak memory of one GAN generator forward pass on ``batch_size`` latents."""
    from toonlab.gan import generate

    generator = generator.to(device).eval()
    z = torch.randn(batch_size, latent_dim, generator=torch.Generator().manual_seed(0)).to(device)

    def call() -> None:
        with torch.no_grad():
            out = generate(generator, z)
        if out.shape[-1] != resolution:
            raise ValueError(f"{name} made {out.shape[-1]} px images, expected {resolution} px")

    cost = measure(call, batch_size, device, warmup=warmup, repeats=repeats)
    return _row(name, "GAN generator", None, None, resolution, batch_size, cost, count_parameters(generator))


def pipeline_cost(pipe: Any, prompt: str, *, name: str, steps: int, batch_size: int, height: int, width: int,
                  device: str | torch.device = "cpu", measured_steps: int | None = None, guidance_scale: float = 7.5,
                  warmup: int = 1, repeats: int = 2) -> dict[str, Any]:
    """images/s and peak memory of a text-to-image pipeline (text encoders, UNet steps, VAE decode)."""
    measured = _check_steps(steps, measured_steps)

    def call() -> None:
        with torch.no_grad():
            pipe(prompt=[prompt] * batch_size, generator=generators(0, range(batch_size)), num_inference_steps=measured,
                 guidance_scale=guidance_scale, height=height, width=width, output_type="np")

    cost = measure(call, batch_size, device, warmup=warmup, repeats=repeats)
    # Only the UNet calls scale with steps; text encoding and VAE decoding are paid once, so scaling the
    # whole call slightly overstates the cost of a long chain measured short (a conservative direction).
    return _row(name, "text-to-image pipeline", steps, measured, height, batch_size, cost,
                count_parameters(pipe.unet))


def ratio_table(rows: Sequence[dict[str, Any]], baseline: str,
                memory_column: str = "peak memory (MiB)") -> pd.DataFrame:
    """The rows with "× time per image" and "× memory" (of ``memory_column``) relative to ``baseline``."""
    frame = pd.DataFrame(list(rows))
    if frame.empty:
        raise ValueError("no cost rows to compare")
    if baseline not in set(frame["model"]):
        raise ValueError(f"baseline {baseline!r} is not among the measured models {sorted(frame['model'])}")
    if memory_column not in frame:
        raise ValueError(f"no column {memory_column!r} in the cost rows; columns: {list(frame.columns)}")
    base = frame.loc[frame["model"] == baseline].iloc[0]
    frame["× time per image"] = frame["s/image"] / base["s/image"]
    frame["× peak memory"] = frame[memory_column] / base[memory_column]
    return frame


__all__ = ["ddpm_cost", "generator_cost", "pipeline_cost", "ratio_table"]
