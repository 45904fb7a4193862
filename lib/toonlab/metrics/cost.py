"""Speed and memory: one helper behind every chapter's cost table.

- throughput (images/s) and latency (s per image) from wall time, with warm-up calls excluded and CUDA
  synchronised before the clock stops (kernels run asynchronously);
- peak memory: on CUDA ``torch.cuda.max_memory_allocated`` over the timed calls (reset before them); on CPU
  the peak resident set size of this process, sampled every few milliseconds by a background thread
  (``ru_maxrss`` cannot be reset, so it would report the whole process's history);
- parameter counts, total and trainable.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass
from typing import Any

import psutil
import torch
from torch import nn

RSS_SAMPLE_INTERVAL_S = 0.005


@dataclass(frozen=True)
class Cost:
    """What one measured workload cost."""

    images_per_s: float
    latency_s_per_image: float
    wall_s: float  # timed calls only
    n_images: int  # per call x repeats
    peak_memory_bytes: int
    memory_kind: str  # "cuda peak allocated" | "cpu peak RSS (sampled)"
    baseline_memory_bytes: int  # allocated / RSS just before the timed calls
    device: str

    @property
    def peak_memory_mib(self) -> float:
        return self.peak_memory_bytes / 2**20

    def as_dict(self) -> dict[str, Any]:
        record = asdict(self)
        record["peak_memory_mib"] = round(self.peak_memory_mib, 1)
        return record


class _RSSSampler:
    """Tracks this process's peak resident set size while active."""

    def __init__(self, interval_s: float = RSS_SAMPLE_INTERVAL_S) -> None:
        self.process = psutil.Process()
        self.interval_s = interval_s
        self.peak = self.process.memory_info().rss
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, self.process.memory_info().rss)
            self._stop.wait(self.interval_s)

    def __enter__(self) -> _RSSSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, self.process.memory_info().rss)


def measure(fn: Callable[[], Any], images_per_call: int, device: str | torch.device = "cpu",
            warmup: int = 1, repeats: int = 3) -> Cost:
    """Run ``fn`` ``warmup`` times untimed, then ``repeats`` times timed; ``fn`` handles ``images_per_call``."""
    if images_per_call < 1 or repeats < 1 or warmup < 0:
        raise ValueError(f"need images_per_call >= 1, repeats >= 1, warmup >= 0; got "
                         f"{images_per_call}, {repeats}, {warmup}")
    device = torch.device(device)
    cuda = device.type == "cuda"

    def sync() -> None:
        if cuda:
            torch.cuda.synchronize(device)

    for _ in range(warmup):
        fn()
    sync()
    if cuda:
        torch.cuda.reset_peak_memory_stats(device)
        baseline = torch.cuda.memory_allocated(device)
        start = time.perf_counter()
        for _ in range(repeats):
            fn()
        sync()
        wall = time.perf_counter() - start
        peak, kind = torch.cuda.max_memory_allocated(device), "cuda peak allocated"
    else:
        with _RSSSampler() as sampler:
            baseline = sampler.peak
            start = time.perf_counter()
            for _ in range(repeats):
                fn()
            wall = time.perf_counter() - start
        peak, kind = sampler.peak, "cpu peak RSS (sampled)"
    n_images = images_per_call * repeats
    return Cost(images_per_s=n_images / wall, latency_s_per_image=wall / n_images, wall_s=wall, n_images=n_images,
                peak_memory_bytes=int(peak), memory_kind=kind, baseline_memory_bytes=int(baseline),
                device=str(device))


class track_peak_memory:
    """``with track_peak_memory(device) as peak: ...`` then ``peak.mib``: the CUDA peak allocated (reset on entry)
    or, on CPU, the sampled peak resident set size of this process over the block; ``peak.kind`` says which.
    ``peak.increase_mib`` is the peak minus the value at entry (allocated or RSS): what the block itself added
    — on CPU the process's RSS also holds the interpreter, libraries and every model loaded before."""

    def __init__(self, device: str | torch.device = "cpu") -> None:
        self.device = torch.device(device)
        self.mib = float("nan")
        self.entry_mib = float("nan")
        self.kind = "cuda peak allocated" if self.device.type == "cuda" else "cpu peak RSS (sampled)"
        self._sampler: _RSSSampler | None = None

    @property
    def increase_mib(self) -> float:
        return self.mib - self.entry_mib

    def __enter__(self) -> track_peak_memory:
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
            torch.cuda.reset_peak_memory_stats(self.device)
            self.entry_mib = torch.cuda.memory_allocated(self.device) / 2**20
        else:
            self._sampler = _RSSSampler().__enter__()
            self.entry_mib = self._sampler.peak / 2**20
        return self

    def __exit__(self, *exc: object) -> None:
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
            self.mib = torch.cuda.max_memory_allocated(self.device) / 2**20
        else:
            assert self._sampler is not None
            self._sampler.__exit__(*exc)
            self.mib = self._sampler.peak / 2**20


def count_parameters(module: nn.Module, trainable_only: bool = False) -> int:
    """Number of parameters (``parameters()`` yields a tensor shared by several layers once)."""
    return sum(p.numel() for p in module.parameters() if p.requires_grad or not trainable_only)


def parameter_table(modules: Mapping[str, nn.Module]):
    """A DataFrame: model, total and trainable parameters (in millions too), one row per module."""
    import pandas as pd

    rows = []
    for name, module in modules.items():
        total, trainable = count_parameters(module), count_parameters(module, trainable_only=True)
        rows.append({"model": name, "parameters": total, "trainable": trainable,
                     "parameters (M)": round(total / 1e6, 3), "trainable (M)": round(trainable / 1e6, 3)})
    return pd.DataFrame(rows)


def cost_table(costs: Mapping[str, Cost]):
    """A DataFrame for a chapter's speed/memory table, one row per measured workload."""
    import pandas as pd

    rows = [{"workload": name, "images/s": round(cost.images_per_s, 3),
             "latency (ms/image)": round(1000 * cost.latency_s_per_image, 2),
             "peak memory (MiB)": round(cost.peak_memory_mib, 1), "memory measured as": cost.memory_kind,
             "device": cost.device, "images timed": cost.n_images}
            for name, cost in costs.items()]
    return pd.DataFrame(rows)
