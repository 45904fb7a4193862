"""DISTS-toon / LPIPS-toon: our stage formulas equal piq's DISTS and LPIPS on the same VGG16 weights; on the
toon classifier they are distances (identity, symmetry, order), differentiable losses with a frozen
backbone, labelled as the toon versions, and they reject bad input clearly."""

from __future__ import annotations

import copy

import piq
import pytest
import torch
from piq.functional import L2Pool2d

from test_metrics_perceptual import _piq_built, photos
from toonlab.metrics.checks import MetricInputError
from toonlab.metrics.perceptual import (
    DISTS_CHANNELS,
    _random_vgg16_features,
    _vgg16_features,
    dists,
    lpips,
    perceptual_scores,
)
from toonlab.metrics.perceptual_toon import (
    DISTS_TOON,
    LPIPS_TOON,
    ToonStages,
    build_dists_toon,
    build_lpips_toon,
    build_perceptual_distance,
    toon_classifier_stages,
    uniform_dists_weights,
)
from toonlab.metrics.stage_distances import L2Pool, StageDISTS, StageLPIPS, VGG16Stages
from toonlab.metrics.toon_features import ToonFeaturesError, load_toon_features


@pytest.fixture(scope="module")
def vgg():
    return _random_vgg16_features(torch.Generator().manual_seed(0))


@pytest.fixture(scope="module")
def toon_dists():
    return build_dists_toon()


@pytest.fixture(scope="module")
def toon_lpips():
    return build_lpips_toon()


def avatars_like(n: int = 4, size: int = 64, seed: int = 0) -> torch.Tensor:
    """Smooth structured images in [0, 1] (blurred noise): cheap stand-ins with real spatial structure."""
    generator = torch.Generator().manual_seed(seed)
    coarse = torch.rand(n, 3, size // 8, size // 8, generator=generator)
    return torch.nn.functional.interpolate(coarse, size=(size, size), mode="bicubic").clamp(0, 1)


# ---------------------------------------------------------------------------------------------------
# the formulas, against piq on VGG16


def test_stage_dists_on_vgg16_equals_piq_dists(vgg, monkeypatch):
    generator = torch.Generator().manual_seed(1)
    raw = torch.rand(1, 2 * sum(DISTS_CHANNELS), 1, 1, generator=generator)
    raw = raw / raw.sum()
    alpha, beta = raw.chunk(2, dim=1)
    reference = _piq_built(piq.DISTS, copy.deepcopy(vgg), {"alpha": alpha, "beta": beta}, monkeypatch)
    ours = StageDISTS(VGG16Stages(vgg, l2_pooling=True, weights_id="random VGG16 seed 0"),
                      alpha.split(DISTS_CHANNELS, dim=1), beta.split(DISTS_CHANNELS, dim=1),
                      name="DISTS", label="DISTS (random VGG16)", weights_id="test")
    x, y = photos(48)
    with torch.no_grad():
        expected, got = reference(x, y), ours(x, y)
    assert torch.allclose(got, expected, rtol=1e-5, atol=1e-6), (got, expected)
    assert (got > 0.01).all()  # a real difference, not two zeros agreeing
    assert isinstance(vgg[4], torch.nn.MaxPool2d), "the caller's VGG16 stack must be left unchanged"


def test_stage_lpips_on_vgg16_equals_piq_lpips(vgg, monkeypatch):
    generator = torch.Generator().manual_seed(2)
    weights = [torch.rand(1, c, 1, 1, generator=generator) / c for c in (64, 128, 256, 512, 512)]
    reference = _piq_built(piq.LPIPS, copy.deepcopy(vgg), weights, monkeypatch)
    ours = StageLPIPS(VGG16Stages(vgg, l2_pooling=False, weights_id="random VGG16 seed 0"), weights,
                      name="LPIPS-VGG", label="LPIPS (random VGG16)", weights_id="test")
    x, y = photos(48)
    with torch.no_grad():
        expected, got = reference(x, y), ours(x, y)
    assert torch.allclose(got, expected, rtol=1e-5, atol=1e-7), (got, expected)
    assert (got > 0).all()


def test_l2_pool_is_piqs_and_follows_dtype_and_channels():
    x = torch.rand(2, 5, 9, 9, dtype=torch.float64)
    pool = L2Pool(kernel_size=3, stride=2, padding=1)
    assert torch.equal(pool(x), L2Pool2d(kernel_size=3, stride=2, padding=1)(x))
    assert pool(x.float()).dtype == torch.float32  # piq's cached kernel would raise here
    assert pool(torch.rand(1, 7, 8, 8)).shape == (1, 7, 4, 4)


# ---------------------------------------------------------------------------------------------------
# the toon backbone and weights


def test_toon_stages_are_the_classifier_as_trained():
    model = load_toon_features()
    stages = ToonStages(model)
    images = avatars_like()
    with torch.no_grad():
        maps = stages(images)
        assert torch.allclose(maps[-1].mean(dim=(2, 3)), model(images), atol=1e-5)
    assert stages.channels == tuple(model.config.channels) == tuple(m.shape[1] for m in maps)
    assert [m.shape[-1] for m in maps] == [32, 16, 8, 4]
    pooled = ToonStages(model, l2_pooling=True)
    with torch.no_grad():
        assert [m.shape for m in pooled(images)] == [m.shape for m in maps]  # same grid, smoothed
    assert any(isinstance(m, L2Pool) for m in pooled.modules()) and not any(isinstance(m, L2Pool) for m in stages.modules())


def test_uniform_dists_weights_give_each_stage_an_equal_share():
    alpha, beta = uniform_dists_weights((3, 16, 32, 64, 128))
    shares = [(a.sum() + b.sum()).item() for a, b in zip(alpha, beta)]
    assert shares == pytest.approx([0.2] * 5)
    assert all(torch.equal(a, b) for a, b in zip(alpha, beta))


def test_toon_weights_are_sha256_checked(tmp_path):
    from toonlab.metrics.toon_features import WEIGHTS_FILE
    from toonlab.paths import repo_root

    tampered = tmp_path / "toon_features.safetensors"
    data = bytearray((repo_root() / WEIGHTS_FILE).read_bytes())
    data[-1] ^= 1
    tampered.write_bytes(bytes(data))
    with pytest.raises(ToonFeaturesError, match="sha256"):
        toon_classifier_stages(weights=tampered)


# ---------------------------------------------------------------------------------------------------
# DISTS-toon / LPIPS-toon as distances


@pytest.mark.parametrize("which", ["dists", "lpips"])
def test_toon_distances_identity_symmetry_and_order(which, toon_dists, toon_lpips):
    model, score = (toon_dists, dists) if which == "dists" else (toon_lpips, lpips)
    x, other = avatars_like(seed=0), avatars_like(seed=1)
    noisy = (x + 0.03 * torch.randn(x.shape, generator=torch.Generator().manual_seed(3))).clamp(0, 1)
    assert score(x, x, model).abs().max() < 1e-5
    assert torch.allclose(score(x, other, model), score(other, x, model), atol=1e-6)
    near, far = score(x, noisy, model), score(x, other, model)
    assert (near > 0).all() and (near < far).all()
    # any size works: the backbone resizes to its own 64 px, the input stage is read as given
    assert score(photos(96)[0], photos(96)[1], model).shape == (2,)


@pytest.mark.parametrize("which", ["dists", "lpips"])
def test_toon_distances_are_losses_with_a_frozen_backbone(which, toon_dists, toon_lpips):
    model = toon_dists if which == "dists" else toon_lpips
    model.train()  # a parent module's .train() must not unfreeze BatchNorm statistics
    assert not model.backbone.training
    before = {k: v.clone() for k, v in model.state_dict().items()}
    x = avatars_like(seed=0).requires_grad_(True)
    target = avatars_like(seed=1)
    model(x, target).mean().backward()
    assert x.grad is not None and torch.isfinite(x.grad).all() and x.grad.abs().sum() > 0
    assert all(p.grad is None and not p.requires_grad for p in model.parameters())
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())
    # a few gradient steps on x reduce the distance: the gradient points somewhere useful
    image = avatars_like(seed=0).requires_grad_(True)
    optimizer = torch.optim.Adam([image], lr=0.02)
    start = model(image, target).mean().item()
    for _ in range(10):
        optimizer.zero_grad()
        model(image, target).mean().backward()
        optimizer.step()
    assert model(image, target).mean().item() < 0.9 * start
    model.eval()


def test_dists_toon_is_a_vae_dists_term_under_autocast(toon_dists):
    """Chapter 02's VAE+DISTS term takes any frozen (x_hat, x) -> per-image module: DISTS-toon fits it."""
    from toonlab.features.vae import VAE, VAEConfig
    from toonlab.features.vae_task import vae_losses

    torch.manual_seed(0)
    model = VAE(VAEConfig(image_size=16, widths=(4, 8, 16, 32), latent_dim=16))
    x = torch.rand(2, 3, 16, 16)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        losses = vae_losses(model, x, 0.1, toon_dists)
    assert all(value.dtype == torch.float32 and torch.isfinite(value) for value in losses.values())
    losses["loss"].backward()
    assert model.fc_mu.weight.grad is not None


# ---------------------------------------------------------------------------------------------------
# names, profiles, bad input


def test_labels_name_the_toon_versions(toon_dists, toon_lpips):
    assert (toon_dists.name, toon_lpips.name) == (DISTS_TOON, LPIPS_TOON) == ("DISTS-toon", "LPIPS-toon")
    assert toon_dists.label.startswith("DISTS-toon (") and "uniform per stage" in toon_dists.label
    assert toon_lpips.label.startswith("LPIPS-toon (") and "unit channel weights" in toon_lpips.label
    assert "toon_features sha256:" in toon_dists.toonlab_weights
    x, y = avatars_like(seed=0), avatars_like(seed=1)
    scores = perceptual_scores(x, y, lpips_model=toon_lpips, dists_model=toon_dists)
    assert {"dists-toon", "lpips-toon"} <= set(scores) and not {"dists", "lpips"} & set(scores)


@pytest.mark.parametrize("profile", ["ci", "cpu", "gpu"])
def test_offline_profiles_use_the_toon_distances(profile):
    assert build_perceptual_distance("dists", profile).name == "DISTS-toon"
    assert build_perceptual_distance("lpips", profile).name == "LPIPS-toon"


def test_full_profile_keeps_piqs_vgg16_and_fails_fast_offline(tmp_path, monkeypatch):
    from toonlab.zoo.errors import WeightsMissingError

    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    for kind in ("dists", "lpips"):
        with pytest.raises(WeightsMissingError, match="VGG16|DISTS|LPIPS"):
            build_perceptual_distance(kind, "full")
    with pytest.raises(ValueError, match="unknown profile 'laptop'"):
        build_perceptual_distance("dists", "laptop")
    with pytest.raises(ValueError, match="unknown perceptual distance 'ssim'"):
        build_perceptual_distance("ssim", "ci")
    with pytest.raises(ValueError, match="unknown backbone 'dino'"):
        build_dists_toon(backbone="dino")


def test_bad_inputs_are_rejected(toon_dists, toon_lpips):
    x, y = avatars_like(seed=0), avatars_like(seed=1)
    with pytest.raises(MetricInputError, match=r"\(images \+ 1\) / 2"):
        dists(x * 2 - 1, y, toon_dists)
    with pytest.raises(MetricInputError, match="same shape"):
        lpips(x, y[:2], toon_lpips)
    with pytest.raises(MetricInputError, match="at least 16x16"):
        dists(x[..., :8, :8], y[..., :8, :8], toon_dists)
    # the loss path (no range check: decoders may overshoot [0, 1]) still rejects wrong shapes
    with pytest.raises(MetricInputError, match=r"\(N, 3, H, W\)"):
        toon_dists(x[:, :1], y[:, :1])
    with pytest.raises(MetricInputError, match="same shape"):
        toon_lpips(x, y[..., :32, :32])
    with pytest.raises(ValueError, match="stage 0 has 16 channels but 4 weights"):
        StageLPIPS(toon_lpips.backbone, [torch.ones(4), torch.ones(32), torch.ones(64), torch.ones(128)],
                   name="x", label="x", weights_id="x")


def test_perceptual_loss_maps_generator_range_to_unit_range(toon_lpips):
    from toonlab.metrics.perceptual_toon import perceptual_loss

    x, y = avatars_like(seed=0), avatars_like(seed=1)
    loss = perceptual_loss(toon_lpips)  # images in [-1, 1], as generators emit them
    assert loss(x * 2 - 1, y * 2 - 1).item() == pytest.approx(toon_lpips(x, y).mean().item(), rel=1e-5)
    assert perceptual_loss(toon_lpips, (0.0, 1.0))(x, y).item() == pytest.approx(toon_lpips(x, y).mean().item())
    with pytest.raises(ValueError, match="high > low"):
        perceptual_loss(toon_lpips, (1.0, -1.0))
