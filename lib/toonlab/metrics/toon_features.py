"""Toon features: the book's own small, frozen feature extractor for the offline ``gpu`` profile.

Where no pretrained Inception or CLIP can be had, FID and CLIP scores are impossible. This module supplies
the substitute the issue asks for: a small CNN trained here, with a fixed seed, on the labelled offline
image sets (emoji categories; avatar attributes) by ``python -m toonlab.metrics.train_toon_features``,
then frozen and committed (``data/weights/toon_features.safetensors``, < 5 MB; its sha256 and held-out
accuracy in ``toon_features.json``), so every run uses the very same network.

- its 128-d penultimate features give **FD-toon** and **KID-toon** (the FID/KID formulas on these
  features): comparable across this book's chapters, never with published FIDs. 128 dimensions also keep
  the covariance well estimated from a few hundred images, where Inception's 2048 need thousands;
- its heads give **attribute accuracy** of generated or edited avatars (does the "glasses" edit produce
  glasses?), for the inversion and editing chapters.

Loading checks the file against its sha256 in ``data/registry.yaml`` (``weights: toon_features``), so a changed
file can never silently change numbers.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from toonlab.data.manifest import sha256_file
from toonlab.metrics.checks import MetricInputError, check_images
from toonlab.metrics.feature_extractor import FeatureExtractor

WEIGHTS_FILE = "data/weights/toon_features.safetensors"
RECORD_FILE = "data/weights/toon_features.json"
EMOJI_HEAD = "emoji_category"
# Avatar parts the heads predict: what the editing chapters change (mouth/expression, glasses, hair,
# skin, facial hair) plus the parts that make a face distinct (eyes, eyebrows, clothing).
AVATAR_ATTRIBUTES = ("mouth", "eyes", "eyebrows", "glasses", "facial_hair", "skin", "hair", "hair_color",
                     "clothing", "clothing_color")
IGNORE = -1  # target value for "this head does not apply to this image" (emoji have no mouth label)


class ToonFeaturesError(RuntimeError):
    """The committed toon-feature weights are missing or do not match their record."""


@dataclass
class ToonConfig:
    """Architecture and label spaces of the toon classifier (stored inside the safetensors file)."""

    resolution: int = 64  # every input is resized to this (bilinear, antialiased) before the network
    channels: tuple[int, ...] = (16, 32, 64, 128)
    heads: dict[str, list[str]] = field(default_factory=dict)  # head name -> class names

    @property
    def feature_dim(self) -> int:
        return self.channels[-1]

    @classmethod
    def from_dict(cls, values: Mapping[str, Any]) -> ToonConfig:
        missing = sorted({"resolution", "channels", "heads"} - set(values))
        if missing:
            raise ToonFeaturesError(f"toon-feature config lacks {missing}: the weights file is from another "
                                    f"version of this module; retrain with "
                                    f"`python -m toonlab.metrics.train_toon_features`")
        return cls(resolution=int(values["resolution"]), channels=tuple(values["channels"]),
                   heads={name: list(classes) for name, classes in values["heads"].items()})

    def to_dict(self) -> dict[str, Any]:
        values = asdict(self)
        values["channels"] = list(self.channels)
        return values


def _conv_block(c_in: int, c_out: int, stride: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(c_in, c_out, 3, stride=stride, padding=1, bias=False), nn.BatchNorm2d(c_out),
                         nn.ReLU(inplace=True))


class ToonNet(nn.Module):
    """A small VGG-style CNN: a stride-2 stem, then per stage a stride-2 and a stride-1 block; global
    average pooling. (A stride-1 stem, tried for the small mouths and eyes, trained worse in the same time.)

    ``forward`` gives the penultimate features (what FD-toon compares); ``logits`` adds one linear head per
    label space. Kept small on purpose (~0.3M parameters, 128-d features): it must train in minutes on
    two CPU cores and ship in the repository.
    """

    def __init__(self, config: ToonConfig) -> None:
        super().__init__()
        if not config.heads:
            raise ValueError("ToonConfig.heads is empty: the classifier needs at least one label space")
        self.config = config
        layers, c_in = [], 3
        for index, c_out in enumerate(config.channels):
            layers += [_conv_block(c_in, c_out, stride=2)]
            if index > 0:  # a second, stride-1 block deepens every stage but the stem
                layers += [_conv_block(c_out, c_out, stride=1)]
            c_in = c_out
        self.body = nn.Sequential(*layers)
        self.heads = nn.ModuleDict({name: nn.Linear(config.feature_dim, len(classes))
                                    for name, classes in config.heads.items()})

    def prepare(self, images: torch.Tensor) -> torch.Tensor:
        """[0, 1] images of any size -> the network's input: resized to ``resolution``, scaled to [-1, 1]."""
        size = self.config.resolution
        if images.shape[-2:] != (size, size):
            images = F.interpolate(images, size=(size, size), mode="bilinear", align_corners=False, antialias=True)
        return images * 2.0 - 1.0

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.body(self.prepare(images)).mean(dim=(2, 3))

    def logits(self, images: torch.Tensor) -> dict[str, torch.Tensor]:
        features = self(images)
        return {name: head(features) for name, head in self.heads.items()}


# ---------------------------------------------------------------------------------------------------
# the frozen, committed network


def read_record(path: str | Path | None = None) -> dict[str, Any]:
    """The committed record: sha256 of the weights, held-out accuracy, how it was trained."""
    from toonlab.paths import repo_root

    path = Path(path) if path is not None else repo_root() / RECORD_FILE
    if not path.is_file():
        raise ToonFeaturesError(f"{path} is missing; it ships with the repository (or rerun "
                                f"`python -m toonlab.metrics.train_toon_features`)")
    return json.loads(path.read_text())


def heldout_table(record: str | Path | None = None, margin: float = 0.1):
    """The classifier's held-out accuracy per head beside chance (the majority class), from its record.

    ``usable``: at least ``margin`` above chance. Heads below that are kept in the network (they shape
    the shared features) but say nothing as attribute accuracies, so the chapters should not report them.
    """
    import pandas as pd

    rows = [{"head": head, "held-out accuracy": v["accuracy"], "chance (majority class)": v["chance (majority class)"],
             "images": v["images"], "usable": v["accuracy"] - v["chance (majority class)"] >= margin}
            for head, v in sorted(read_record(record)["heldout_accuracy"].items())]
    return pd.DataFrame(rows)


def load_toon_features(weights: str | Path | None = None, record: str | Path | None = None,
                       device: str | torch.device = "cpu") -> ToonNet:
    """The frozen toon classifier, after checking its file against the recorded sha256."""
    from toonlab.paths import repo_root
    from toonlab.train.checkpoint import load_weights

    path = Path(weights) if weights is not None else repo_root() / WEIGHTS_FILE
    if not path.is_file():
        raise ToonFeaturesError(f"toon-feature weights {path} are missing; they ship with the repository. "
                                f"Rebuild them with `python -m toonlab.metrics.train_toon_features`")
    # the registry holds the sha256 of the committed file; a file passed explicitly (a fresh training run)
    # is checked against the record written beside it
    if weights is None and record is None:
        from toonlab.data.registry import weights_spec

        expected, source = weights_spec("toon_features").sha256, "data/registry.yaml (weights: toon_features)"
    else:
        expected, source = read_record(record)["sha256"], "its record"
    actual = sha256_file(path)
    if actual != expected:
        raise ToonFeaturesError(f"{path} has sha256 {actual[:16]}…, but {source} says {expected[:16]}…: the "
                                f"weights changed, so FD-toon numbers would not be comparable. Restore the file "
                                f"(git checkout {WEIGHTS_FILE}) or retrain and commit both files together")
    state, config = load_weights(path)
    model = ToonNet(ToonConfig.from_dict(config))
    model.load_state_dict(state)
    model.toonlab_weights = f"toon_features sha256:{actual[:12]}"
    return model.eval().requires_grad_(False).to(device)


def toon_extractor(model: ToonNet) -> FeatureExtractor:
    """FD-toon / KID-toon through :func:`toonlab.metrics.fid.distribution_distance`."""
    weights = getattr(model, "toonlab_weights", "untracked toon weights")
    return FeatureExtractor(
        model=model.eval(), name=f"toon features ({model.config.feature_dim}-d, trained here)", weights=weights,
        distance_name="FD-toon", kid_name="KID-toon",
        comparable_to="this book's chapters only (a classifier trained here, not Inception)",
        forward=lambda network, images: network(images),
    )


# ---------------------------------------------------------------------------------------------------
# attribute accuracy


@torch.inference_mode()
def predict(model: ToonNet, images: torch.Tensor, heads: Sequence[str] | None = None,
            batch_size: int = 256) -> dict[str, list[str]]:
    """The predicted class name of each image for each head (default: every head)."""
    check_images(images)
    heads = list(heads) if heads is not None else list(model.config.heads)
    unknown = [name for name in heads if name not in model.config.heads]
    if unknown:
        raise MetricInputError(f"unknown heads {unknown}; the classifier has {sorted(model.config.heads)}")
    device = next(model.parameters()).device
    indices: dict[str, list[int]] = {name: [] for name in heads}
    for start in range(0, len(images), batch_size):
        logits = model.logits(images[start:start + batch_size].to(device))
        for name in heads:
            indices[name] += logits[name].argmax(dim=1).tolist()
    return {name: [model.config.heads[name][i] for i in indices[name]] for name in heads}


def attribute_accuracy(model: ToonNet, images: torch.Tensor, targets: Mapping[str, Sequence[str]]) -> dict[str, float]:
    """Fraction of images whose predicted class equals the target, per head.

    ``targets`` maps a head to one class name per image, e.g. ``{"glasses": ["ROUND"] * n}`` for images
    edited to wear round glasses. Target names must be classes the head knows.
    """
    for name, wanted in targets.items():
        if name not in model.config.heads:
            raise MetricInputError(f"unknown head {name!r}; the classifier has {sorted(model.config.heads)}")
        if len(wanted) != len(images):
            raise MetricInputError(f"{len(images)} images but {len(wanted)} {name!r} targets; give one per image")
        unknown = sorted(set(wanted) - set(model.config.heads[name]))
        if unknown:
            raise MetricInputError(f"{name!r} targets {unknown[:5]} are not classes of that head: "
                                   f"{model.config.heads[name]}")
    predictions = predict(model, images, heads=list(targets))
    return {name: sum(p == t for p, t in zip(predictions[name], wanted)) / len(wanted)
            for name, wanted in targets.items()}
