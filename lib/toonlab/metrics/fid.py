"""FID and KID (and FD-toon / random-feature FD, by extractor), with cached reference statistics.

The protocol is pytorch-fid's, as ToyHollyWood used it: images -> RGB -> [0, 1] -> InceptionV3 (bilinear
resize to 299 inside the network) -> 2048-d pool3 features -> mean and covariance in float64 ->
Fréchet distance. Additions, each stated in the reported number:

- an optional PIL-bicubic resize of files to a common resolution before the network;
- KID (Bińkowski et al. 2018: cubic polynomial kernel, unbiased MMD², mean ± std over 100 subsets of
  1,000, the torch-fidelity / clean-fid defaults), reported beside FID and the number to read when a set has
  fewer images than feature dimensions (2,048 for Inception: the covariance is then rank-deficient and
  FID is biased);
- reference statistics (and features, for KID) cached as ``.npz`` keyed by the data manifest hash,
  resolution, resize method and extractor weights, so a real set is embedded once.

The Fréchet distance takes the matrix square root through two symmetric eigendecompositions instead of
scipy's general ``sqrtm`` (same quantity; tested against pytorch-fid's ``calculate_frechet_distance``);
``method="sqrtm"`` calls pytorch-fid's own function.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import zipfile
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Union

import numpy as np
import scipy.linalg
import torch

from toonlab import atomic
from toonlab.metrics.checks import MetricInputError, check_features, check_images, check_same_dim
from toonlab.metrics.feature_extractor import FeatureExtractor
from toonlab.metrics.image_io import (
    describe_resize,
    files_digest,
    iter_image_batches,
    list_images,
)

log = logging.getLogger(__name__)

MIN_RELIABLE_FID_IMAGES = 2048  # Inception's feature dimension; in general: as many images as dimensions
STATS_FORMAT = 1  # bump when the cached statistics change meaning


def unreliable_note(dim: int, distance_name: str, kid_name: str) -> str:
    """Why a Fréchet distance on fewer images than feature dimensions must not be read alone."""
    return (f"fewer than {dim:,} images: the {dim}x{dim} feature covariance is rank-deficient and "
            f"{distance_name} is biased upwards; read {kid_name}, which is unbiased at any size")

ImageSource = Union[str, Path, Sequence[Union[str, Path]], torch.Tensor]


# ---------------------------------------------------------------------------------------------------
# features


def extract_features(source: ImageSource, extractor: FeatureExtractor, *, batch_size: int = 50,
                     resolution: int | None = None, workers: int = 2, quantize: bool = True,
                     progress: bool = False, desc: str = "features") -> np.ndarray:
    """Features (N, D) float32 of a folder, a list of image files, or an image tensor (N, 3, H, W) in [0, 1].

    Files are decoded like pytorch-fid (RGB, /255); ``resolution`` resizes them with PIL bicubic first.
    Tensors are rounded to 8 bits when ``quantize`` (what saving them as PNG would do), so a tensor and the
    folder it was saved to score the same.
    """
    from tqdm.auto import tqdm

    if isinstance(source, torch.Tensor):
        check_images(source, desc)
        batches: Iterable[torch.Tensor] = (source[i:i + batch_size] for i in range(0, len(source), batch_size))
        total = math.ceil(len(source) / batch_size)
    else:
        paths = list_images(source) if isinstance(source, (str, Path)) else [Path(p) for p in source]
        if not paths:
            raise MetricInputError(f"{desc}: no image files given")
        batches = iter_image_batches(paths, batch_size, resolution, workers)
        total = math.ceil(len(paths) / batch_size)

    chunks = []
    for batch in tqdm(batches, total=total, desc=desc, disable=not progress, leave=False):
        if batch.dtype == torch.uint8:
            images = batch.to(extractor.device).float().div_(255.0)  # exactly torchvision's ToTensor
        else:
            images = batch.to(extractor.device).float()
            if quantize:
                images = images.mul(255.0).round_().div_(255.0)
        chunks.append(extractor(images).cpu())
    features = torch.cat(chunks).numpy()
    check_features(features, f"{desc} features")
    return features


# ---------------------------------------------------------------------------------------------------
# statistics


@dataclass
class FeatureStats:
    """Mean and covariance of a set's features (float64), with the features themselves for KID."""

    mu: np.ndarray
    sigma: np.ndarray
    n: int
    features: np.ndarray | None = None
    meta: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_features(cls, features: np.ndarray, meta: dict[str, Any] | None = None,
                      keep_features: bool = True) -> FeatureStats:
        array = check_features(features, "features", min_rows=2)
        # float64 mean and unbiased covariance, as pytorch-fid (np.mean, np.cov(rowvar=False))
        return cls(mu=array.mean(axis=0), sigma=np.cov(array, rowvar=False), n=len(array),
                   features=np.asarray(features) if keep_features else None, meta=dict(meta or {}))

    def save(self, path: str | Path) -> Path:
        arrays = {"mu": self.mu, "sigma": self.sigma, "n": np.array(self.n),
                  "meta": np.array(json.dumps(self.meta, sort_keys=True))}
        if self.features is not None:
            arrays["features"] = self.features
        with atomic.atomic_open(path, "wb") as handle:  # np.savez to a file object: no ".npz" appended
            np.savez(handle, **arrays)
        return Path(path)

    @classmethod
    def load(cls, path: str | Path) -> FeatureStats:
        with np.load(path, allow_pickle=False) as data:
            return cls(mu=data["mu"], sigma=data["sigma"], n=int(data["n"]),
                       features=data["features"] if "features" in data.files else None,
                       meta=json.loads(str(data["meta"])))


def stats_cache_key(data_hash: str, resolution: int | None, extractor: FeatureExtractor, n: int) -> str:
    """Same key <=> same images, same resize, same network weights: the cached statistics can be reused."""
    fields = {"data": data_hash, "resolution": resolution, "resize": describe_resize(resolution),
              "extractor": extractor.key, "n": n, "format": STATS_FORMAT}
    return hashlib.sha256(json.dumps(fields, sort_keys=True).encode()).hexdigest()[:20]


def reference_stats(source: str | Path | Sequence[str | Path], extractor: FeatureExtractor, *,
                    resolution: int | None = None, data_hash: str | None = None, cache: bool = True,
                    cache_dir: str | Path | None = None, batch_size: int = 50, workers: int = 2,
                    progress: bool = True) -> FeatureStats:
    """Statistics of a real image set, embedded once and then read from the cache.

    ``data_hash`` names the data version. Without it, a folder written by :func:`toonlab.data.materialize`
    is identified by its ``manifest.csv`` (which lists every file's sha256), any other set by hashing the
    files' names and bytes (reading them is far cheaper than embedding them).
    """
    from toonlab.paths import cache_dir as default_cache_dir

    paths = list_images(source) if isinstance(source, (str, Path)) else [Path(p) for p in source]
    if not paths:
        raise MetricInputError("reference set has no image files")
    manifest = Path(source) / "manifest.csv" if isinstance(source, (str, Path)) else None
    if data_hash is None and manifest is not None and manifest.is_file():
        data_hash = "manifest:" + hashlib.sha256(manifest.read_bytes()).hexdigest()[:16]
    data_hash = data_hash or files_digest(paths)
    key = stats_cache_key(data_hash, resolution, extractor, len(paths))
    folder = Path(cache_dir) if cache_dir is not None else default_cache_dir("metrics", "feature_stats")
    path = folder / f"{key}.npz"
    if cache and path.is_file():
        try:
            stats = FeatureStats.load(path)
        except (OSError, ValueError, KeyError, zipfile.BadZipFile) as error:  # unreadable: embed again
            log.warning("ignoring unreadable cached statistics %s (%s); recomputing", path, error)
        else:
            if stats.meta.get("key") == key and stats.n == len(paths):
                return stats
    features = extract_features(paths, extractor, batch_size=batch_size, resolution=resolution, workers=workers,
                                progress=progress, desc="reference")
    meta = {"key": key, "data_hash": data_hash, "resolution": resolution, "resize": describe_resize(resolution),
            "extractor": extractor.name, "weights": extractor.weights, "n": len(paths)}
    stats = FeatureStats.from_features(features, meta)
    if cache:
        stats.save(path)
    return stats


# ---------------------------------------------------------------------------------------------------
# distances


def frechet_distance(mu1: np.ndarray, sigma1: np.ndarray, mu2: np.ndarray, sigma2: np.ndarray,
                     method: str = "eigh") -> float:
    """d² = |mu1 - mu2|² + Tr(S1 + S2 - 2 (S1 S2)^½) between two Gaussians (the FID formula).

    ``method="eigh"``: Tr (S1 S2)^½ = Σ √λ(S1^½ S2 S1^½); both factors are symmetric positive
    semi-definite, so two symmetric eigendecompositions suffice — several times faster than a general
    ``sqrtm`` on 2048x2048 and well defined for singular covariances (few images), where pytorch-fid needs
    its diagonal-offset fallback. ``method="sqrtm"``: pytorch-fid's ``calculate_frechet_distance`` itself.
    """
    mu1, mu2 = np.atleast_1d(np.asarray(mu1, np.float64)), np.atleast_1d(np.asarray(mu2, np.float64))
    sigma1, sigma2 = np.atleast_2d(np.asarray(sigma1, np.float64)), np.atleast_2d(np.asarray(sigma2, np.float64))
    if mu1.shape != mu2.shape or mu1.ndim != 1:
        raise MetricInputError(f"means must be vectors of the same length, got {mu1.shape} and {mu2.shape}")
    for name, sigma in (("sigma1", sigma1), ("sigma2", sigma2)):
        if sigma.shape != (mu1.size, mu1.size):
            raise MetricInputError(f"{name} has shape {sigma.shape}; expected ({mu1.size}, {mu1.size}) "
                                   f"to match the means")
    for name, array in (("mu1", mu1), ("mu2", mu2), ("sigma1", sigma1), ("sigma2", sigma2)):
        if not np.isfinite(array).all():
            raise MetricInputError(f"{name} contains NaN or inf; the features it came from were not finite")
    if method == "sqrtm":
        from pytorch_fid.fid_score import calculate_frechet_distance

        return float(calculate_frechet_distance(mu1, sigma1, mu2, sigma2))
    if method != "eigh":
        raise MetricInputError(f"unknown method {method!r}; use 'eigh' (default) or 'sqrtm' (pytorch-fid's)")
    diff = mu1 - mu2
    return float(diff @ diff + np.trace(sigma1) + np.trace(sigma2) - 2.0 * _trace_sqrt_product(sigma1, sigma2))


def _psd_eigenvalues(eigenvalues: np.ndarray) -> np.ndarray:
    """Eigenvalues of a PSD matrix with rounding noise removed.

    Below ``n · eps · max|λ|`` (numpy's ``matrix_rank`` tolerance) an eigenvalue is indistinguishable from
    zero; left in, its square root (~1e-7 for noise of 1e-14) would add up over the null space of a
    rank-deficient covariance.
    """
    tolerance = eigenvalues.size * np.finfo(np.float64).eps * np.abs(eigenvalues).max(initial=0.0)
    return np.where(eigenvalues > tolerance, eigenvalues, 0.0)


def _trace_sqrt_product(sigma1: np.ndarray, sigma2: np.ndarray) -> float:
    eigenvalues, eigenvectors = scipy.linalg.eigh(sigma1)
    root1 = (eigenvectors * np.sqrt(_psd_eigenvalues(eigenvalues))) @ eigenvectors.T
    inner = root1 @ sigma2 @ root1
    inner = (inner + inner.T) / 2.0  # symmetric in exact arithmetic; remove the rounding asymmetry
    return float(np.sqrt(_psd_eigenvalues(scipy.linalg.eigvalsh(inner))).sum())


def frechet_distance_of(a: FeatureStats, b: FeatureStats, method: str = "eigh") -> float:
    """The Fréchet distance of two feature sets; exact and fast for sets smaller than the feature dimension.

    With n <= d samples, S = AᵀA for the centred, scaled features A (n x d), and the non-zero eigenvalues
    of S1 S2 are the squared singular values of A1 A2ᵀ (n1 x n2): Tr (S1 S2)^½ is its nuclear norm. That is
    the same quantity as :func:`frechet_distance` computes, from an n1 x n2 SVD instead of two d x d
    eigendecompositions — what makes small-set (``ci``, few-shot) FIDs cheap.
    """
    if a.mu.shape != b.mu.shape:
        raise MetricInputError(f"feature dimensions differ ({a.mu.size} vs {b.mu.size}): use one extractor for both")
    low_rank = a.features is not None and b.features is not None and max(a.n, b.n) <= a.mu.size
    if method != "eigh" or not low_rank:
        return frechet_distance(a.mu, a.sigma, b.mu, b.sigma, method=method)
    scaled_a = (a.features.astype(np.float64) - a.mu) / math.sqrt(a.n - 1)
    scaled_b = (b.features.astype(np.float64) - b.mu) / math.sqrt(b.n - 1)
    trace_sqrt = float(scipy.linalg.svdvals(scaled_a @ scaled_b.T).sum())
    diff = a.mu - b.mu
    return float(diff @ diff + np.trace(a.sigma) + np.trace(b.sigma) - 2.0 * trace_sqrt)


@dataclass(frozen=True)
class KIDEstimate:
    mean: float
    std: float
    subsets: int
    subset_size: int


def kernel_inception_distance(features1: np.ndarray, features2: np.ndarray, *, subsets: int = 100,
                              subset_size: int = 1000, degree: int = 3, coef0: float = 1.0,
                              seed: int = 0) -> KIDEstimate:
    """KID: unbiased MMD² with k(x, y) = (x·y / d + coef0)^degree, mean ± std over random subsets.

    Each subset draws ``min(subset_size, n1, n2)`` rows of each set without replacement (clean-fid's rule).
    When both sets are exactly that size every subset is the whole set, so one is computed.
    """
    x_all = check_features(features1, "features1", min_rows=2)
    y_all = check_features(features2, "features2", min_rows=2)
    check_same_dim(x_all, y_all, ("features1", "features2"))
    if subsets < 1 or subset_size < 2:
        raise MetricInputError(f"need subsets >= 1 and subset_size >= 2, got {subsets} and {subset_size}")
    m = min(subset_size, len(x_all), len(y_all))
    if m == len(x_all) == len(y_all):
        subsets = 1
    rng = np.random.default_rng(seed)
    values = []
    for _ in range(subsets):
        x = x_all[rng.choice(len(x_all), m, replace=False)]
        y = y_all[rng.choice(len(y_all), m, replace=False)]
        values.append(mmd2_unbiased(x, y, degree=degree, coef0=coef0))
    values_array = np.asarray(values)
    return KIDEstimate(float(values_array.mean()), float(values_array.std()), subsets, m)


def mmd2_unbiased(x: np.ndarray, y: np.ndarray, degree: int = 3, coef0: float = 1.0) -> float:
    """Unbiased MMD² with the polynomial kernel (gamma = 1 / d), sets of any sizes >= 2."""
    gamma = 1.0 / x.shape[1]
    xt = torch.from_numpy(np.ascontiguousarray(x, np.float64))
    yt = torch.from_numpy(np.ascontiguousarray(y, np.float64))
    k_xx = (xt @ xt.T * gamma + coef0) ** degree
    k_yy = (yt @ yt.T * gamma + coef0) ** degree
    k_xy = (xt @ yt.T * gamma + coef0) ** degree
    m, n = len(xt), len(yt)
    within_x = (k_xx.sum() - k_xx.diagonal().sum()) / (m * (m - 1))
    within_y = (k_yy.sum() - k_yy.diagonal().sum()) / (n * (n - 1))
    return float(within_x + within_y - 2.0 * k_xy.sum() / (m * n))


# ---------------------------------------------------------------------------------------------------
# one call for a chapter


@dataclass
class DistanceResult:
    """A distribution distance as the book reports it: the number, its name, and how it was made."""

    distance_name: str  # "FID", "FD-toon" or "random-feature FD (smoke, not comparable)"
    value: float
    kid_name: str
    kid_mean: float | None
    kid_std: float | None
    kid_subsets: int | None
    kid_subset_size: int | None
    n_generated: int
    n_reference: int
    extractor: str
    weights: str
    comparable_to: str
    resize_generated: str
    resize_reference: str
    notes: list[str] = field(default_factory=list)

    feature_dim: int = MIN_RELIABLE_FID_IMAGES

    @property
    def reliable(self) -> bool:
        """At least as many images on each side as feature dimensions (2,048 for Inception)."""
        return min(self.n_generated, self.n_reference) >= self.feature_dim

    def describe(self) -> str:
        """One line for a table caption: name, value, image counts, resize, what it is comparable to."""
        kid = "" if self.kid_mean is None else f"; {self.kid_name} {self.kid_mean:.4g} ± {self.kid_std:.2g}"
        text = (f"{self.distance_name} {self.value:.4g}{kid} — {self.n_generated:,} generated vs "
                f"{self.n_reference:,} reference images ({self.resize_generated} / {self.resize_reference}; "
                f"{self.extractor}, weights {self.weights}); comparable to {self.comparable_to}")
        return text + "".join(f". Note: {note}" for note in self.notes)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _side(source: ImageSource | FeatureStats, extractor: FeatureExtractor, name: str, resolution: int | None,
          batch_size: int, workers: int, cache: bool, data_hash: str | None, progress: bool) -> FeatureStats:
    if isinstance(source, FeatureStats):
        if source.meta.get("weights") not in (None, extractor.weights):
            raise MetricInputError(f"{name} statistics were made with weights {source.meta.get('weights')!r}, "
                                   f"but the extractor has {extractor.weights!r}; recompute them")
        return source
    if cache and not isinstance(source, torch.Tensor):
        return reference_stats(source, extractor, resolution=resolution, data_hash=data_hash,
                               batch_size=batch_size, workers=workers, progress=progress)
    features = extract_features(source, extractor, batch_size=batch_size, resolution=resolution, workers=workers,
                                progress=progress, desc=name)
    resize = "native size (tensor)" if isinstance(source, torch.Tensor) else describe_resize(resolution)
    return FeatureStats.from_features(features, {"resize": resize, "weights": extractor.weights, "n": len(features)})


def distribution_distance(generated: ImageSource | FeatureStats, reference: ImageSource | FeatureStats,
                          extractor: FeatureExtractor, *, resolution: int | None = None, batch_size: int = 50,
                          workers: int = 2, cache_reference: bool = True, reference_hash: str | None = None,
                          kid_subsets: int = 100, kid_subset_size: int = 1000, seed: int = 0,
                          method: str = "eigh", progress: bool = True) -> DistanceResult:
    """FID + KID (or FD-toon + KID-toon, or the random-feature smoke versions) of generated vs reference.

    Each side may be a folder, a list of files, an image tensor in [0, 1], or precomputed
    :class:`FeatureStats`. A reference given as files is embedded once and cached (``cache_reference``).
    """
    gen = _side(generated, extractor, "generated", resolution, batch_size, workers, False, None, progress)
    ref = _side(reference, extractor, "reference", resolution, batch_size, workers, cache_reference,
                reference_hash, progress)
    value = frechet_distance_of(gen, ref, method=method)
    notes = []
    dim = int(gen.mu.size)
    if min(gen.n, ref.n) < dim:
        notes.append(unreliable_note(dim, extractor.distance_name, extractor.kid_name))
    kid = None
    if gen.features is not None and ref.features is not None:
        kid = kernel_inception_distance(gen.features, ref.features, subsets=kid_subsets,
                                        subset_size=kid_subset_size, seed=seed)
    else:
        notes.append("KID not computed: cached statistics without features")
    return DistanceResult(
        distance_name=extractor.distance_name, value=value, kid_name=extractor.kid_name,
        kid_mean=None if kid is None else kid.mean, kid_std=None if kid is None else kid.std,
        kid_subsets=None if kid is None else kid.subsets, kid_subset_size=None if kid is None else kid.subset_size,
        n_generated=gen.n, n_reference=ref.n, extractor=extractor.name, weights=extractor.weights,
        comparable_to=extractor.comparable_to, resize_generated=gen.meta.get("resize", "?"),
        resize_reference=ref.meta.get("resize", "?"), notes=notes, feature_dim=dim,
    )
