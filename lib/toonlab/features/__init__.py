"""Image feature extractors for the clustering chapter, behind one interface, with a disk cache.

Every extractor maps images (N, 3, H, W) in [0, 1] to an ``N x D`` float32 array:

- :mod:`~toonlab.features.clip` — open_clip image embeddings (ViT-L-14 / ViT-B-32 in ``full``);
- :mod:`~toonlab.features.vae` — ToyHollyWood's ResNet-18-style VAE (posterior means as features);
- :mod:`~toonlab.features.vae_task` — its training :class:`~toonlab.train.Task`, plain or with DISTS.

:func:`~toonlab.features.base.extract` batches any extractor over a dataset and caches the result on disk
under a key made of the data-manifest digest, the exact image list and the extractor's id.
"""

from toonlab.features.base import FeatureExtractor, cache_key, dataset_digest, extract

__all__ = ["FeatureExtractor", "cache_key", "dataset_digest", "extract"]
