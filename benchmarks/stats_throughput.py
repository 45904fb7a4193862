"""Throughput of toonlab.data.stats.describe on a ToyHollyWood-sized collection (15,300 images).

Generates 15,300 toy-like JPEGs (27 classes, 240-480 px, like shop product photos; cached), then
times, in one process run:

* ours: ``describe`` (streaming, worker processes, Pillow HSV) + ``class_table`` + ``dominant_colours``;
* peer: the straightforward per-image loop of the Comics notebooks (Pillow -> numpy -> matplotlib
  ``rgb_to_hsv`` in float, ``np.histogram``), single process, on a subset, extrapolated;

and prints images/s, the time for the whole set, the speed ratio and how far our mean HSV and RGB are
from the peer's float computation. Target (issue 3): the whole set in under 2 minutes on 2 cores.

    python benchmarks/stats_throughput.py [--images 15300] [--workers 2] [--peer-images 600]
"""

from __future__ import annotations

import argparse
import io
import multiprocessing
import os
import resource
import time
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from toonlab import atomic
from toonlab.data import stats
from toonlab.paths import cache_dir

CLASSES = 27


def _make(args: tuple[int, str]) -> None:
    index, path = args
    if Path(path).is_file():
        return
    rng = np.random.default_rng(index)
    label = index % CLASSES
    width, height = (int(v) for v in rng.integers(240, 481, 2))
    image = Image.new("RGB", (width, height), tuple(int(v) for v in rng.integers(180, 256, 3)))
    draw = ImageDraw.Draw(image)
    hue_base = label * 255 // CLASSES
    for _ in range(6):
        x0, y0 = int(rng.integers(0, width - 40)), int(rng.integers(0, height - 40))
        box = (x0, y0, x0 + int(rng.integers(30, width // 2)), y0 + int(rng.integers(30, height // 2)))
        hsv = ((hue_base + int(rng.integers(-20, 21))) % 256, int(rng.integers(80, 256)), int(rng.integers(60, 256)))
        colour = Image.new("HSV", (1, 1), hsv).convert("RGB").getpixel((0, 0))
        (draw.ellipse if rng.random() < 0.5 else draw.rectangle)(box, fill=colour)
    noise = rng.normal(0, 6, (height, width, 3))
    pixels = np.clip(np.asarray(image, dtype=np.float64) + noise, 0, 255).astype(np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="JPEG", quality=88)
    atomic.write_bytes(path, buffer.getvalue())


def generate(count: int, workers: int) -> tuple[list[Path], list[str]]:
    folder = cache_dir("benchmarks", "stats_images")
    paths = [folder / f"class{i % CLASSES:02d}" / f"{i:05d}.jpg" for i in range(count)]
    missing = [(i, str(p)) for i, p in enumerate(paths) if not p.is_file()]
    if missing:
        print(f"generating {len(missing)} images into {folder} (once) ...", flush=True)
        start = time.perf_counter()
        with multiprocessing.get_context("spawn").Pool(workers) as pool:
            pool.map(_make, missing, chunksize=64)
        print(f"  done in {time.perf_counter() - start:.1f} s", flush=True)
    return paths, [p.parent.name for p in paths]


def _cpu_seconds() -> float:
    """CPU time of this process and of its finished children (the worker pool), so contention shows."""
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def peer(paths: list[Path]) -> tuple[float, np.ndarray]:
    """The naive loop: float HSV for every pixel with matplotlib, one process."""
    from matplotlib.colors import rgb_to_hsv

    start = time.perf_counter()
    means = []
    for path in paths:
        with Image.open(path) as image:
            rgb = np.asarray(image.convert("RGB"), dtype=np.float64) / 255.0
        hsv = rgb_to_hsv(rgb)
        for channel in range(3):
            np.histogram(hsv[..., channel], bins=256, range=(0, 1))
        means.append(np.concatenate([rgb.reshape(-1, 3).mean(0) * 255, hsv.reshape(-1, 3).mean(0)]))
    return time.perf_counter() - start, np.array(means)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--images", type=int, default=15_300)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--peer-images", type=int, default=600)
    parser.add_argument("--generate-workers", type=int, default=None,
                        help="processes that draw the images (default: --workers)")
    args = parser.parse_args()
    paths, labels = generate(args.images, args.generate_workers or args.workers)
    sizes = sum(p.stat().st_size for p in paths)
    print(f"{len(paths)} images, {CLASSES} classes, {sizes / 2**20:.0f} MiB, "
          f"cpu_count={os.cpu_count()}, workers={args.workers}")

    cpu_before = _cpu_seconds()
    start = time.perf_counter()
    result = stats.describe(paths, labels, workers=args.workers, progress=False)
    t_describe = time.perf_counter() - start
    cpu_describe = _cpu_seconds() - cpu_before
    start = time.perf_counter()
    table = stats.class_table(result)
    t_table = time.perf_counter() - start
    start = time.perf_counter()
    stats.dominant_colours(result, k=5)
    t_colours = time.perf_counter() - start
    ours_total = t_describe + t_table + t_colours
    print(f"ours: describe {t_describe:.1f} s ({len(paths) / t_describe:.0f} images/s), class table {t_table:.1f} s, "
          f"dominant colours {t_colours:.1f} s -> total {ours_total:.1f} s for {len(paths)} images "
          f"({'within' if ours_total < 120 else 'OVER'} the 2-minute target); describe used {cpu_describe:.1f} CPU-s "
          f"(= {cpu_describe / args.workers:.1f} s on {args.workers} uncontended cores)")

    subset = paths[: args.peer_images]
    cpu_before = _cpu_seconds()
    t_peer, peer_means = peer(subset)
    cpu_peer = _cpu_seconds() - cpu_before
    peer_total = t_peer / len(subset) * len(paths)
    print(f"peer: naive loop {len(subset) / t_peer:.0f} images/s on {len(subset)} images -> "
          f"{peer_total:.0f} s extrapolated to {len(paths)} (no hashes, no duplicates, no colours)")
    cpu_ratio = (cpu_peer / len(subset)) / (cpu_describe / len(paths))
    print(f"CPU per image: ours {1000 * cpu_describe / len(paths):.1f} ms, peer {1000 * cpu_peer / len(subset):.1f} ms "
          f"-> ours needs {cpu_ratio:.1f}x less CPU per image")
    print(f"ratio: ours is {peer_total / t_describe:.1f}x faster than the peer for the per-image pass "
          f"({peer_total / ours_total:.1f}x counting tables and colours)")
    ours = result.images.iloc[: len(subset)][["mean_r", "mean_g", "mean_b", "mean_h", "mean_s", "mean_v"]].to_numpy()
    error = np.abs(ours - peer_means).max(axis=0)
    print("max |ours - peer| per image: RGB {:.4f} {:.4f} {:.4f} (0-255), "
          "HSV {:.4f} {:.4f} {:.4f} (0-1)".format(*error))
    print(f"classes in the table: {len(table) - 1}")


if __name__ == "__main__":
    main()
