"""DISTS-toon and LPIPS-toon: the DISTS and LPIPS formulas over a network trained here.

Offline there are no VGG16 ImageNet weights, so piq's DISTS and LPIPS-VGG cannot be built. What "DISTS"
and "LPIPS" mean in the offline profiles instead:

- **backbone**: the frozen toon classifier (:mod:`toonlab.metrics.toon_features`; committed weights,
  sha256-checked on load), read at the end of each of its four stages (16, 32, 64, 128 channels at 32, 16,
  8, 4 px for its 64-px input). Images are resized to its 64 px first, so detail finer than that is
  invisible to these distances. The backbone is pluggable (:data:`BACKBONES`); ToonCLIP
  (:mod:`toonlab.features.toonclip`) exists but its image tower is not wired in as a DISTS backbone.
- **no L2 pooling inside the toon classifier**: DISTS swaps VGG16's max pooling for L2 pooling (kept for
  VGG16 in :mod:`toonlab.metrics.stage_distances`). The toon classifier has no pooling layers — it
  downsamples with stride-2 convolutions — and the analogous surgery (stride 1, then L2 pooling, same
  sampled grid; ``ToonStages(..., l2_pooling=True)``) pushes its features off what it was trained on:
  measured on 300 held-out avatars (seed 1), its attribute heads fell from 0.571 to 0.354 mean accuracy
  (hair 0.52 -> 0.11), while buying little shift tolerance (distance to the avatar shifted by 2 px over
  distance to another avatar: DISTS-toon 0.18 -> 0.12; pixel MSE 0.26). So the network runs as trained.
- **DISTS-toon weights**: DISTS learned alpha/beta from human quality judgments, which we do not have for toons.
  We use *uniform weights, normalised per stage*: each of the 5 stages (input image + 4 network stages)
  gets 1/5 of the total, split equally between structure and texture and equally among its channels
  (alpha = beta = 1 / (2 * 5 * C_j)). Per stage rather than per channel so the 3-channel input is not
  drowned by the 128-channel stage. Identical images score 0; the similarity terms lie in [-1, 1], so the
  distance lies in [0, 2] and is near [0, 1] in practice.
- **LPIPS-toon weights**: every channel weight 1 — LPIPS's unlearned "baseline" variant (Zhang et al. 2018,
  ``lpips.LPIPS(lpips=False)``): the squared distance of unit-normalised features, averaged over
  space and summed over the 4 stages (range [0, 16]).

Numbers from these are labelled "DISTS-toon" / "LPIPS-toon" everywhere: comparable across this book's
chapters, never with published DISTS or LPIPS values. :func:`build_perceptual_distance` picks by profile:
the toon versions in every offline profile (``ci`` included: the weights are committed, 1.3 MB, and the
network is ~20x cheaper than a random VGG16 — 64 pairs at 64 px on 2 CPU threads: 0.3-0.5 s against
11-12 s — so ``ci`` exercises the very code ``cpu``/``gpu`` run), piq's DISTS / LPIPS-VGG in ``full``.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from pathlib import Path

import torch
from torch import nn

from toonlab.metrics.stage_distances import L2Pool, StageBackbone, StageDISTS, StageLPIPS
from toonlab.metrics.toon_features import ToonNet, load_toon_features
from toonlab.params import PROFILES

DISTS_TOON = "DISTS-toon"
LPIPS_TOON = "LPIPS-toon"
DISTS_TOON_WEIGHTING = "uniform per stage (alpha = beta = 1/(2 * stages * channels)); not DISTS's learned weights"
LPIPS_TOON_WEIGHTING = "unit channel weights (LPIPS's unlearned baseline); not LPIPS's learned weights"
# Profiles that use the toon distances: those where hub weights are out of reach (unlike the zoo's
# OFFLINE_PROFILES, `ci` is included: the toon classifier is committed). "cpu" is listed ahead of params.PROFILES.
TOON_PROFILES = ("ci", "cpu", "gpu")
KINDS = ("dists", "lpips")


class ToonStages(StageBackbone):
    """The toon classifier's body as stages (the output of each stage's last block).

    By default the network runs exactly as trained. ``l2_pooling=True`` runs each stride-2 convolution at
    stride 1 followed by DISTS's L2 pooling (same sampled grid) — measured to degrade the features (module
    docstring), kept for comparison.
    """

    min_size = 16

    def __init__(self, model: ToonNet, l2_pooling: bool = False) -> None:
        super().__init__()
        self.prepare = model.prepare  # resize to the network's resolution, scale to [-1, 1]
        blocks, downsamples = [], []
        for block in model.body:  # each block: Conv2d -> BatchNorm2d -> ReLU
            conv = block[0]
            downsamples.append(conv.stride != (1, 1))
            block = copy.deepcopy(block)
            if l2_pooling and conv.stride != (1, 1):
                # stride-s conv == stride-1 conv sampled every s pixels: sample by L2 pooling instead
                block[0].stride = (1, 1)
                block.append(L2Pool(kernel_size=3, stride=conv.stride[0], padding=1))
            blocks.append(block)
        self.blocks = nn.Sequential(*blocks).requires_grad_(False)
        # a stage ends where the next block downsamples, and at the end
        self.taps = [i for i in range(len(blocks)) if i + 1 == len(blocks) or downsamples[i + 1]]
        self.channels = tuple(blocks[i][0].out_channels for i in self.taps)
        self.weights_id = (f"{getattr(model, 'toonlab_weights', 'untracked toon weights')}, "
                           f"{'L2-pooled' if l2_pooling else 'strided'}")
        self.description = "the toon classifier trained here"
        self.eval()

    def forward(self, images: torch.Tensor) -> list[torch.Tensor]:
        x, stages = self.prepare(images), []
        for index, block in enumerate(self.blocks):
            x = block(x)
            if index in self.taps:
                stages.append(x)
        return stages


def toon_classifier_stages(weights: str | Path | None = None, record: str | Path | None = None) -> ToonStages:
    """The committed toon classifier (sha256-checked by :func:`load_toon_features`) as a stage backbone."""
    return ToonStages(load_toon_features(weights, record))


# name -> () -> StageBackbone. ToonCLIP's image tower is not registered here (it is a ViT: no conv stages).
BACKBONES: dict[str, Callable[[], StageBackbone]] = {"toon_classifier": toon_classifier_stages}


def _backbone(backbone: str | StageBackbone) -> StageBackbone:
    if isinstance(backbone, StageBackbone):
        return backbone
    if backbone not in BACKBONES:
        raise ValueError(f"unknown backbone {backbone!r}; choose one of {sorted(BACKBONES)} or pass a StageBackbone")
    return BACKBONES[backbone]()


def uniform_dists_weights(channels: tuple[int, ...]) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
    """alpha, beta for stages of ``channels`` (stage 0 = the input image): every stage an equal share."""
    share = 1.0 / (2 * len(channels))
    weights = [torch.full((1, c, 1, 1), share / c) for c in channels]
    return weights, [w.clone() for w in weights]


def build_dists_toon(backbone: str | StageBackbone = "toon_classifier",
                     device: str | torch.device = "cpu") -> StageDISTS:
    """DISTS-toon: the DISTS formula on ``backbone`` with uniform per-stage weights."""
    stages = _backbone(backbone)
    alpha, beta = uniform_dists_weights((3, *stages.channels))
    label = f"{DISTS_TOON} (DISTS formula on {getattr(stages, 'description', 'a network trained here')}; " \
            f"{DISTS_TOON_WEIGHTING})"
    model = StageDISTS(stages, alpha, beta, name=DISTS_TOON, label=label,
                       weights_id=f"{DISTS_TOON}: {stages.weights_id}; uniform per-stage weights")
    return model.eval().to(device)


def build_lpips_toon(backbone: str | StageBackbone = "toon_classifier",
                     device: str | torch.device = "cpu") -> StageLPIPS:
    """LPIPS-toon: the LPIPS formula on ``backbone`` with unit channel weights."""
    stages = _backbone(backbone)
    weights = [torch.ones(1, c, 1, 1) for c in stages.channels]
    label = f"{LPIPS_TOON} (LPIPS formula on {getattr(stages, 'description', 'a network trained here')}; " \
            f"{LPIPS_TOON_WEIGHTING})"
    model = StageLPIPS(stages, weights, name=LPIPS_TOON, label=label,
                       weights_id=f"{LPIPS_TOON}: {stages.weights_id}; unit channel weights")
    return model.eval().to(device)


def build_perceptual_distance(kind: str, profile: str, device: str | torch.device = "cpu", seed: int = 0) -> nn.Module:
    """The perceptual distance a profile uses: ``kind`` "dists" or "lpips".

    Offline profiles (``ci``, ``cpu``, ``gpu``): DISTS-toon / LPIPS-toon. ``full``: piq's DISTS / LPIPS-VGG
    on ImageNet VGG16 (fails at once, with download instructions, when the weights are missing). The module
    maps ``(x, y)`` in [0, 1] to one distance per pair, is differentiable (a loss), and carries ``name``,
    ``label`` and ``toonlab_weights`` for tables and provenance. ``seed`` is unused offline (no random
    weights) and kept for :func:`toonlab.metrics.perceptual.build_dists`'s signature.
    """
    if kind not in KINDS:
        raise ValueError(f"unknown perceptual distance {kind!r}; choose one of {list(KINDS)}")
    if profile in TOON_PROFILES:
        return build_dists_toon(device=device) if kind == "dists" else build_lpips_toon(device=device)
    if profile not in PROFILES:
        raise ValueError(f"unknown profile {profile!r}; choose one of {sorted(set(PROFILES) | set(TOON_PROFILES))}")
    from toonlab.metrics.perceptual import build_dists, build_lpips

    return (build_dists if kind == "dists" else build_lpips)(profile, device=device, seed=seed)


def perceptual_loss(model: nn.Module, value_range: tuple[float, float] = (-1.0, 1.0)) -> Callable[[torch.Tensor, torch.Tensor], torch.Tensor]:
    """``(output, target) -> scalar``: the mean distance over the batch, for images in ``value_range``.

    Generators and mappers emit [-1, 1]; the distances read [0, 1]. The map is linear and unclamped, so a
    generator that overshoots still gets a gradient (clamping would zero it exactly where it is needed).
    """
    low, high = value_range
    if not high > low:
        raise ValueError(f"value_range must be (low, high) with high > low, got {value_range}")

    def loss(output: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return model((output - low) / (high - low), (target - low) / (high - low)).mean()

    return loss
