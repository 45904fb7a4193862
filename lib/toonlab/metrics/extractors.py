"""Feature extractors for the distribution metrics, and the name each one's distance may be printed under.

The same Fréchet-distance code serves three extractors, and the number means different things with each:

- pytorch-fid's InceptionV3 with the real FID weights -> "FID": comparable with the literature;
- the same network randomly initialised (``ci``) -> "random-feature FD (smoke, not comparable)";
- the book's own toon classifier (``gpu``) -> "FD-toon": comparable across this book's chapters only.

A :class:`~toonlab.metrics.feature_extractor.FeatureExtractor` carries that label with the model, so a metric
can never print "FID" for a number that came from random features.
"""

from __future__ import annotations

import torch
from torch import nn

from toonlab.metrics.feature_extractor import FeatureExtractor


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
