"""Perceptual metrics: SSIM/PSNR match scikit-image; our LPIPS/DISTS equal piq's own classes given the same
weights; missing pretrained weights fail fast; bad inputs fail clearly."""

from __future__ import annotations

import time

import numpy as np
import piq
import pytest
import torch

from toonlab.metrics.checks import MetricInputError
from toonlab.metrics.perceptual import (
    build_dists,
    build_lpips,
    dists,
    is_smoke,
    lpips,
    ms_ssim,
    perceptual_scores,
    psnr,
    ssim,
)


def photos(size: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Two pairs of different, structured images (scikit-image samples) in [0, 1]."""
    import skimage.data
    from skimage.transform import resize

    def tensor(image):
        return torch.from_numpy(resize(image[:, :, :3], (size, size), anti_aliasing=True)).permute(2, 0, 1).float()

    x = torch.stack([tensor(skimage.data.astronaut()), tensor(skimage.data.coffee())])
    y = torch.stack([tensor(skimage.data.chelsea()), tensor(skimage.data.rocket())])
    return x.clamp(0, 1), y.clamp(0, 1)


@pytest.fixture(scope="module")
def lpips_model():
    return build_lpips("ci", seed=0)


@pytest.fixture(scope="module")
def dists_model():
    return build_dists("ci", seed=0)


def test_ssim_and_psnr_match_scikit_image():
    from skimage.metrics import peak_signal_noise_ratio, structural_similarity

    x, y = photos(64)
    ours_ssim, ours_psnr = ssim(x, y), psnr(x, y)
    for i in range(len(x)):
        a, b = x[i].permute(1, 2, 0).numpy(), y[i].permute(1, 2, 0).numpy()
        reference = structural_similarity(a, b, channel_axis=2, gaussian_weights=True, sigma=1.5,
                                          use_sample_covariance=False, data_range=1.0)
        assert ours_ssim[i].item() == pytest.approx(reference, abs=1e-4)
        assert ours_psnr[i].item() == pytest.approx(peak_signal_noise_ratio(a, b, data_range=1.0), abs=1e-3)
    assert ssim(x, x).tolist() == pytest.approx([1.0, 1.0], abs=1e-6)


def test_ms_ssim_needs_161_pixels_and_is_one_on_identical_images():
    x, y = photos(176)
    same = ms_ssim(x, x)
    assert same.tolist() == pytest.approx([1.0, 1.0], abs=1e-5)
    assert (ms_ssim(x, y) < 0.9).all()
    with pytest.raises(MetricInputError, match="161x161"):
        ms_ssim(*photos(64))


def _piq_built(cls, vgg_features, hub_weights, monkeypatch):
    """piq's own constructor, with its two downloads answered from memory (the weights we injected)."""
    import piq.perceptual as perceptual

    class VGG:
        def __init__(self, features):
            self.features = features

    monkeypatch.setattr(perceptual, "vgg16", lambda *args, **kwargs: VGG(vgg_features))
    monkeypatch.setattr(torch.hub, "load_state_dict_from_url", lambda *args, **kwargs: hub_weights)
    return cls(reduction="none")


def test_our_lpips_equals_piqs_lpips_with_the_same_weights(lpips_model, monkeypatch):
    import copy

    reference = _piq_built(piq.LPIPS, copy.deepcopy(lpips_model.model), list(lpips_model.weights), monkeypatch)
    x, y = photos(48)
    assert torch.allclose(lpips(x, y, lpips_model), reference(x, y), rtol=1e-5, atol=1e-7)
    assert lpips(x, x, lpips_model).abs().max() < 1e-6
    assert (lpips(x, y, lpips_model) > 0).all()


def test_our_dists_equals_piqs_dists_with_the_same_weights(dists_model, monkeypatch):
    import copy

    from toonlab.metrics.perceptual import DISTS_CHANNELS, _vgg16_features

    # piq builds DISTS from a max-pooling VGG and swaps in L2 pooling itself; give it the unswapped stack
    features = _vgg16_features()
    swapped = dists_model.model
    for index, layer in enumerate(features):
        if isinstance(layer, torch.nn.Conv2d):
            layer.load_state_dict(copy.deepcopy(swapped[index].state_dict()))
    k = len(DISTS_CHANNELS)
    hub = {"alpha": torch.cat(dists_model.weights[:k], dim=1), "beta": torch.cat(dists_model.weights[k:], dim=1)}
    reference = _piq_built(piq.DISTS, features, hub, monkeypatch)
    x, y = photos(48)
    assert torch.allclose(dists(x, y, dists_model), reference(x, y), rtol=1e-5, atol=1e-7)
    assert dists(x, x, dists_model).abs().max() < 1e-5


def test_ci_networks_are_seeded_and_labelled_smoke():
    a, b = build_lpips("ci", seed=0), build_lpips("ci", seed=1)
    assert is_smoke(a) and not torch.equal(next(a.parameters()), next(b.parameters()))
    assert torch.equal(next(a.parameters()), next(build_lpips("ci", seed=0).parameters()))


@pytest.mark.parametrize("builder", [build_lpips, build_dists])
def test_pretrained_backbones_fail_fast_when_missing(builder, tmp_path, monkeypatch):
    from toonlab.zoo.errors import WeightsMissingError

    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    start = time.perf_counter()
    with pytest.raises(WeightsMissingError, match="place it at"):
        builder("full")
    assert time.perf_counter() - start < 5


def test_pretrained_loader_reads_local_files_safely(tmp_path, monkeypatch):
    """The ``full`` path on stand-in files with the real shapes: VGG16 state dict + piq's LPIPS weights."""
    import torchvision

    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    checkpoints = tmp_path / "hub" / "checkpoints"
    checkpoints.mkdir(parents=True)
    from toonlab.metrics.perceptual import _vgg16_features

    torch.manual_seed(0)
    features = _vgg16_features()
    state = {f"features.{k}": v for k, v in features.state_dict().items()}
    torch.save(state, checkpoints / "vgg16-397923af.pth")
    layer_weights = [torch.rand(1, c, 1, 1) for c in (64, 128, 256, 512, 512)]
    torch.save(layer_weights, checkpoints / "lpips_weights.pt")
    assert torchvision.models.VGG16_Weights.IMAGENET1K_V1.url.endswith("vgg16-397923af.pth")
    model = build_lpips("full")
    assert not is_smoke(model)
    assert torch.equal(model.model[0].weight, features[0].weight)
    assert all(torch.equal(a, b) for a, b in zip(model.weights, layer_weights))


def test_bad_inputs_are_rejected(lpips_model):
    x, y = photos(32)
    with pytest.raises(MetricInputError, match="same shape"):
        ssim(x, y[:1])
    with pytest.raises(MetricInputError, match=r"\(images \+ 1\) / 2"):
        psnr(x * 2 - 1, y)
    with pytest.raises(MetricInputError, match="divide by 255"):
        psnr(x * 255, y * 255)
    with pytest.raises(MetricInputError, match="NaN"):
        lpips(torch.full_like(x, float("nan")), y, lpips_model)
    with pytest.raises(MetricInputError, match="at least 16x16"):
        lpips(x[..., :8, :8], y[..., :8, :8], lpips_model)
    with pytest.raises(MetricInputError, match="empty"):
        ssim(x[:0], y[:0])


def test_perceptual_scores_summarise_what_applies(lpips_model):
    x, y = photos(32)
    scores = perceptual_scores(x, y, lpips_model=lpips_model)
    assert set(scores) == {"ssim", "psnr", "lpips"}  # 32 px: no MS-SSIM; no DISTS model given
    assert np.isfinite(list(scores.values())).all()
