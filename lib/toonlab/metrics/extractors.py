"""Feature extractors for the distribution metrics, and the name each one's distance may be printed under.

The same Fréchet-distance code serves three extractors, and the number means different things with each:

- pytorch-fid's InceptionV3 with the real FID weights -> "FID": comparable with the literature;
- the same network randomly initialised (``ci``) -> "random-feature FD (smoke, not comparable)";
- the book's own toon classifier (``gpu``) -> "FD-toon": comparable across this book's chapters only.

A :class:`FeatureExtractor` carries that label with the model, so a metric can never print "FID" for a number
that came from random features.
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


RANDOM_FD = "random-feature FD (smoke, not comparable)"
RANDOM_KID = "random-feature KID (smoke, not comparable)"


def inception_extractor(model: nn.Module) -> FeatureExtractor:
    """Wrap pytorch-fid's InceptionV3 (from :func:`toonlab.zoo.inception.build_inception` or injected).

    Only the real pytorch-fid weights earn the name "FID"; anything else (random, untagged) is a smoke
    number. The tag is the ``toonlab_weights`` attribute the zoo builder sets.
    """
    from toonlab.zoo.inception import FID_WEIGHTS_ID

    weights = getattr(model, "toonlab_weights", "untagged weights")
    real = weights == FID_WEIGHTS_ID
    model.eval()
    return FeatureExtractor(
        model=model,
        name="pytorch-fid InceptionV3 pool3 (2048-d)",
        weights=weights,
        distance_name="FID" if real else RANDOM_FD,
        kid_name="KID" if real else RANDOM_KID,
        comparable_to="the literature (pytorch-fid weights)" if real else "nothing (random features, smoke test)",
    )


FEATURES = ("inception", "toon", "random")


def build_extractor(features: str, profile: str, device: str | torch.device = "cpu", seed: int = 0) -> FeatureExtractor:
    """The network behind a chapter's FD/KID, labelled by what its numbers may be called.

    ``inception``: pytorch-fid's weights (FID, the sources' protocol; ``ci`` gets random-init Inception,
    labelled smoke); ``toon``: the book's frozen toon classifier (FD-toon, comparable across chapters,
    what the offline ``gpu`` profile can have); ``random``: random-init Inception (smoke) in any profile.
    """
    from toonlab import zoo

    if features not in FEATURES:
        raise ValueError(f"features must be one of {list(FEATURES)}, got {features!r}")
    if features == "toon":
        from toonlab.metrics.toon_features import load_toon_features, toon_extractor

        return toon_extractor(load_toon_features(device=device))
    return inception_extractor(zoo.load("inception", "ci" if features == "random" else profile, device=device,
                                        seed=seed))
