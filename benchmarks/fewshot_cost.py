"""DreamBooth vs LoRA vs DreamBooth+LoRA: one optimisation step's time and peak memory, and the saved files, in
one run — the same model (SD 1.x's architecture), batch and resolution for all three (chapter 08's Table 1).

Each method's step (``toonlab.train.dreambooth.FewShotTask``, the step the chapter trains with) runs in a fresh
child process, so its memory is its own: on a GPU the CUDA peak allocated, on a CPU the peak resident size
above the RSS before the model was built (weights + gradients + optimizer state + activations). The size is
SD 1.5's real configs with random weights at ``--resolution``, or with ``--resolution auto`` the largest of
512/256/128 px whose estimate fits ``--budget-gib`` (default 85 % of the memory available), else the tiny
configs; ``--tiny`` forces the tiny configs. The file sizes are exact at the real models' size in every case
(DreamBooth: the fp32 UNet + text encoder; LoRA: rank 4 on SD 1.4; DreamBooth+LoRA: rank 4 on SDXL).

    python benchmarks/fewshot_cost.py --tiny                  # seconds, on any machine
    python benchmarks/fewshot_cost.py                         # SD 1.5 at the largest size that fits (CPU: ~18 GB)
    python benchmarks/fewshot_cost.py --device cuda --resolution 512

Prints the rows and the ratios LoRA / DreamBooth (expected at real size: time <= 0.7x, memory <= 0.6x);
exits 1 when the LoRA file is not at least 100x smaller than DreamBooth's checkpoint.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import sys
from typing import Any

FILE_RATIO_BAR = 100.0
EXPECTED = {"LoRA / DreamBooth step time": 0.7, "LoRA / DreamBooth peak memory": 0.6}


def _child(spec: Any, size: Any, batch: int, steps: int, device: str, threads: int, queue: Any) -> None:
    import torch

    from toonlab.train.fewshot_cost import measure_step

    torch.set_num_threads(threads)
    try:
        queue.put(measure_step(spec, size, batch_size=batch, steps=steps, device=device))
    except BaseException as error:  # report it to the parent instead of dying silently
        queue.put({"error": f"{type(error).__name__}: {error}"})


def _measure(spec: Any, size: Any, args: argparse.Namespace) -> dict[str, Any]:
    context = mp.get_context("spawn")
    queue = context.Queue()
    process = context.Process(target=_child, args=(spec, size, args.batch, args.steps, args.device, args.threads,
                                                   queue))
    process.start()
    row = queue.get()
    process.join()
    if "error" in row:
        raise RuntimeError(f"{spec.label}: {row['error']}")
    return row


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--device", default="cpu", choices=("cpu", "cuda"))
    parser.add_argument("--tiny", action="store_true", help="the book's tiny SD configs instead of SD 1.5's")
    parser.add_argument("--resolution", default="auto", help="px, or auto: the largest that fits the budget")
    parser.add_argument("--budget-gib", type=float, default=0.0, help="memory budget for auto (0: 85%% available)")
    parser.add_argument("--batch", type=int, default=1)
    parser.add_argument("--steps", type=int, default=2, help="timed steps after one warm-up step")
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args(argv)

    import psutil

    from toonlab.train.fewshot_cost import (COMICS_METHODS, MEMORY_MARGIN, CostSize, exact_costs,
                                            largest_fitting_size, ratios)

    if args.tiny:
        size = CostSize("tiny", 64 if args.resolution == "auto" else int(args.resolution))
    elif args.resolution != "auto":
        size = CostSize("SD 1.5", int(args.resolution))
    else:
        budget = int(args.budget_gib * 2**30) if args.budget_gib else int(MEMORY_MARGIN *
                                                                           psutil.virtual_memory().available)
        size = largest_fitting_size(COMICS_METHODS, args.batch, budget)
        if size is None:
            print(f"no size fits the budget of {budget / 2**30:.1f} GiB; use --tiny", file=sys.stderr)
            return 2
    print(f"step cost at {size.label}, batch {args.batch}, {args.device}, {args.threads} threads")

    exact = [exact_costs(spec) for spec in COMICS_METHODS]
    measured = []
    for spec in COMICS_METHODS:
        row = _measure(spec, size, args)
        measured.append(row)
        print(f"  {row['method']:<36} {row['s / step']:8.3f} s/step  peak {row['peak memory (MiB)']:9.1f} MiB  "
              f"trainable {row['trainable parameters (measured model)']:>12,}")
    print("saved files at real size (exact):")
    for row in exact:
        print(f"  {row['method']:<36} {row['saved file (bytes)']:>14,} bytes  trainable {row['trainable parameters']:>12,}")

    found = ratios(measured, exact)
    print("ratios:")
    for name, value in found.items():
        bar = EXPECTED.get(name)
        note = f" (expected <= {bar} at real size)" if bar else f" (must be >= {FILE_RATIO_BAR:g})"
        print(f"  {name}: {value:.3f}{note}")
    if found["DreamBooth file / LoRA file"] < FILE_RATIO_BAR:
        print(f"FAIL: the LoRA file is only {found['DreamBooth file / LoRA file']:.1f}x smaller than the "
              "DreamBooth checkpoint", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
