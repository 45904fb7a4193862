"""Our FID vs pytorch-fid's ``calculate_fid_given_paths`` on the same two folders, same machine, same weights.

    python benchmarks/fid_throughput.py                       # ci: random Inception (seed 0), generated folders
    python benchmarks/fid_throughput.py --profile full A B    # real FID weights on your own folders

Runs, in one process: pytorch-fid (cold), ours cold (empty statistics cache), ours with the reference
statistics cached. Prints both values, the three times and the ratios. The bar (issue 4): identical value
(|Δ| <= 1e-3), ours at least as fast cold, >= 1.5x faster cached. Both get the same Inception instance,
the same batch size and the same number of decoding workers (pytorch-fid's CLI default, min(8, cores)).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image


def make_folder(folder: Path, count: int, size: int, seed: int) -> Path:
    """``count`` PNGs: random crops of scikit-image's sample photographs, resized to ``size``."""
    import skimage.data

    sources = [skimage.data.astronaut(), skimage.data.chelsea(), skimage.data.coffee(), skimage.data.rocket(),
               skimage.data.immunohistochemistry()]
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    for index in range(count):
        source = sources[rng.integers(len(sources))]
        crop = int(rng.integers(64, min(source.shape[:2])))
        top, left = rng.integers(0, source.shape[0] - crop + 1), rng.integers(0, source.shape[1] - crop + 1)
        image = Image.fromarray(source[top:top + crop, left:left + crop, :3])
        image.resize((size, size), Image.Resampling.BICUBIC).save(folder / f"{index:05d}.png")
    return folder


def pytorch_fid_value(a: Path, b: Path, model: torch.nn.Module, batch_size: int, device: str, workers: int) -> float:
    import pytorch_fid.fid_score as pytorch_fid

    class SameInception:  # calculate_fid_given_paths builds its own network; give it ours (same weights)
        BLOCK_INDEX_BY_DIM = pytorch_fid.InceptionV3.BLOCK_INDEX_BY_DIM

        def __new__(cls, *args, **kwargs):
            return model

    original = pytorch_fid.InceptionV3
    pytorch_fid.InceptionV3 = SameInception
    try:
        return float(pytorch_fid.calculate_fid_given_paths([str(a), str(b)], batch_size, device, 2048, workers))
    finally:
        pytorch_fid.InceptionV3 = original


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("folders", nargs="*", type=Path, help="two image folders (default: generate two)")
    parser.add_argument("--profile", default="ci", choices=["ci", "gpu", "full"], help="Inception weights")
    parser.add_argument("--count", type=int, default=200, help="images per generated folder")
    parser.add_argument("--size", type=int, default=64, help="side of the generated images")
    parser.add_argument("--batch-size", type=int, default=50, help="batch size for both (pytorch-fid's default)")
    parser.add_argument("--workers", type=int, default=min(8, os.cpu_count() or 1),
                        help="decoding workers for both (pytorch-fid's CLI default)")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    args = parser.parse_args(argv)

    from toonlab.metrics.extractors import inception_extractor
    from toonlab.metrics.fid import distribution_distance
    from toonlab.zoo.inception import build_inception

    with tempfile.TemporaryDirectory() as scratch:
        scratch = Path(scratch)
        if args.folders:
            if len(args.folders) != 2:
                parser.error("give exactly two folders, or none to generate them")
            a, b = args.folders
        else:
            a = make_folder(scratch / "generated", args.count, args.size, seed=1)
            b = make_folder(scratch / "reference", args.count, args.size, seed=2)
        for path in [*a.iterdir(), *b.iterdir()]:  # both read from a warm page cache
            path.read_bytes()

        model = build_inception(args.profile, device=args.device, seed=0)
        extractor = inception_extractor(model)
        print(f"device {args.device}, torch threads {torch.get_num_threads()}, workers {args.workers}, "
              f"batch {args.batch_size}; weights: {extractor.weights}; "
              f"{len(os.listdir(a))} vs {len(os.listdir(b))} images")

        start = time.perf_counter()
        theirs = pytorch_fid_value(a, b, model, args.batch_size, args.device, args.workers)
        t_theirs = time.perf_counter() - start

        cache = scratch / "stats_cache"
        os.environ["TOONLAB_CACHE"] = str(cache)  # an empty cache: the cold run embeds both folders

        def ours() -> float:
            return distribution_distance(a, b, extractor, batch_size=args.batch_size, workers=args.workers,
                                         progress=False).value

        start = time.perf_counter()
        cold = ours()
        t_cold = time.perf_counter() - start
        start = time.perf_counter()
        cached = ours()
        t_cached = time.perf_counter() - start

    name = extractor.distance_name
    print(f"{name} pytorch-fid      : {theirs:.6f}  in {t_theirs:7.2f} s")
    print(f"{name} ours (cold)      : {cold:.6f}  in {t_cold:7.2f} s   speed-up x{t_theirs / t_cold:.2f}")
    print(f"{name} ours (ref cached): {cached:.6f}  in {t_cached:7.2f} s   speed-up x{t_theirs / t_cached:.2f}")
    delta = max(abs(cold - theirs), abs(cached - theirs))
    ok = delta <= 1e-3 and t_cold <= t_theirs and t_theirs / t_cached >= 1.5
    print(f"|delta| = {delta:.2e}; bar (|delta| <= 1e-3, cold >= x1.0, cached >= x1.5): {'met' if ok else 'NOT met'}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
