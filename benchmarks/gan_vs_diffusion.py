"""What one image costs: DDPM (T=1000 and the source's T=300, full ancestral chains), DDIM-50, and the GAN
generators of chapter 03 (FastGAN, DCGAN) at the same resolution; optionally a Stable Diffusion pipeline.

Each model is measured in a fresh child process, so its memory is its own: on a GPU the CUDA peak allocated;
on a CPU the child's peak resident size, and the "memory above imports" above what the interpreter, torch
and diffusers hold before any model exists (the ratio column uses that one). Weights are
random: the cost of a forward pass does not depend on their values. A diffusion sampler costs one UNet call
per step, so on a CPU the long chains are timed on ``--measured-steps`` steps and scaled linearly (the
"measured steps" column says when).

    python benchmarks/gan_vs_diffusion.py                      # CPU, 64 px, small scale
    python benchmarks/gan_vs_diffusion.py --device cuda --measured-steps 0 --batch 64 --sd

Prints the table and the ratios (x time per image, x peak memory) against FastGAN (DCGAN below 64 px).
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import sys
from pathlib import Path
from typing import Any


MODEL_MEMORY = "memory above imports (MiB)"


def measure_one(spec: dict[str, Any]) -> dict[str, Any]:
    """Build one model from ``spec`` and measure it (runs in a child process)."""
    import psutil
    import torch

    torch.set_num_threads(spec["threads"])
    # Import everything any model needs before reading the baseline, so it is the same for every model.
    from diffusers import DDIMPipeline, DDPMPipeline, StableDiffusionPipeline, UNet2DModel  # noqa: F401

    import toonlab.diffusion.cost  # noqa: F401
    import toonlab.gan  # noqa: F401
    import toonlab.zoo  # noqa: F401

    rss_after_imports = psutil.Process().memory_info().rss / 2**20
    row = _measure(spec)
    if row["memory kind"].startswith("cuda"):
        row[MODEL_MEMORY] = row["peak memory (MiB)"]  # allocated tensors only: already the model's own
    else:
        # The child's resident size before the model existed (interpreter, torch, diffusers) is the same for
        # every model; what lies above it is the model, its activations and the sampler's buffers.
        row[MODEL_MEMORY] = max(0.0, row["peak memory (MiB)"] - rss_after_imports)
    return row


def _measure(spec: dict[str, Any]) -> dict[str, Any]:
    import torch

    from toonlab.diffusion import cost
    from toonlab.diffusion.ddpm import DDPMConfig, build_unet

    device, batch, res = spec["device"], spec["batch"], spec["resolution"]
    torch.manual_seed(0)
    kind = spec["kind"]
    if kind in ("ddpm", "ddim"):
        config = DDPMConfig.from_schedule(spec["schedule"], resolution=res)
        steps = config.num_train_timesteps if kind == "ddpm" else min(50, config.num_train_timesteps)
        measured = min(steps, spec["measured_steps"] or steps)
        return cost.ddpm_cost(build_unet(config), config, sampler=kind, steps=steps, batch_size=batch, device=device,
                              measured_steps=measured, repeats=spec["repeats"], name=spec["name"])
    if kind == "fastgan":
        from toonlab.gan import FastGANConfig, FastGANGenerator

        generator = FastGANGenerator(FastGANConfig(resolution=res, latent_dim=256, ngf=64))
        return cost.generator_cost(generator, 256, res, name=spec["name"], batch_size=batch, device=device,
                                   repeats=max(3, spec["repeats"]))
    if kind == "dcgan":
        from toonlab.gan import DCGANConfig, DCGANGenerator

        generator = DCGANGenerator(DCGANConfig(resolution=res, latent_dim=100, base_channels=64))
        return cost.generator_cost(generator, 100, res, name=spec["name"], batch_size=batch, device=device,
                                   repeats=max(3, spec["repeats"]))
    if kind == "sd":
        from toonlab import zoo

        pipe = zoo.load("sd15", spec["profile"], device=device)
        size = spec["sd_size"]
        return cost.pipeline_cost(pipe, "funko pop figure of Alan Turing in a white background", name=spec["name"],
                                  steps=spec["sd_steps"], batch_size=batch, height=size, width=size, device=device,
                                  measured_steps=min(spec["sd_steps"], spec["measured_steps"] or spec["sd_steps"]),
                                  repeats=spec["repeats"])
    raise ValueError(f"unknown model kind {kind!r}")


def specs(args: argparse.Namespace) -> list[dict[str, Any]]:
    common = {"device": args.device, "batch": args.batch, "resolution": args.resolution, "threads": args.threads,
              "measured_steps": args.measured_steps, "repeats": args.repeats}
    items = [
        {"kind": "ddpm", "schedule": "t1000", "name": "DDPM T=1000, DDPM-1000"},
        {"kind": "ddpm", "schedule": "t300", "name": "DDPM T=300 (ToyHollyWood), DDPM-300"},
        {"kind": "ddim", "schedule": "t1000", "name": "DDPM T=1000, DDIM-50"},
        {"kind": "dcgan", "name": "DCGAN (Comics)"},
    ]
    if args.resolution >= 64:
        items.append({"kind": "fastgan", "name": "FastGAN (PopYou, ToyHollyWood)"})
    if args.sd:
        size = args.sd_size or (512 if args.profile == "full" else 64)
        items.append({"kind": "sd", "name": f"SD 1.5 pipeline ({args.profile}), {args.sd_steps} steps",
                      "profile": args.profile, "sd_size": size, "sd_steps": args.sd_steps})
    return [{**common, **item} for item in items]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--resolution", type=int, default=64, help="image side for every model (power of two)")
    parser.add_argument("--device", default="cpu", help="cpu | cuda")
    parser.add_argument("--batch", type=int, default=4, help="images per call")
    parser.add_argument("--measured-steps", type=int, default=5,
                        help="denoising steps actually timed (0: all of them); time is scaled linearly")
    parser.add_argument("--repeats", type=int, default=2, help="timed calls per model (after one warm-up)")
    parser.add_argument("--threads", type=int, default=2, help="torch threads in each child process")
    parser.add_argument("--sd", action="store_true", help="also measure an SD 1.5 pipeline (tiny random in ci)")
    parser.add_argument("--profile", default="ci", choices=("ci", "gpu", "full"), help="zoo profile for --sd")
    parser.add_argument("--sd-steps", type=int, default=25, help="SD denoising steps")
    parser.add_argument("--sd-size", type=int, default=0, help="SD image side (0: 64 in ci, 512 in full)")
    parser.add_argument("--out", type=Path, help="also write the table as CSV here")
    args = parser.parse_args(argv)
    if args.resolution < 16 or args.resolution & (args.resolution - 1):
        parser.error(f"--resolution must be a power of two >= 16 (the GANs need one), got {args.resolution}")

    import pandas as pd

    from toonlab.diffusion.cost import ratio_table

    context = mp.get_context("spawn")  # a fresh interpreter per model: its own peak memory
    rows = []
    for spec in specs(args):
        print(f"measuring {spec['name']} ...", file=sys.stderr, flush=True)
        with context.Pool(1) as pool:
            rows.append(pool.apply(measure_one, (spec,)))
    baseline = "FastGAN (PopYou, ToyHollyWood)" if args.resolution >= 64 else "DCGAN (Comics)"
    table = ratio_table(rows, baseline, memory_column=MODEL_MEMORY)
    columns = ["model", "steps", "measured steps", "images/s", "s/image", "× time per image", "peak memory (MiB)",
               MODEL_MEMORY, "× peak memory", "parameters (M)"]
    with pd.option_context("display.width", 200, "display.max_columns", 20, "display.precision", 4):
        print(f"\n{args.resolution} px, batch {args.batch}, device {args.device}, {rows[0]['memory kind']}; "
              f"ratios against {baseline}\n")
        print(table[columns].to_string(index=False))
    if args.out:
        from toonlab import atomic

        atomic.write_text(args.out, table.to_csv(index=False))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
