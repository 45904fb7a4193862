"""The extractor interface and batched, cached, resumable extraction.

The cache key is ``manifest_digest()`` (the data registry and committed manifests) + a digest of the
exact images (their sha256s and labels, in order) + the extractor's ``id`` (architecture, weights and
anything else that changes its output). Extraction writes one shard per chunk of images atomically, so
a run killed half-way resumes from the last finished chunk; the final ``.npy`` is written last.
"""

from __future__ import annotations

import hashlib
import io
import logging
from abc import ABC, abstractmethod
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tqdm.auto import tqdm

from toonlab import atomic
from toonlab.paths import cache_dir

log = logging.getLogger(__name__)
CACHE_VERSION = 1  # bump when the cache layout or the extraction arithmetic changes


class FeatureExtractor(ABC):
    """Images in, features out. Subclasses set ``id`` (cache identity) and ``dim``."""

    id: str  # everything that determines the output: model, weights, preprocessing
    dim: int

    @abstractmethod
    def __call__(self, images: torch.Tensor) -> torch.Tensor:
        """(B, 3, H, W) in [0, 1] -> (B, dim) features (any device/dtype; :func:`extract` converts)."""

    def weights_label(self) -> str:
        """What tables print as the weights behind these features (smoke for random ones)."""
        return self.id


def _check_images(images: torch.Tensor) -> None:
    if not isinstance(images, torch.Tensor) or images.ndim != 4 or images.shape[1] != 3:
        shape = tuple(images.shape) if isinstance(images, torch.Tensor) else type(images).__name__
        raise ValueError(f"expected images as a float tensor (N, 3, H, W) in [0, 1]; got {shape}")
    if images.numel() and (images.min() < 0 or images.max() > 1):
        raise ValueError(f"images must lie in [0, 1]; got values in [{images.min():.3g}, {images.max():.3g}] "
                         "(undo any normalisation: extractors normalise themselves)")


def dataset_digest(dataset: Any) -> str:
    """A digest of the images and labels of an :class:`~toonlab.data.ImageDataset` (or any object with
    ``sha256`` and ``labels`` lists), in order: two datasets with the same digest hold the same images."""
    if not hasattr(dataset, "sha256") or not hasattr(dataset, "labels"):
        raise TypeError(f"{type(dataset).__name__} has no sha256/labels lists; cache keys need an ImageDataset "
                        "(toonlab.data.load_images) or pass cache=False")
    digest = hashlib.sha256()
    for sha, label in zip(dataset.sha256, dataset.labels, strict=True):
        digest.update(f"{sha}:{label}\n".encode())
    return digest.hexdigest()[:16]


def cache_key(dataset: Any, extractor_id: str, manifest: str | None = None) -> str:
    """The cache key of ``extractor_id``'s features of ``dataset``."""
    if manifest is None:
        from toonlab.data import manifest_digest

        manifest = manifest_digest()
    payload = f"v{CACHE_VERSION}|{manifest}|{dataset_digest(dataset)}|{extractor_id}"
    return hashlib.sha256(payload.encode()).hexdigest()[:20]


def _save_npy(path: Path, array: np.ndarray) -> None:
    buffer = io.BytesIO()
    np.save(buffer, array, allow_pickle=False)
    atomic.write_bytes(path, buffer.getvalue())


def _load_npy(path: Path) -> np.ndarray:
    return np.load(path, allow_pickle=False)


def _images(dataset: Any, start: int, stop: int) -> torch.Tensor:
    if isinstance(dataset, torch.Tensor):
        return dataset[start:stop]
    return torch.stack([dataset[i][0] for i in range(start, stop)])


@torch.no_grad()
def _run(extractor: FeatureExtractor, dataset: Any, start: int, stop: int, batch_size: int) -> np.ndarray:
    out = []
    for i in range(start, stop, batch_size):
        images = _images(dataset, i, min(i + batch_size, stop))
        _check_images(images)
        features = extractor(images)
        if features.ndim != 2 or features.shape[0] != images.shape[0]:
            raise RuntimeError(f"{extractor.id} returned {tuple(features.shape)} for {images.shape[0]} images; "
                               "an extractor must return (B, dim)")
        out.append(features.detach().float().cpu().numpy())
    return np.concatenate(out) if out else np.zeros((0, extractor.dim), np.float32)


def extract(extractor: FeatureExtractor, dataset: Any, batch_size: int = 64, cache: bool = True,
            chunk_size: int = 2048, folder: Path | None = None, progress: bool = True) -> np.ndarray:
    """``extractor``'s features of every image in ``dataset`` as float32 ``N x dim``.

    ``dataset``: an :class:`~toonlab.data.ImageDataset` (cacheable) or a float tensor (N, 3, H, W)
    (never cached: it has no manifest). Cached under ``<cache>/features/<key>/``.
    """
    if batch_size < 1 or chunk_size < 1:
        raise ValueError(f"batch_size and chunk_size must be >= 1, got {batch_size}, {chunk_size}")
    n = len(dataset)
    if not cache or isinstance(dataset, torch.Tensor):
        return _run(extractor, dataset, 0, n, batch_size)
    folder = folder or cache_dir("features", cache_key(dataset, extractor.id))
    final = folder / "features.npy"
    if final.is_file():
        features = _load_npy(final)
        if features.shape == (n, extractor.dim):
            return features
        log.warning("%s has shape %s, expected %s; recomputing", final, features.shape, (n, extractor.dim))
    atomic.write_json(folder / "key.json", {"extractor": extractor.id, "n": n, "dim": extractor.dim})
    chunks = []
    starts = range(0, n, chunk_size)
    for start in tqdm(starts, desc=f"features {extractor.id[:40]}", disable=not progress or len(starts) < 2,
                      leave=False):
        stop = min(start + chunk_size, n)
        shard = folder / f"shard-{start:08d}-{stop:08d}.npy"
        if shard.is_file():  # finished by an earlier, interrupted run
            chunk = _load_npy(shard)
        else:
            chunk = _run(extractor, dataset, start, stop, batch_size)
            _save_npy(shard, chunk)
        chunks.append(chunk)
    features = np.concatenate(chunks) if chunks else np.zeros((0, extractor.dim), np.float32)
    features = features.astype(np.float32, copy=False)
    _save_npy(final, features)  # last: its presence marks the cache entry complete
    for shard in folder.glob("shard-*.npy"):
        shard.unlink(missing_ok=True)
    return features
