"""The whole clustering benchmark of chapter 02 on 15,000 synthetic feature vectors, with a dense peer.

ToyHollyWood-sized data (27 classes, ~555 items each) in three synthetic "feature sets" shaped like the
chapter's extractors (768-d CLIP ViT-L-14, 256-d VAE, 256-d VAE-DISTS): class means in a low-dimensional
subspace, randomly rotated into D dimensions, plus anisotropic noise, so accuracies are far from 0 and 1.

In one process run it times

* ours: ``run_benchmark`` — every feature set x {KMeans, ward, Birch, Spectral, GMM} x seeds, with the
  sparse kNN graphs that N = 15,000 selects automatically — per-cell wall time, the total, peak RSS;
* peer: the dense path scikit-learn takes by default (full RBF affinity for Spectral, the unstructured
  ward tree) on the 768-d set, against our kNN path on the same data: time, peak memory, accuracy, and
  the agreement (ARI) of the two partitions.

    python benchmarks/cluster_benchmark.py [--n 15000] [--seeds 3] [--no-peer]
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import pandas as pd

from toonlab.chapters.clustering import wall_time_table
from toonlab.cluster import ClusterConfig, cluster, run_benchmark, summarize
from toonlab.cluster.benchmark import pretty
from toonlab.metrics.clustering import ari, hungarian_accuracy
from toonlab.metrics.cost import measure

CLASSES = 27
FEATURE_SETS = {"clip-like (768-d)": 768, "vae-like (256-d)": 256, "vae-dists-like (256-d)": 256}


def synthetic_labels(n: int, classes: int = CLASSES, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).permutation(np.arange(n) % classes)


def synthetic_features(labels: np.ndarray, dim: int, classes: int = CLASSES, subspace: int = 24,
                       separation: float = 1.0, seed: int = 0) -> np.ndarray:
    """Gaussian classes whose means live in a ``subspace``-dim subspace, rotated into ``dim`` dims."""
    rng = np.random.default_rng(seed)
    n = len(labels)
    means = rng.normal(scale=separation, size=(classes, subspace))
    rotation, _ = np.linalg.qr(rng.normal(size=(dim, dim)))
    signal = means[labels] + rng.normal(size=(n, subspace))
    noise_scale = rng.uniform(0.2, 1.5, size=dim - subspace)  # anisotropic: standardising matters
    noise = rng.normal(size=(n, dim - subspace)) * noise_scale
    return (np.concatenate([signal, noise], axis=1) @ rotation.T).astype(np.float32)


def peer_comparison(x: np.ndarray, y: np.ndarray, k: int) -> pd.DataFrame:
    rows = []
    for algorithm in ("spectral", "agglomerative"):
        results = {}
        for graph in ("knn", "dense"):
            out = {}

            def run() -> None:
                out["labels"] = cluster(x, algorithm, k, seed=0, config=ClusterConfig(graph=graph))[0]

            cost = measure(run, images_per_call=len(x), warmup=0, repeats=1)
            results[graph] = (out["labels"], cost)
            print(f"  {algorithm:13s} {graph:5s} {cost.wall_s:7.1f} s  peak {cost.peak_memory_mib:8.0f} MiB  "
                  f"acc {hungarian_accuracy(y, out['labels']):.3f}", flush=True)
        (ours, ours_cost), (peer, peer_cost) = results["knn"], results["dense"]
        rows.append({
            "algorithm": algorithm,
            "ours (kNN) s": round(ours_cost.wall_s, 1), "peer (dense) s": round(peer_cost.wall_s, 1),
            "time ratio peer/ours": round(peer_cost.wall_s / ours_cost.wall_s, 2),
            "ours extra MiB": round((ours_cost.peak_memory_bytes - ours_cost.baseline_memory_bytes) / 2**20),
            "peer extra MiB": round((peer_cost.peak_memory_bytes - peer_cost.baseline_memory_bytes) / 2**20),
            "ours acc": round(hungarian_accuracy(y, ours), 3), "peer acc": round(hungarian_accuracy(y, peer), 3),
            "ARI(ours, peer)": round(ari(peer, ours), 3),
        })
    return pd.DataFrame(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=15000, help="feature vectors per set")
    parser.add_argument("--seeds", type=int, default=3, help="seeds per (set, algorithm)")
    parser.add_argument("--no-peer", action="store_true", help="skip the dense peer comparison")
    args = parser.parse_args()

    labels = synthetic_labels(args.n)  # the same items (and classes) in every feature set
    features = {name: synthetic_features(labels, dim, seed=1 + i) for i, (name, dim) in enumerate(FEATURE_SETS.items())}
    print(f"{len(features)} feature sets x 5 algorithms x {args.seeds} seeds on N = {args.n}, k = {CLASSES}")

    def whole() -> None:
        whole.runs = run_benchmark(features, labels, seeds=tuple(range(args.seeds)), progress=True)

    start = time.perf_counter()
    cost = measure(whole, images_per_call=args.n, warmup=0, repeats=1)
    total = time.perf_counter() - start
    summary = summarize(whole.runs)
    with pd.option_context("display.width", 200, "display.max_columns", 20):
        print(pretty(summary).to_string(index=False))
        print("\nwall seconds per run (mean over seeds):")
        print(wall_time_table(summary).to_string(index=False))
        print(f"\nwhole benchmark: {total:.1f} s wall, {len(whole.runs)} runs, "
              f"peak RSS {cost.peak_memory_mib:.0f} MiB ({cost.memory_kind})")
        print("graphs used:", dict(zip(summary["method"], summary["graph"])))
        if not args.no_peer:
            print("\npeer: scikit-learn's dense path vs our kNN path on the 768-d set")
            table = peer_comparison(next(iter(features.values())), labels, CLASSES)
            print(table.to_string(index=False))


if __name__ == "__main__":
    main()
