"""Data layer: the registry of image sources, loaders, the scraper and descriptive statistics.

Sources are registered in ``data/registry.yaml`` (license, origin, how to obtain, checksummed manifest):
``emoji``, ``avatars``, ``photos`` work offline (``ci``); ``toyhollywood``, ``funkopop-humans`` (Kaggle)
and ``comic`` (a local folder) are ``full`` sources.

The API other chapters use::

    from toonlab import data
    ds = data.load_images("emoji", resolution=64, limit=500, seed=0)
    image, label = ds[0]            # float tensor 3x64x64 in [0, 1] (white background), int label
    ds.classes, ds.labels, ds.paths, ds.attributes, ds.problems, ds.count_checks
    folder = data.materialize("avatars", resolution=128, limit=256)   # cached folder of PNGs (pytorch-fid)
    data.manifest_digest()          # digest of the registry + committed manifests, for cache keys
    data.list_sources()             # every registered source (license, origin, how to obtain)

``limit`` keeps a seeded random subset (for ``avatars``: draws that many, default 1000); ``seed`` makes
both deterministic. ``label="skin"`` (any attribute) relabels, e.g. avatars by skin colour instead of
mouth. Corrupt or changed files are skipped and listed in ``ds.problems`` by name; a source that is
missing raises :class:`DataSourceError` at once with what to download and where to put it. A source whose
files differ in number from the ``reported_images`` / ``reported_classes`` of its registry entry warns
(``ds.count_checks``) or fails, as the entry says (:mod:`toonlab.data.checks`). A corrupt file in the
rendered-image cache is rendered again.

Submodules: :mod:`toonlab.data.scrape` (polite resumable crawler), :mod:`toonlab.data.shop` (the local
fixture shop it is tested against), :mod:`toonlab.data.stats` (descriptive statistics).
"""

from __future__ import annotations

import importlib
from typing import Any

# Lazy attributes (PEP 562): ``python -m toonlab.data.scrape`` must not pay for importing torch.
_EXPORTS = {
    "ImageDataset": "toonlab.data.dataset",
    "Problem": "toonlab.data.dataset",
    "load_images": "toonlab.data.dataset",
    "materialize": "toonlab.data.dataset",
    "CorruptItemError": "toonlab.data.errors",
    "DataSourceError": "toonlab.data.errors",
    "ManifestEntry": "toonlab.data.manifest",
    "manifest_digest": "toonlab.data.manifest",
    "read_manifest": "toonlab.data.manifest",
    "SourceSpec": "toonlab.data.registry",
    "get_spec": "toonlab.data.registry",
}


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'toonlab.data' has no attribute {name!r}")


def list_sources() -> dict[str, Any]:
    """Every registered source by name (:class:`SourceSpec` records: license, origin, how to obtain)."""
    from toonlab.data.registry import load_registry

    return load_registry()


__all__ = [
    "CorruptItemError",
    "DataSourceError",
    "ImageDataset",
    "ManifestEntry",
    "Problem",
    "SourceSpec",
    "get_spec",
    "load_images",
    "manifest_digest",
    "materialize",
    "read_manifest",
    "list_sources",
]
