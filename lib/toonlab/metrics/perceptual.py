"""Paired image similarity through piq: LPIPS, DISTS, SSIM, MS-SSIM, PSNR.

(The offline stand-ins DISTS-toon / LPIPS-toon, and the builder that picks per profile, are in
:mod:`toonlab.metrics.perceptual_toon`; the scoring functions below accept either.)

LPIPS and DISTS are piq's own classes (their forward passes untouched); only their weights are supplied
here instead of being downloaded inside the constructor:

- ``full``/``gpu``: torchvision's ImageNet VGG16 (the file piq's ``vgg16(pretrained=True)`` loads) and piq's
  released LPIPS / DISTS layer weights, from the torch hub checkpoints folder, loaded ``weights_only=True``;
  missing files raise :class:`~toonlab.zoo.errors.WeightsMissingError` at once, with the URLs.
- ``ci``: the same VGG16 feature stack randomly initialised (torchvision's He init, fixed seed) and random
  non-negative layer weights — the same code path, labelled smoke.

Every function takes images (N, 3, H, W) in [0, 1] and returns one value per image pair.
"""

from __future__ import annotations

from pathlib import Path

import piq
import torch
import torchvision
from piq.perceptual import IMAGENET_MEAN, IMAGENET_STD, VGG16_LAYERS
from torch import nn

from toonlab.metrics.checks import MetricInputError, check_pair
from toonlab.params import PROFILES

LPIPS_LAYERS = ("relu1_2", "relu2_2", "relu3_3", "relu4_3", "relu5_3")
DISTS_CHANNELS = (3, 64, 128, 256, 512, 512)  # DISTS also compares the input itself (3 channels)
MS_SSIM_MIN_SIZE = 161  # 5 scales of an 11-pixel window: the coarsest scale must still hold one window
SSIM_KERNEL = 11


# ---------------------------------------------------------------------------------------------------
# the networks


class InjectedLPIPS(piq.LPIPS):
    """piq's LPIPS with the VGG16 feature stack and the per-layer linear weights passed in."""

    name, metric_name = "LPIPS-VGG", "lpips"  # display name; key in perceptual_scores

    def __init__(self, vgg_features: nn.Sequential, layer_weights: list[torch.Tensor], weights_id: str) -> None:
        # piq.LPIPS.__init__ would download both; its parent accepts a ready feature extractor.
        piq.ContentLoss.__init__(self, feature_extractor=vgg_features,
                                 layers=[VGG16_LAYERS[name] for name in LPIPS_LAYERS], weights=layer_weights,
                                 replace_pooling=False, distance="mse", reduction="none",
                                 mean=IMAGENET_MEAN, std=IMAGENET_STD, normalize_features=True)
        self.toonlab_weights = weights_id


class InjectedDISTS(piq.DISTS):
    """piq's DISTS with the VGG16 feature stack and its alpha/beta weights passed in."""

    name, metric_name = "DISTS", "dists"

    def __init__(self, vgg_features: nn.Sequential, alpha: torch.Tensor, beta: torch.Tensor, weights_id: str) -> None:
        channels = list(DISTS_CHANNELS)
        layer_weights = [*torch.split(alpha, channels, dim=1), *torch.split(beta, channels, dim=1)]
        # replace_pooling=True makes piq swap max-pooling for DISTS's L2 pooling, as piq.DISTS does.
        piq.ContentLoss.__init__(self, feature_extractor=vgg_features,
                                 layers=[VGG16_LAYERS[name] for name in LPIPS_LAYERS], weights=layer_weights,
                                 replace_pooling=True, reduction="none", mean=IMAGENET_MEAN, std=IMAGENET_STD,
                                 normalize_features=False, allow_layers_weights_mismatch=True)
        self.toonlab_weights = weights_id


def _vgg16_features() -> nn.Sequential:
    """torchvision's VGG16 convolutional stack alone (the 120M-parameter classifier is never built)."""
    from torchvision.models.vgg import cfgs, make_layers

    return make_layers(cfgs["D"], batch_norm=False)


def _random_vgg16_features(generator: torch.Generator) -> nn.Sequential:
    features = _vgg16_features()
    with torch.no_grad():
        for module in features.modules():
            if isinstance(module, nn.Conv2d):  # torchvision's VGG init
                nn.init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu", generator=generator)
                nn.init.zeros_(module.bias)
    return features


def _hub_checkpoint(url: str, what: str) -> Path:
    from toonlab.zoo.hub import url_file

    target = Path(torch.hub.get_dir()) / "checkpoints" / Path(url).name
    return url_file(url, target, what=what)


def _pretrained_vgg16_features() -> nn.Sequential:
    path = _hub_checkpoint(torchvision.models.VGG16_Weights.IMAGENET1K_V1.url, "VGG16 (ImageNet) for LPIPS/DISTS")
    state = torch.load(path, map_location="cpu", weights_only=True)
    features = _vgg16_features()
    features.load_state_dict({key.removeprefix("features."): value for key, value in state.items()
                              if key.startswith("features.")})
    return features


def _check_profile(profile: str) -> None:
    if profile not in PROFILES:
        raise ValueError(f"unknown profile {profile!r}; choose one of {list(PROFILES)}")


def build_lpips(profile: str, device: str | torch.device = "cpu", seed: int = 0) -> InjectedLPIPS:
    """LPIPS (VGG16, piq's weights) for ``full``/``gpu``; the same network with random weights in ``ci``."""
    _check_profile(profile)
    if profile == "ci":
        generator = torch.Generator().manual_seed(seed)
        features = _random_vgg16_features(generator)
        channels = [64, 128, 256, 512, 512]
        layer_weights = [torch.rand(1, c, 1, 1, generator=generator) / c for c in channels]
        model = InjectedLPIPS(features, layer_weights, f"random VGG16 + random LPIPS weights seed={seed}")
    else:
        layer_weights = torch.load(_hub_checkpoint(piq.LPIPS._weights_url, "LPIPS layer weights (piq)"),
                                   map_location="cpu", weights_only=True)
        model = InjectedLPIPS(_pretrained_vgg16_features(), list(layer_weights), "VGG16 ImageNet + LPIPS v0.1 (piq)")
    return model.eval().to(device)


def build_dists(profile: str, device: str | torch.device = "cpu", seed: int = 0) -> InjectedDISTS:
    """DISTS (VGG16, piq's weights) for ``full``/``gpu``; random weights of the same shapes in ``ci``."""
    _check_profile(profile)
    if profile == "ci":
        generator = torch.Generator().manual_seed(seed)
        features = _random_vgg16_features(generator)
        total = sum(DISTS_CHANNELS)
        raw = torch.rand(1, 2 * total, 1, 1, generator=generator)
        raw = raw / raw.sum()  # DISTS constrains alpha and beta to sum to 1 together
        model = InjectedDISTS(features, raw[:, :total], raw[:, total:],
                              f"random VGG16 + random DISTS weights seed={seed}")
    else:
        weights = torch.load(_hub_checkpoint(piq.DISTS._weights_url, "DISTS weights (piq)"), map_location="cpu",
                             weights_only=True)
        model = InjectedDISTS(_pretrained_vgg16_features(), weights["alpha"], weights["beta"],
                              "VGG16 ImageNet + DISTS (piq)")
    return model.eval().to(device)


def is_smoke(model: nn.Module) -> bool:
    """True for the randomly initialised ``ci`` networks: their numbers are smoke numbers."""
    return str(getattr(model, "toonlab_weights", "random")).startswith("random")


# ---------------------------------------------------------------------------------------------------
# the metrics (one value per image pair)


def _to_model_device(model: nn.Module, *tensors: torch.Tensor) -> list[torch.Tensor]:
    device = next(model.parameters()).device
    return [tensor.to(device) for tensor in tensors]


@torch.inference_mode()
def lpips(x: torch.Tensor, y: torch.Tensor, model: nn.Module) -> torch.Tensor:
    """LPIPS distance per pair (lower = more similar): piq's LPIPS-VGG, or LPIPS-toon
    (:func:`toonlab.metrics.perceptual_toon.build_lpips_toon`) — ``model.name`` says which."""
    check_pair(x, y, min_size=16)  # VGG16's four pooling layers need at least 16 pixels
    return model(*_to_model_device(model, x, y)).cpu()


@torch.inference_mode()
def dists(x: torch.Tensor, y: torch.Tensor, model: nn.Module) -> torch.Tensor:
    """DISTS distance per pair (1 - similarity; lower = more similar): piq's DISTS, or DISTS-toon
    (:func:`toonlab.metrics.perceptual_toon.build_dists_toon`) — ``model.name`` says which."""
    check_pair(x, y, min_size=16)
    return model(*_to_model_device(model, x, y)).cpu()


def ssim(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """SSIM per pair (Gaussian window 11, sigma 1.5, data range 1; piq's default downsampling of large images)."""
    check_pair(x, y, min_size=SSIM_KERNEL)
    return piq.ssim(x, y, data_range=1.0, reduction="none")


def ms_ssim(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Multi-scale SSIM per pair (5 scales, piq's default scale weights)."""
    check_pair(x, y)
    if min(x.shape[-2:]) < MS_SSIM_MIN_SIZE:
        raise MetricInputError(f"MS-SSIM needs images of at least {MS_SSIM_MIN_SIZE}x{MS_SSIM_MIN_SIZE} pixels "
                               f"(5 scales of an 11-pixel window); got {tuple(x.shape[-2:])}. Upsample them or "
                               f"report SSIM instead")
    return piq.multi_scale_ssim(x, y, data_range=1.0, reduction="none")


def psnr(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """PSNR in dB per pair over all three channels (data range 1)."""
    check_pair(x, y)
    return piq.psnr(x, y, data_range=1.0, reduction="none")


def perceptual_scores(x: torch.Tensor, y: torch.Tensor, lpips_model: nn.Module | None = None,
                      dists_model: nn.Module | None = None) -> dict[str, float]:
    """Mean of each metric over the pairs; MS-SSIM only where the images are large enough.

    The LPIPS / DISTS keys are the models' ``metric_name``: "lpips" / "dists" for piq's VGG16 networks,
    "lpips-toon" / "dists-toon" for the offline ones, so a table can never mix them up.
    """
    check_pair(x, y)
    scores = {"ssim": float(ssim(x, y).mean()), "psnr": float(psnr(x, y).mean())}
    if min(x.shape[-2:]) >= MS_SSIM_MIN_SIZE:
        scores["ms_ssim"] = float(ms_ssim(x, y).mean())
    if lpips_model is not None:
        scores[lpips_model.metric_name] = float(lpips(x, y, lpips_model).mean())
    if dists_model is not None:
        scores[dists_model.metric_name] = float(dists(x, y, dists_model).mean())
    return scores
