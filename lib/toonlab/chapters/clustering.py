"""Chapter 02 — clustering benchmarks: ToyHollyWood's CLIP / VAE / VAE-DISTS features x five algorithms.

What the chapter does: the same images as VAE inputs and as CLIP inputs, CLIP embeddings (ViT-L-14 and
ViT-B-32), a VAE and a VAE-DISTS trained here on the shared loop, ToyHollyWood's 15 cells (source number
beside our mean ± std Hungarian accuracy, with both protocols and whether they are comparable) above the
trivial baselines (all in one cluster, a random partition), every score for every cell, methods beyond the
source (and, computed from the numbers, where they beat it), the best cell's embeddings / confusion matrix /
samples per cluster, and what each cell and extractor costs.

The steps the notebook calls, in order:

* :class:`VAERecipe`, :func:`weights_label` — the VAEs' settings and the models behind the numbers;
* :func:`load_data` — the images at the VAE's and at CLIP's resolution, checked to be the same items;
* :func:`dists_model`, :func:`clip_features`, :func:`train_vae_features`, :func:`loss_curve_figure` — the
  feature sets (VAE training resumes after a kill);
* :class:`ClusterConfig`, :func:`run_benchmark`, :func:`summarize`, :func:`record_metrics`,
  :func:`baseline_runs`, :func:`baseline_sentence`, :func:`feature_protocols`, :func:`faithful_table`, :func:`pretty`, :func:`best_run`
  — the benchmark, its trivial baselines and its tables;
  :data:`BEYOND`, :func:`beyond_comparison`, :func:`beyond_sentence` — the methods beyond the source and
  what the numbers say of them;
* :func:`embed_2d`, :func:`scatter_figure`, :func:`confusion_figure`, :func:`sample_grid_figure` — figures;
* :func:`wall_time_table`, :func:`extractor_cost_table` — cost.

Composes :mod:`toonlab.features` (extractors, VAE training on the shared loop), :mod:`toonlab.cluster`
(the benchmark, its figures) and :mod:`toonlab.metrics` (scores, costs) — no model or training code of its own.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import pandas as pd
import torch

from toonlab import zoo
from toonlab.cluster import ClusterConfig, algorithms, run_benchmark, summarize
from toonlab.cluster.baselines import baseline_runs
from toonlab.cluster.benchmark import best_run, display_names, pretty
from toonlab.cluster.beyond import BEYOND
from toonlab.cluster.figures import confusion_figure, embed_2d, sample_grid_figure, scatter_figure
from toonlab.features.vae_task import loss_curve_figure
from toonlab.metrics.clustering import TABLE_METRIC
from toonlab.paths import cache_dir
from toonlab.results import Reported, compare

CHAPTER = "02_clustering"
SOURCE = "ToyHollyWood"
# ToyHollyWood README, "cluster accuracy" (METHODS.md); protocol (Hungarian or majority vote) unknown.
SOURCE_ACCURACY: dict[str, dict[str, float]] = {
    "kmeans": {"CLIP": 0.239, "VAE-DISTS": 0.247, "VAE": 0.249},
    "agglomerative": {"CLIP": 0.300, "VAE-DISTS": 0.243, "VAE": 0.282},
    "birch": {"CLIP": 0.316, "VAE-DISTS": 0.269, "VAE": 0.291},
    "spectral": {"CLIP": 0.251, "VAE-DISTS": 0.251, "VAE": 0.246},
    "gmm": {"CLIP": 0.250, "VAE-DISTS": 0.225, "VAE": 0.217},
}
CLIP_NAMES = {"clip": "CLIP", "clip_b32": "CLIP-B32"}  # zoo role -> feature-set name in tables


@dataclass(frozen=True)
class VAERecipe:
    """How the chapter trains its VAEs (the source's: 80 px, widths 64..512, latent 256, Adam 1e-4)."""

    image_size: int = 80
    base_width: int = 64  # ResNet-18's first stage width; stages double it
    latent_dim: int = 256
    steps: int = 6000
    batch_size: int = 128
    lr: float = 1e-4
    kl_coeff: float = 0.1
    dists_weight: float = 1.0
    mixed_precision: str = "no"
    checkpoint_every: int = 500

    def vae_config(self):
        from toonlab.features.vae import VAEConfig

        widths = tuple(self.base_width * 2**i for i in range(4))
        return VAEConfig(image_size=self.image_size, widths=widths, latent_dim=self.latent_dim,
                         kl_coeff=self.kl_coeff)


def weights_label(clip_roles: Sequence[str], profile: str, vae_steps: int) -> str:
    """Which models produce the chapter's numbers (the CLIP weights per role, the VAEs trained here)."""
    clip_label = "; ".join(zoo.describe(role, profile) for role in clip_roles) or "no CLIP"
    return f"{clip_label}; VAE and VAE-DISTS trained here ({vae_steps} steps), DISTS = {dists_label(profile)}"


def device() -> str:
    return "cuda" if torch.cuda.is_available() else "cpu"


def load_data(name: str, resolution: int, clip_resolution: int, limit: int | None, seed: int) -> tuple[Any, Any]:
    """The same images twice: at the VAE's ``resolution`` and at ``clip_resolution`` for CLIP (which would
    otherwise see 80 px images upsampled to its 224 px input). Checked to be the same items in the same order."""
    from toonlab.data import load_images

    vae_data = load_images(name, resolution=resolution, limit=limit, seed=seed, progress=False)
    if clip_resolution == resolution:
        return vae_data, vae_data
    clip_data = load_images(name, resolution=clip_resolution, limit=limit, seed=seed, progress=False)
    if [p.name for p in vae_data.paths] != [p.name for p in clip_data.paths] or vae_data.labels != clip_data.labels:
        raise RuntimeError(f"{name!r} at {resolution} px and at {clip_resolution} px hold different images "
                           f"({len(vae_data)} vs {len(clip_data)}; see each dataset's .problems); "
                           "set clip_resolution equal to resolution to use one set")
    return vae_data, clip_data


def dists_model(profile: str, seed: int = 0) -> Any:
    """The DISTS term of VAE-DISTS, built first so missing weights fail at once.

    ``full``: piq's DISTS on ImageNet VGG16 (the source's). Offline (``ci``, ``cpu``, ``gpu``): DISTS-toon, the
    DISTS formula over the toon classifier trained here (:mod:`toonlab.metrics.perceptual_toon`) — no VGG16
    weights can be downloaded there, and a random VGG16 would make VAE-DISTS a smoke number in every profile.
    """
    from toonlab.metrics.perceptual_toon import build_perceptual_distance

    return build_perceptual_distance("dists", profile, device=device(), seed=seed)


def dists_label(profile: str) -> str:
    """What the DISTS in VAE-DISTS is, for the chapter's prose and the tables' weights label."""
    from toonlab.metrics.perceptual_toon import DISTS_TOON, TOON_PROFILES

    if profile in TOON_PROFILES:
        return f"{DISTS_TOON} (the DISTS formula over the toon classifier trained here, uniform weights)"
    return "piq DISTS (ImageNet VGG16, the released alpha/beta)"


def toonclip_heldout() -> dict[str, Any]:
    """The committed ToonCLIP's held-out scores (read from ``data/weights/toonclip.json``, written when it was
    trained) and a live retrieval figure on held-out avatars: what the offline profiles' ``clip`` role is worth.

    Returns ``zero_shot`` and ``retrieval`` tables, the ``figure`` and the record's training ``summary`` line.
    """
    from toonlab.metrics import toonclip_eval

    record = toonclip_eval._record()
    training = record["training"]
    summary = (f"{record['name']}: seed {training['seed']}, {training['steps']} steps, batch {training['batch_size']}, "
               f"{training['wall_time_s'] / 60:.1f} min wall, {training['cpu_time_s'] / 60:.1f} min process CPU "
               f"over {len(training['sessions'])} session(s) on {training['device']} "
               f"({training['torch_threads']} threads; {record['parameters'] / 1e6:.2f} M parameters, "
               f"sha256 {record['sha256'][:12]}…)")
    return {"zero_shot": toonclip_eval.zero_shot_table(record).set_index("head"),
            "retrieval": toonclip_eval.retrieval_table(record).set_index(["pairs", "direction"]),
            "figure": toonclip_eval.committed_retrieval_examples(), "summary": summary}


def clip_features(dataset: Any, roles: Sequence[str], profile: str, seed: int = 0,
                  batch_size: int = 64) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """CLIP image embeddings per zoo role (cached); returns (features by name, extractors by name)."""
    from toonlab.features import extract
    from toonlab.features.clip import clip_extractor

    features, extractors = {}, {}
    for role in roles:
        if role not in CLIP_NAMES:
            raise ValueError(f"unknown CLIP role {role!r}; choose from {list(CLIP_NAMES)}")
        extractor = clip_extractor(role, profile, device=device(), seed=seed)
        features[CLIP_NAMES[role]] = extract(extractor, dataset, batch_size=batch_size)
        extractors[CLIP_NAMES[role]] = extractor
    return features, extractors


def _run_dir(profile: str, name: str, recipe: VAERecipe, dataset: Any, seed: int, dists_id: str,
             log_every: int) -> Any:
    """Everything an exact resume depends on; not ``steps`` (a longer run continues a shorter one)."""
    from toonlab.features import dataset_digest

    settings = {k: v for k, v in asdict(recipe).items() if k not in ("steps", "checkpoint_every")}
    key = json.dumps({"recipe": settings, "log_every": log_every, "data": dataset_digest(dataset), "seed": seed,
                      "dists": dists_id}, sort_keys=True)
    return cache_dir("runs", CHAPTER, profile, f"{name}-{hashlib.sha256(key.encode()).hexdigest()[:12]}")


def train_vae_features(dataset: Any, recipe: VAERecipe, profile: str, dists: Any = None, seed: int = 0,
                       progress: bool = True) -> dict[str, Any]:
    """Train (or resume / reload) the VAE — VAE-DISTS when a ``dists`` model is given — and extract its features.

    Checkpoints live in ``<cache>/runs/02_clustering/<profile>/<name>-<key>/``, keyed by the recipe (not its
    step count), the data and the seed: a changed setting starts a new run, a killed one resumes, and asking
    for more steps continues a finished run.
    Returns name, features, history, the model, seconds spent training in this call and the run folder.
    """
    from toonlab.features import extract
    from toonlab.features.vae import VAEExtractor
    from toonlab.features.vae_task import train_vae
    from toonlab.metrics.perceptual import is_smoke
    from toonlab.train import TrainConfig

    name = "VAE-DISTS" if dists is not None else "VAE"
    dists_id = getattr(dists, "toonlab_weights", "") if dists is not None else ""
    log_every = max(1, min(10, recipe.steps // 20, recipe.checkpoint_every))  # >= 20 points on the loss curve
    out_dir = _run_dir(profile, name, recipe, dataset, seed, dists_id, log_every)
    checkpoint_every = max(log_every, recipe.checkpoint_every // log_every * log_every)
    train_config = TrainConfig(steps=recipe.steps, batch_size=recipe.batch_size, seed=seed,
                               mixed_precision=recipe.mixed_precision, checkpoint_every=checkpoint_every,
                               log_every=log_every, progress=progress)
    start = time.perf_counter()
    model, result = train_vae(dataset, out_dir, train_config, recipe.vae_config(), lr=recipe.lr, dists=dists,
                              dists_weight=recipe.dists_weight)
    seconds = time.perf_counter() - start
    weights = f"{name} trained here ({result.step} steps, seed {seed})"
    if dists is not None:
        weights += ", DISTS with random VGG16 (smoke)" if is_smoke(dists) else f", {getattr(dists, 'name', 'DISTS')}"
    extractor = VAEExtractor(model, weights, device=device())
    features = extract(extractor, dataset, batch_size=256)
    return {"name": name, "features": features, "history": result.history, "model": model, "extractor": extractor,
            "train_seconds": seconds, "resumed_from": result.resumed_from, "out_dir": out_dir}


# What the source's three feature sets were (METHODS.md), for the faithful table's protocol column.
SOURCE_FEATURES = {"CLIP": "OpenCLIP ViT-L-14 (pretrained)", "VAE": "VAE trained on its photos",
                   "VAE-DISTS": "VAE + piq DISTS (ImageNet VGG16) trained on its photos"}
SOURCE_DATA = "15,300 toy photos, 27 classes"
COMPARABLE_DATASET = "toyhollywood"


def feature_protocols(clip_roles: Sequence[str], profile: str, recipe: VAERecipe) -> dict[str, str]:
    """Feature-set name -> what our features are in this run (the faithful table's protocol column)."""
    vae = (f"VAE trained here ({recipe.steps} steps, {recipe.image_size} px, widths {recipe.base_width}-"
           f"{recipe.base_width * 8}, latent {recipe.latent_dim})")
    protocols = {CLIP_NAMES[role]: zoo.describe(role, profile) for role in clip_roles}
    protocols["VAE"] = vae
    protocols["VAE-DISTS"] = f"{vae} + {dists_label(profile).split(' (')[0]}"
    return protocols


def _comparability(extractor: str, profile: str, dataset: str) -> str:
    """Why a cell of ours can or cannot be read against the source's number."""
    reasons = []
    if dataset != COMPARABLE_DATASET:
        reasons.append(f"other images and classes ({dataset}, not ToyHollyWood)")
    if profile == "ci":
        reasons.append("smoke run: tiny random or barely trained models")
    elif profile != "full" and extractor != "VAE":
        reasons.append("offline stand-in features (ToonCLIP / DISTS-toon), not the source's pretrained ones")
    if not reasons:
        return "yes, as far as the source's unpublished protocol allows"
    return "no: " + "; ".join(reasons)


def faithful_table(summary: pd.DataFrame, label: str, reference_record: Mapping[str, Any] | None = None,
                   baselines: pd.DataFrame | None = None, protocols: Mapping[str, str] | None = None,
                   profile: str = "full", dataset: str = COMPARABLE_DATASET, n_images: int | None = None,
                   k: int | None = None) -> pd.DataFrame:
    """ToyHollyWood's 15 cells: the source's number beside our mean ± std Hungarian accuracy, then the
    trivial baselines (``baselines``: :func:`summarize` of :func:`baseline_runs`) — the floor to read them by.

    The "our protocol" column says which features and data produced our number (``protocols``:
    :func:`feature_protocols`), the "note" column what the source measured, and "comparable with the source"
    whether the two numbers measure the same thing at all (offline stand-in features never do).
    """
    rows = []
    means = summary.set_index(["extractor", "method"])
    data = f"{n_images:,} {dataset} images, k = {k}" if n_images is not None else dataset
    comparable = []
    for method, by_extractor in SOURCE_ACCURACY.items():
        for extractor, value in by_extractor.items():
            ours, runs = None, 0
            if (extractor, method) in means.index:
                cell = means.loc[(extractor, method)]
                ours = f"{cell[f'{TABLE_METRIC}_mean']:.3f} ± {cell[f'{TABLE_METRIC}_std']:.3f}"
                runs = int(cell["runs"])
            features = (protocols or {}).get(extractor, "not run")
            rows.append({"metric": f"{extractor} + {algorithms.DISPLAY_NAMES[method]}",
                         "reported": Reported(SOURCE, value, f"{SOURCE_FEATURES[extractor]}; {SOURCE_DATA}; "
                                                             "cluster accuracy, protocol unpublished"),
                         "ours": ours, "reference_key": metric_key(extractor, method),
                         "protocol": f"{features}; {data}; Hungarian accuracy over {runs} run(s)"})
            comparable.append(_comparability(extractor, profile, dataset))
    if baselines is not None:
        names = display_names()
        for _, cell in baselines.iterrows():
            rows.append({"metric": f"trivial baseline: {names[cell['method']]}", "reported": None,
                         "ours": f"{cell[f'{TABLE_METRIC}_mean']:.3f} ± {cell[f'{TABLE_METRIC}_std']:.3f}",
                         "reference_key": metric_key(cell["extractor"], cell["method"]),
                         "protocol": f"no features; {data}; Hungarian accuracy over {int(cell['runs'])} run(s)"})
            comparable.append("— (the floor of our own numbers)")
    table = compare(rows, label, reference_record)
    table["comparable with the source"] = comparable
    return table


def baseline_sentence(summary: pd.DataFrame, baselines: pd.DataFrame, metric: str = TABLE_METRIC) -> str:
    """How many of our cells rise above each trivial baseline by more than their seed spread, in one sentence
    computed from the numbers (the faithful table's floor, read for the reader)."""
    names = display_names()
    parts = []
    for _, floor in baselines.iterrows():
        above = (summary[f"{metric}_mean"] - summary[f"{metric}_std"] > floor[f"{metric}_mean"] + floor[f"{metric}_std"])
        parts.append(f"{int(above.sum())} of {len(summary)} cells are above \"{names[floor['method']]}\" "
                     f"({floor[f'{metric}_mean']:.3f})")
    return "; ".join(parts)


def beyond_comparison(summary: pd.DataFrame, beyond_summary: pd.DataFrame,
                      metric: str = TABLE_METRIC) -> pd.DataFrame:
    """Per feature set: the best of the source's algorithms and the best method beyond it (mean over seeds),
    the difference, and whether it exceeds the two methods' seed spreads combined (else: within noise)."""
    rows = []
    names = display_names()
    for extractor in summary["extractor"].unique():
        ours = summary[summary["extractor"] == extractor]
        other = beyond_summary[beyond_summary["extractor"] == extractor]
        if ours.empty or other.empty:
            continue
        a = ours.loc[ours[f"{metric}_mean"].idxmax()]
        b = other.loc[other[f"{metric}_mean"].idxmax()]
        gain = float(b[f"{metric}_mean"] - a[f"{metric}_mean"])
        noise = float(a[f"{metric}_std"] + b[f"{metric}_std"])
        verdict = "beyond is better" if gain > noise else "source's is better" if -gain > noise else "within noise"
        rows.append({"features": extractor, "best source algorithm": names[a["method"]],
                     metric: round(float(a[f"{metric}_mean"]), 3), "best beyond": names[b["method"]],
                     f"{metric} (beyond)": round(float(b[f"{metric}_mean"]), 3), "difference": round(gain, 3),
                     "seed spread (sum of stds)": round(noise, 3), "verdict": verdict})
    return pd.DataFrame(rows)


def beyond_sentence(comparison: pd.DataFrame) -> str:
    """What the beyond-the-source numbers say, in one sentence computed from :func:`beyond_comparison`."""
    if comparison.empty:
        return "no feature set was clustered by both the source's algorithms and the methods beyond it"
    better = comparison[comparison["verdict"] == "beyond is better"]
    worse = comparison[comparison["verdict"] == "source's is better"]
    parts = [f"the best method beyond the source beats the best of the source's algorithms by more than the "
             f"seed spread on {len(better)} of {len(comparison)} feature sets"]
    if len(better):
        top = better.loc[better["difference"].idxmax()]
        parts.append(f"(largest gain {top['difference']:+.3f} Hungarian accuracy, {top['features']} with "
                     f"{top['best beyond']})")
    if len(worse):
        parts.append(f"and loses on {len(worse)} ({', '.join(worse['features'])})")
    return " ".join(parts)


def metric_key(extractor: str, method: str, metric: str = TABLE_METRIC) -> str:
    return f"{metric}/{extractor}/{method}"


def record_metrics(run: Any, summary: pd.DataFrame,
                   metrics: Sequence[str] = ("hungarian_accuracy", "nmi", "ari", "purity")) -> None:
    """Every cell's mean and std into ``metrics.json`` (keys ``metric/extractor/method``)."""
    for _, cell in summary.iterrows():
        for metric in metrics:
            run.metric(metric_key(cell["extractor"], cell["method"], metric), round(float(cell[f"{metric}_mean"]), 4))
            run.metric(metric_key(cell["extractor"], cell["method"], metric) + "/std",
                       round(float(cell[f"{metric}_std"]), 4))


def wall_time_table(summary: pd.DataFrame) -> pd.DataFrame:
    """Mean wall seconds per clustering run, extractor x method (the cost of each cell)."""
    names = display_names()
    table = summary.pivot(index="extractor", columns="method", values="wall_s").round(3)
    table = table[[m for m in summary["method"].unique()]].rename(columns=names)
    return table.reset_index()


def extractor_cost_table(extractors: Mapping[str, Any], dataset: Any, batch: int = 32,
                         train_seconds: Mapping[str, float] | None = None) -> pd.DataFrame:
    """Parameters, images/s and peak memory of each extractor on one batch, plus training time if any."""
    from toonlab.metrics.cost import count_parameters, measure

    n = min(batch, len(dataset))
    images = torch.stack([dataset[i][0] for i in range(n)])
    rows = []
    for name, extractor in extractors.items():
        cost = measure(lambda: extractor(images), images_per_call=n, device=extractor.device, warmup=1, repeats=2)
        rows.append({"features": name, "dim": extractor.dim,
                     "parameters (M)": round(count_parameters(extractor.model) / 1e6, 3),
                     "images/s": round(cost.images_per_s, 1), "peak memory (MiB)": round(cost.peak_memory_mib),
                     # on CPU the peak is the whole process's RSS; the rise during the calls is the batch's own
                     "rise during calls (MiB)": round((cost.peak_memory_bytes - cost.baseline_memory_bytes) / 2**20),
                     "memory": cost.memory_kind, "device": cost.device,
                     "training s (this run)": round((train_seconds or {}).get(name, 0.0), 1)})
    return pd.DataFrame(rows)


__all__ = [
    "BEYOND", "CHAPTER", "CLIP_NAMES", "SOURCE", "SOURCE_ACCURACY", "ClusterConfig", "VAERecipe", "baseline_runs", "baseline_sentence",
    "best_run", "beyond_comparison", "beyond_sentence", "feature_protocols",
    "clip_features", "confusion_figure", "device", "dists_label", "dists_model", "embed_2d", "extractor_cost_table",
    "faithful_table", "load_data", "loss_curve_figure", "metric_key", "pretty", "record_metrics", "run_benchmark",
    "sample_grid_figure", "scatter_figure", "summarize", "toonclip_heldout", "train_vae_features", "wall_time_table", "weights_label",
]
