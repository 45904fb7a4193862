"""Our SDXL LoRA training step (``toonlab.train.lora.LoRATask``) vs the same step written the way diffusers'
documented recipe writes it (``examples/text_to_image/train_text_to_image_lora_sdxl.py``): peft LoRA on the
UNet's attention projections, same rank, batch, resolution and precision, same data, one machine.

The recipe side is re-written here from the script's documented steps (it is a script, not an importable
function): ``unet.add_adapter(LoraConfig(r, lora_alpha=r, init_lora_weights="gaussian", target_modules=[to_k,
to_q, to_v, to_out.0]))``, ``cast_training_params``, AdamW, ``accelerator.prepare(unet, optimizer)``; per step
VAE latents, noise, timesteps, ``add_noise``, both text encoders (penultimate hidden states + pooled), the
micro-conditioning time ids, the UNet, MSE, ``accelerator.backward``, gradient clipping, optimizer step.
Tokenisation is counted inside the step on both sides (the script does it in its data pipeline; ours in the step).

Each side runs in a fresh child process, so its memory is its own: on a GPU the CUDA peak allocated; on a
CPU the peak resident size during the timed steps above the RSS after imports (sampled; a peak, so a step that
allocates more activations shows), with the bytes of all live tensors after the steps (weights, LoRA,
gradients, Adam moments: exact) printed beside it. The RSS moves by a MiB or so between identical runs, so
the memory bar allows ``--memory-slack-mib`` (default 8) on top of the ratio.
Time (``--timing interleaved``, the default): both sides built in one more child process and stepped in turn,
one step each, the order alternating, the median of ``--steps`` steps each after ``--warmup``: separate processes
of the same side differ by more than the gap measured (tiny config: 133-175 ms for identical runs), two steps
back to back in one process do not. ``--timing separate`` (the default for ``--real`` on a CPU, where two SDXL
pipelines do not fit in memory): the best of ``--repeats`` runs per side, the side that runs first alternating.

Like for like: a profile of both steps (torch.profiler, tiny config) shows the same aten ops with the same counts
and shapes, apart from ours taking the per-item loss (``reduction="none"``, then a mean: the hook DreamBooth's
prior preservation needs) and building the micro-conditioning target on the device (a few tiny kernels).

    python benchmarks/lora_sdxl_step.py                 # tiny SDXL on CPU (the book's ci config)
    python benchmarks/lora_sdxl_step.py --device cuda --real --resolution 1024 --precision fp16

Prints both rows and the ratios ours / diffusers; exits 1 when the time or memory ratio is above 1.0
(``--tolerance`` adds slack for noisy shared machines).
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import statistics
import sys
import time
from typing import Any


def _pipeline(spec: dict[str, Any]):
    import torch

    if spec["real"]:  # SDXL base's own configs, random weights (a step's cost does not depend on their values)
        from toonlab.zoo.diffusion import sdxl_from_configs

        return sdxl_from_configs(seed=0)
    from toonlab.zoo.diffusion import tiny_sdxl_pipeline

    torch.manual_seed(0)
    return tiny_sdxl_pipeline()


def _batch(spec: dict[str, Any]) -> dict[str, Any]:
    import torch

    generator = torch.Generator().manual_seed(0)
    r, b = spec["resolution"], spec["batch"]
    return {"pixel_values": torch.rand(b, 3, r, r, generator=generator) * 2 - 1,
            "caption": ["emoji, male, smiling, glasses"] * b,
            "original_size": torch.tensor([[r, r]] * b), "crop_top_left": torch.zeros(b, 2, dtype=torch.long)}


def ours(spec: dict[str, Any], pipe: Any, accelerator: Any):
    from toonlab.diffusion.lora import LoRASpec
    from toonlab.train.lora import LoRATask, LoRATrainConfig

    config = LoRATrainConfig(lora=LoRASpec(rank=spec["rank"]), resolution=spec["resolution"],
                             vae_fp32=spec["precision"] == "no" or not spec["real"])
    task = LoRATask(pipe, config, total_steps=10_000, mixed_precision=spec["precision"])
    task.models["unet"], task.optimizers["lora"] = accelerator.prepare(task.models["unet"], task.optimizers["lora"])
    batch = _batch(spec)
    step = {"i": 0}

    def run() -> None:
        from accelerate.utils import send_to_device

        task.train_step(send_to_device(batch, accelerator.device), step["i"], accelerator)
        step["i"] += 1

    return run


def diffusers_recipe(spec: dict[str, Any], pipe: Any, accelerator: Any):
    """train_text_to_image_lora_sdxl.py's step, as documented."""
    import torch
    import torch.nn.functional as F
    from diffusers import DDPMScheduler
    from diffusers.training_utils import cast_training_params
    from peft import LoraConfig

    weight_dtype = {"fp16": torch.float16, "bf16": torch.bfloat16}.get(spec["precision"], torch.float32)
    unet, vae = pipe.unet, pipe.vae
    te1, te2, tok1, tok2 = pipe.text_encoder, pipe.text_encoder_2, pipe.tokenizer, pipe.tokenizer_2
    noise_scheduler = DDPMScheduler.from_config(pipe.scheduler.config)
    for module in (unet, vae, te1, te2):
        module.requires_grad_(False)
    device = accelerator.device
    unet.to(device, dtype=weight_dtype)
    vae.to(device, dtype=torch.float32 if spec["precision"] == "no" or not spec["real"] else weight_dtype)
    te1.to(device, dtype=weight_dtype)
    te2.to(device, dtype=weight_dtype)
    unet.add_adapter(LoraConfig(r=spec["rank"], lora_alpha=spec["rank"], init_lora_weights="gaussian",
                                target_modules=["to_k", "to_q", "to_v", "to_out.0"]))
    if spec["precision"] == "fp16":
        cast_training_params(unet, dtype=torch.float32)
    params = [p for p in unet.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=1e-4, betas=(0.9, 0.999), weight_decay=1e-2, eps=1e-8)
    unet, optimizer = accelerator.prepare(unet, optimizer)
    batch = _batch(spec)
    r = spec["resolution"]

    def tokenize(tokenizer, captions):
        return tokenizer(captions, padding="max_length", max_length=tokenizer.model_max_length, truncation=True,
                         return_tensors="pt").input_ids

    def run() -> None:
        unet.train()
        pixel_values = batch["pixel_values"].to(device, dtype=vae.dtype)
        model_input = vae.encode(pixel_values).latent_dist.sample() * vae.config.scaling_factor
        model_input = model_input.to(weight_dtype)
        noise = torch.randn_like(model_input)
        bsz = model_input.shape[0]
        timesteps = torch.randint(0, noise_scheduler.config.num_train_timesteps, (bsz,), device=device).long()
        noisy_model_input = noise_scheduler.add_noise(model_input, noise, timesteps)
        add_time_ids = torch.cat([batch["original_size"], batch["crop_top_left"],
                                  torch.tensor([[r, r]] * bsz)], dim=1).to(device, dtype=weight_dtype)
        with torch.no_grad():
            embeds = []
            for tokenizer, encoder in ((tok1, te1), (tok2, te2)):
                out = encoder(tokenize(tokenizer, batch["caption"]).to(device), output_hidden_states=True,
                              return_dict=False)
                pooled = out[0]
                embeds.append(out[-1][-2])
            prompt_embeds = torch.concat(embeds, dim=-1)
        model_pred = unet(noisy_model_input, timesteps, prompt_embeds,
                          added_cond_kwargs={"time_ids": add_time_ids, "text_embeds": pooled}, return_dict=False)[0]
        loss = F.mse_loss(model_pred.float(), noise.float(), reduction="mean")
        accelerator.backward(loss)
        if accelerator.sync_gradients:
            accelerator.clip_grad_norm_(params, 1.0)
        optimizer.step()
        optimizer.zero_grad()

    return run


def measure(spec: dict[str, Any]) -> dict[str, Any]:
    """Build one side and time it (in a child process)."""
    import psutil
    import torch
    from accelerate import Accelerator

    torch.set_num_threads(spec["threads"])
    # Everything either side imports, imported before the baseline so that it is the same for both.
    import accelerate.utils  # noqa: F401
    import diffusers  # noqa: F401
    import diffusers.training_utils  # noqa: F401
    import peft  # noqa: F401
    import torch.nn.functional  # noqa: F401

    import toonlab.diffusion.lora  # noqa: F401
    import toonlab.metrics.cost  # noqa: F401
    import toonlab.train.lora  # noqa: F401
    import toonlab.zoo.diffusion  # noqa: F401
    import toonlab.zoo.tokenizer  # noqa: F401

    cuda = spec["device"] == "cuda"
    baseline = psutil.Process().memory_info().rss
    torch.manual_seed(0)
    pipe = _pipeline(spec)
    accelerator = Accelerator(mixed_precision=spec["precision"], cpu=not cuda)
    pipe.to(accelerator.device)
    step = {"ours": ours, "diffusers": diffusers_recipe}[spec["side"]](spec, pipe, accelerator)
    for _ in range(spec["warmup"]):
        step()
    from toonlab.metrics.cost import track_peak_memory

    times = []
    before_steps = psutil.Process().memory_info().rss
    with track_peak_memory(accelerator.device) as peak:
        for _ in range(spec["steps"]):
            if cuda:
                torch.cuda.synchronize()
            start = time.perf_counter()
            step()
            if cuda:
                torch.cuda.synchronize()
            times.append(time.perf_counter() - start)
    rss = peak.mib - baseline / 2**20
    memory = peak.mib if cuda else rss
    return {"side": spec["side"], "median step (s)": statistics.median(times), "memory (MiB)": memory,
            "live tensors (MiB)": None if cuda else live_tensor_mib(), "model (MiB)": (before_steps - baseline) / 2**20,
            "memory kind": peak.kind if cuda else "cpu peak RSS above imports during the steps (sampled)"}


def measure_interleaved(spec: dict[str, Any]) -> dict[str, Any]:
    """Both sides built in one (child) process and stepped in turn, one step each, the order alternating.

    Separate processes of the same side differ by more than the gap being measured (tiny config on a shared CPU:
    133-175 ms for identical runs), and the load moves between one child and the next; two steps taken back to
    back in one process meet the same process state and the same load. Memory is still measured in separate
    processes (:func:`measure`), where each side's peak is its own.
    """
    import torch
    from accelerate import Accelerator

    torch.set_num_threads(spec["threads"])
    cuda = spec["device"] == "cuda"
    accelerator = Accelerator(mixed_precision=spec["precision"], cpu=not cuda)
    steps = {}
    for side, build in (("diffusers", diffusers_recipe), ("ours", ours)):
        torch.manual_seed(0)
        pipe = _pipeline(spec)  # a pipeline each: both sides add a LoRA adapter to their UNet
        pipe.to(accelerator.device)
        steps[side] = build(spec, pipe, accelerator)
    for _ in range(spec["warmup"]):
        for step in steps.values():
            step()
    times: dict[str, list[float]] = {side: [] for side in steps}
    for i in range(spec["steps"]):
        for side in ("diffusers", "ours") if i % 2 == 0 else ("ours", "diffusers"):
            if cuda:
                torch.cuda.synchronize()
            start = time.perf_counter()
            steps[side]()
            if cuda:
                torch.cuda.synchronize()
            times[side].append(time.perf_counter() - start)
    paired = [o / d for o, d in zip(times["ours"], times["diffusers"])]
    return {"median step (s)": {side: statistics.median(t) for side, t in times.items()},
            "paired ratio (median)": statistics.median(paired)}


def live_tensor_mib() -> float:
    """Bytes of every distinct tensor storage alive (CPU). Exact, unlike the resident size, which moves by a MiB
    or so with Python objects and allocator arenas that have nothing to do with the training step."""
    import gc
    import warnings

    import torch

    gc.collect()
    seen, total = set(), 0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # isinstance() on some library proxies warns
        tensors = [obj for obj in gc.get_objects() if isinstance(obj, torch.Tensor) and not obj.is_meta]
    for tensor in tensors:
        storage = tensor.untyped_storage()
        if storage.data_ptr() not in seen:
            seen.add(storage.data_ptr())
            total += storage.nbytes()
    return total / 2**20


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--device", default="cpu", choices=("cpu", "cuda"))
    parser.add_argument("--real", action="store_true", help="SDXL base's real configs (random weights)")
    parser.add_argument("--resolution", type=int, default=64)
    parser.add_argument("--batch", type=int, default=2)
    parser.add_argument("--rank", type=int, default=4)
    parser.add_argument("--precision", default="no", choices=("no", "fp16", "bf16"))
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=2, help="alternating runs per side; the best is kept")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--timing", default="auto", choices=("auto", "interleaved", "separate"),
                        help="interleaved: both sides stepped in turn in one process (the time verdict's default); "
                             "separate: each side's best run in its own process (auto: when --real on a CPU, "
                             "where two SDXL pipelines do not fit in memory)")
    parser.add_argument("--tolerance", type=float, default=0.0, help="allowed excess over a ratio of 1.0")
    parser.add_argument("--memory-slack-mib", type=float, default=8.0,
                        help="CPU: MiB of RSS noise allowed on top of the memory ratio (identical runs differ by ~1)")
    args = parser.parse_args(argv)
    spec = {k: getattr(args, k) for k in ("device", "real", "resolution", "batch", "rank", "precision", "steps",
                                           "warmup", "threads")}
    context = mp.get_context("spawn")
    best: dict[str, dict[str, Any]] = {}
    for repeat in range(args.repeats):
        # Alternate which side goes first: on a shared machine the first child of a pair meets other load (and
        # the memory the previous child just returned) than the second, so a fixed order biases one side.
        for side in ("diffusers", "ours") if repeat % 2 == 0 else ("ours", "diffusers"):
            with context.Pool(1) as pool:
                row = pool.apply(measure, ({**spec, "side": side},))
            print(f"  run {repeat + 1} {side:10s} {row['median step (s)'] * 1000:9.1f} ms/step  "
                  f"{row['memory (MiB)']:9.1f} MiB", flush=True)
            kept = best.get(side)
            best[side] = row if kept is None else {
                **row, "median step (s)": min(row["median step (s)"], kept["median step (s)"]),
                "memory (MiB)": min(row["memory (MiB)"], kept["memory (MiB)"])}
    timing = args.timing if args.timing != "auto" else ("separate" if args.real and args.device == "cpu" else "interleaved")
    if timing == "interleaved":
        with context.Pool(1) as pool:
            interleaved = pool.apply(measure_interleaved, (spec,))
        for side in best:
            best[side]["median step (s)"] = interleaved["median step (s)"][side]
        print(f"  interleaved in one process: diffusers {interleaved['median step (s)']['diffusers'] * 1000:.1f} ms, "
              f"ours {interleaved['median step (s)']['ours'] * 1000:.1f} ms per step (median of {args.steps} each); "
              f"paired ratio {interleaved['paired ratio (median)']:.3f}", flush=True)
    size = "SDXL base configs" if args.real else "tiny SDXL (the book's ci config)"
    print(f"LoRA step, {size}, {args.resolution} px, batch {args.batch}, rank {args.rank}, precision "
          f"{args.precision}, {args.device}; time: " + (f"median of {args.steps} steps each, interleaved in one process"
                                                         if timing == "interleaved" else
                                                         f"median of {args.steps} steps, best of {args.repeats} runs")
          + f"; memory: best of {args.repeats} runs in separate processes")
    for side in ("diffusers", "ours"):
        row = best[side]
        live = "" if row["live tensors (MiB)"] is None else f"; live tensors after a step {row['live tensors (MiB)']:.1f} MiB"
        print(f"  {side:10s} {row['median step (s)'] * 1000:9.1f} ms/step  {row['memory (MiB)']:9.1f} MiB "
              f"({row['memory kind']}){live}; {row['model (MiB)']:.1f} MiB above imports before the timed steps")
    return verdict(best, args.tolerance, args.memory_slack_mib if args.device == "cpu" else 0.0)


def verdict(best: dict[str, dict[str, Any]], tolerance: float, memory_slack_mib: float) -> int:
    """0 when ours is no slower and no larger than the recipe (ratio <= 1 + tolerance; memory may also exceed by
    ``memory_slack_mib``, the RSS noise), else 1."""
    time_ratio = best["ours"]["median step (s)"] / best["diffusers"]["median step (s)"]
    ours_mib, theirs_mib = best["ours"]["memory (MiB)"], best["diffusers"]["memory (MiB)"]
    memory_ratio = ours_mib / max(theirs_mib, 1e-9)
    print(f"ratio ours / diffusers: time {time_ratio:.3f}, memory {memory_ratio:.3f}")
    limit = 1.0 + tolerance
    if time_ratio > limit or ours_mib > theirs_mib * limit + memory_slack_mib:
        print(f"FAIL: a ratio is above {limit:.2f} (memory slack {memory_slack_mib:g} MiB)")
        return 1
    print("OK: ours is no slower and no larger")
    return 0


if __name__ == "__main__":
    sys.exit(main())
