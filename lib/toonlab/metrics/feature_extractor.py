"""The feature extractor behind the distribution metrics: a network plus the labels its distances must carry.

Its own module so the extractors built on it (:mod:`toonlab.metrics.extractors` for Inception,
:mod:`toonlab.metrics.toon_features` for the toon classifier) and the metrics that use it
(:mod:`toonlab.metrics.fid`) all import it from below, and never each other.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import torch
from torch import nn

from toonlab.metrics.checks import MetricInputError


def _first_output_flat(model: nn.Module, images: torch.Tensor) -> torch.Tensor:
    output = model(images)
    if isinstance(output, (list, tuple)):  # pytorch-fid returns a list of feature maps
        output = output[0]
    if output.ndim == 4:
        # pytorch-fid's rule for blocks without a 1x1 output: global average pooling
        output = torch.nn.functional.adaptive_avg_pool2d(output, 1)
    return output.flatten(1)


@dataclass
class FeatureExtractor:
    """Images (N, 3, H, W) in [0, 1] -> features (N, D), with the labels its distances must carry."""

    model: nn.Module
    name: str  # what the network is, e.g. "pytorch-fid InceptionV3 pool3 (2048-d)"
    weights: str  # which weights, e.g. "pt_inception-2015-12-05" or "random-init seed=0"
    distance_name: str  # "FID" | "random-feature FD (smoke, not comparable)" | "FD-toon"
    kid_name: str  # "KID" | "random-feature KID (smoke, not comparable)" | "KID-toon"
    comparable_to: str  # who may compare with the number: "the literature", "this book's chapters", "nothing"
    forward: Callable[[nn.Module, torch.Tensor], torch.Tensor] = field(default=_first_output_flat, repr=False)

    @property
    def key(self) -> str:
        """Identifies the features for cache keys: same key, same features."""
        return f"{self.name}|{self.weights}"

    @property
    def device(self) -> torch.device:
        try:
            return next(self.model.parameters()).device
        except StopIteration:
            return torch.device("cpu")

    @torch.inference_mode()
    def __call__(self, images: torch.Tensor) -> torch.Tensor:
        features = self.forward(self.model, images.to(self.device))
        if features.ndim != 2 or features.shape[0] != images.shape[0]:
            raise MetricInputError(f"extractor {self.name} returned shape {tuple(features.shape)} for "
                                   f"{images.shape[0]} images; expected (N, D)")
        return features.float()
