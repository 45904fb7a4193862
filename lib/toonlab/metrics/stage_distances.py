"""The DISTS and LPIPS formulas over any feature network seen as a list of stages.

A *stage backbone* maps images in [0, 1] to a list of feature maps ``(N, C_j, H_j, W_j)``, one per stage.
:class:`StageDISTS` and :class:`StageLPIPS` apply the published formulas to those maps:

- DISTS (Ding et al. 2020): the input image is stage 0; per stage and channel a structure term on the
  spatial means, ``(2 mu_x mu_y + c) / (mu_x^2 + mu_y^2 + c)``, and a texture term on the (co)variances,
  ``(2 cov_xy + c) / (var_x + var_y + c)``, weighted by ``alpha`` / ``beta`` and summed; the distance is
  ``1 - similarity``. DISTS's VGG16 downsamples by L2 pooling (:class:`L2Pool`) instead of max pooling.
- LPIPS (Zhang et al. 2018): features unit-normalised along channels, squared difference, per-channel
  weights, spatial mean, summed over channels and stages.

Why not piq's classes directly: ``piq.DISTS`` / ``piq.LPIPS`` hard-wire VGG16 — they walk a flat
``nn.Sequential`` by child name, normalise with ImageNet statistics and download their layer weights in the
constructor. The book's offline backbones (the toon classifier now, a ToonCLIP image tower later) are
nested modules with their own input scaling, so the two formulas (a dozen lines each) are written here
against a list of stages, and pinned to piq by parity tests on a VGG16 backbone (tests/test_metrics_toon_perceptual.py).

Modules here are losses as well as metrics: differentiable with respect to both images, backbone frozen,
no range check in ``forward`` (a VAE decoder's unbounded output is a legitimate loss input, as with piq);
scoring functions check their inputs with :mod:`toonlab.metrics.checks` before calling them.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence

import torch
from piq.functional import L2Pool2d, similarity_map
from piq.perceptual import IMAGENET_MEAN, IMAGENET_STD, VGG16_LAYERS
from torch import nn

from toonlab.metrics.checks import MetricInputError

DISTS_EPS = 1e-6  # DISTS's c1 = c2 (the reference code and piq)
LPIPS_EPS = 1e-10  # guards the channel normalisation of an all-zero feature vector (piq, lpips)


class L2Pool(L2Pool2d):
    """DISTS's L2 pooling: sqrt of a 3x3 Hann-weighted mean of squares, stride 2 (piq's arithmetic).

    piq caches its kernel on the first call's device and dtype; this rebuilds it when either changes, so a
    backbone built on the CPU still works after ``.to("cuda")`` or under autocast.
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        kernel = self.kernel
        if kernel is not None and (kernel.device != x.device or kernel.dtype != x.dtype or len(kernel) != x.shape[1]):
            self.kernel = None
        return super().forward(x)


class StageBackbone(nn.Module):
    """A frozen feature network as stages. Subclasses set ``channels`` (per stage), ``weights_id`` (what
    weights, for provenance), ``min_size`` (smallest input side) and implement ``forward``."""

    channels: tuple[int, ...]
    weights_id: str
    min_size: int = 16

    def forward(self, images: torch.Tensor) -> list[torch.Tensor]:  # pragma: no cover - abstract
        raise NotImplementedError

    def train(self, mode: bool = True) -> StageBackbone:
        # Frozen for good: a parent's .train() must not switch BatchNorm to batch statistics.
        return super().train(False)


class VGG16Stages(StageBackbone):
    """torchvision's VGG16 convolutional stack, read at relu1_2 … relu5_3 on ImageNet-normalised input.

    ``l2_pooling``: max pooling swapped for DISTS's L2 pooling (what DISTS does to VGG16; LPIPS keeps it).
    The stack is copied, so the caller's module is left as it was.
    """

    LAYERS = ("relu1_2", "relu2_2", "relu3_3", "relu4_3", "relu5_3")

    def __init__(self, features: nn.Sequential, l2_pooling: bool, weights_id: str) -> None:
        super().__init__()
        layers = copy.deepcopy(features)
        if l2_pooling:
            for index, layer in enumerate(layers):
                if isinstance(layer, nn.MaxPool2d):
                    layers[index] = L2Pool(kernel_size=3, stride=2, padding=1)
        self.layers = layers.requires_grad_(False)
        self.taps = {int(VGG16_LAYERS[name]) for name in self.LAYERS}
        self.register_buffer("mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1), persistent=False)
        self.channels = (64, 128, 256, 512, 512)
        self.weights_id = weights_id
        self.eval()

    def forward(self, images: torch.Tensor) -> list[torch.Tensor]:
        x, stages = (images - self.mean) / self.std, []
        for index, layer in enumerate(self.layers):
            x = layer(x)
            if index in self.taps:
                stages.append(x)
            if len(stages) == len(self.taps):
                break  # nothing after relu5_3 is read
        return stages


def _check_same_shape(x: torch.Tensor, y: torch.Tensor, backbone: StageBackbone) -> None:
    """Shape checks cheap enough for every loss call (value checks are the scoring functions' job)."""
    for name, images in (("x", x), ("y", y)):
        if images.ndim != 4 or images.shape[1] != 3:
            raise MetricInputError(f"{name} must have shape (N, 3, H, W), got {tuple(images.shape)}")
    if x.shape != y.shape:
        raise MetricInputError(f"x {tuple(x.shape)} and y {tuple(y.shape)} must have the same shape: "
                               f"the distance compares image i with image i")
    if min(x.shape[-2:]) < backbone.min_size:
        raise MetricInputError(f"images are {tuple(x.shape[-2:])} pixels; this backbone needs at least "
                               f"{backbone.min_size}x{backbone.min_size} (resize them first)")


def _per_channel(weights: Sequence[torch.Tensor | float], channels: Sequence[int], what: str) -> list[torch.Tensor]:
    if len(weights) != len(channels):
        raise ValueError(f"{what}: {len(weights)} weight tensors for {len(channels)} stages")
    out = []
    for j, (w, c) in enumerate(zip(weights, channels)):
        w = torch.as_tensor(w, dtype=torch.float32).reshape(-1)
        if w.numel() != c:
            raise ValueError(f"{what}: stage {j} has {c} channels but {w.numel()} weights")
        if (w < 0).any() or not torch.isfinite(w).all():
            raise ValueError(f"{what}: stage {j} weights must be finite and non-negative")
        out.append(w.view(1, c))
    return out


class StageDISTS(nn.Module):
    """DISTS over a stage backbone: ``forward(x, y)`` gives ``1 - similarity`` per image pair (N,).

    ``alpha`` / ``beta``: per stage *including the input image as stage 0*, one non-negative weight per
    channel (structure / texture). The distance is 0 for identical images when they sum to 1 over all
    stages, as DISTS constrains them.
    """

    def __init__(self, backbone: StageBackbone, alpha: Sequence[torch.Tensor], beta: Sequence[torch.Tensor],
                 name: str, label: str, weights_id: str) -> None:
        super().__init__()
        self.backbone = backbone.requires_grad_(False)
        channels = (3, *backbone.channels)
        self.register_buffer("alpha", torch.cat(_per_channel(alpha, channels, "alpha"), dim=1))
        self.register_buffer("beta", torch.cat(_per_channel(beta, channels, "beta"), dim=1))
        self.name, self.metric_name, self.label = name, name.lower(), label
        self.toonlab_weights = weights_id

    def stages(self, images: torch.Tensor) -> list[torch.Tensor]:
        return [images, *self.backbone(images)]

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        _check_same_shape(x, y, self.backbone)
        # one backbone pass for both batches; the backbone is in eval mode, so images do not interact
        both = self.stages(torch.cat([x, y]))
        structure, texture = [], []
        for features in both:
            fx, fy = features.float().chunk(2)
            mean_x, mean_y = fx.mean(dim=(2, 3)), fy.mean(dim=(2, 3))
            var_x = ((fx - mean_x[..., None, None]) ** 2).mean(dim=(2, 3))
            var_y = ((fy - mean_y[..., None, None]) ** 2).mean(dim=(2, 3))
            cov = (fx * fy).mean(dim=(2, 3)) - mean_x * mean_y
            structure.append(similarity_map(mean_x, mean_y, constant=DISTS_EPS))
            texture.append((2 * cov + DISTS_EPS) / (var_x + var_y + DISTS_EPS))
        similarity = ((torch.cat(structure, dim=1) * self.alpha).sum(dim=1)
                      + (torch.cat(texture, dim=1) * self.beta).sum(dim=1))
        return 1 - similarity


class StageLPIPS(nn.Module):
    """LPIPS over a stage backbone: ``forward(x, y)`` gives the distance per image pair (N,).

    ``weights``: per stage, one non-negative weight per channel (LPIPS's "lin" layers).
    """

    def __init__(self, backbone: StageBackbone, weights: Sequence[torch.Tensor], name: str, label: str,
                 weights_id: str) -> None:
        super().__init__()
        self.backbone = backbone.requires_grad_(False)
        self.register_buffer("weights", torch.cat(_per_channel(weights, backbone.channels, "LPIPS weights"), dim=1))
        self.split = list(backbone.channels)
        self.name, self.metric_name, self.label = name, name.lower(), label
        self.toonlab_weights = weights_id

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        _check_same_shape(x, y, self.backbone)
        total = x.new_zeros(x.shape[0], dtype=torch.float32)
        for features, w in zip(self.backbone(torch.cat([x, y])), self.weights.split(self.split, dim=1)):
            features = features.float()
            unit = features / (features.pow(2).sum(dim=1, keepdim=True).sqrt() + LPIPS_EPS)
            fx, fy = unit.chunk(2)
            total = total + ((fx - fy) ** 2 * w[..., None, None]).sum(dim=1).mean(dim=(1, 2))
        return total
