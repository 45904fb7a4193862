"""Feature extractors: shape, determinism, cache hit, cache keys and resume after a failure mid-run."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from toonlab.features import FeatureExtractor, cache_key, dataset_digest, extract
from toonlab.features.clip import ClipExtractor, clip_extractor
from toonlab.features.vae import VAE, VAEConfig, VAEExtractor

TINY_VAE = VAEConfig(image_size=32, widths=(8, 16, 32, 64), latent_dim=16)


class FakeImages:
    """An ImageDataset stand-in: images, labels and per-image sha256s (what cache keys are made of)."""

    def __init__(self, n: int = 10, size: int = 32, seed: int = 0) -> None:
        generator = torch.Generator().manual_seed(seed)
        self.images = torch.rand(n, 3, size, size, generator=generator)
        self.labels = [i % 3 for i in range(n)]
        self.sha256 = [f"{seed:02d}{i:062d}" for i in range(n)]

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, i: int):
        return self.images[i], self.labels[i]


class CountingExtractor(FeatureExtractor):
    """Mean colour per image; counts calls and can fail on a chosen call (fault injection)."""

    dim = 3

    def __init__(self, fail_on_call: int | None = None) -> None:
        self.id = "counting-mean-rgb"
        self.calls = 0
        self.fail_on_call = fail_on_call

    def __call__(self, images: torch.Tensor) -> torch.Tensor:
        self.calls += 1
        if self.calls == self.fail_on_call:
            raise RuntimeError("injected failure")
        return images.mean(dim=(2, 3))


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("TOONLAB_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache"


def test_clip_extractor_shape_and_determinism():
    extractor = clip_extractor("clip", "ci")
    images = torch.rand(5, 3, 80, 80, generator=torch.Generator().manual_seed(0))
    features = extract(extractor, images, batch_size=2, cache=False)
    assert features.shape == (5, extractor.dim) and features.dtype == np.float32
    again = extract(clip_extractor("clip", "ci"), images, batch_size=5, cache=False)
    np.testing.assert_allclose(features, again, rtol=1e-5, atol=1e-6)  # batch size must not matter
    assert "tiny random" in extractor.weights_label()


def test_clip_preprocess_matches_open_clip_normalisation():
    extractor = clip_extractor("clip", "ci")
    images = torch.rand(2, 3, extractor.size, extractor.size)
    direct = extractor.model.encode_image((images - extractor.mean) / extractor.std)
    np.testing.assert_allclose(extractor(images).numpy(), direct.detach().numpy(), rtol=1e-5, atol=1e-6)


def test_clip_extractor_cache_hit(cache):
    dataset = FakeImages(6)
    extractor = clip_extractor("clip", "ci")
    first = extract(extractor, dataset, batch_size=4)
    calls = []
    original = extractor.model.encode_image
    extractor.model.encode_image = lambda x: calls.append(1) or original(x)
    second = extract(extractor, dataset, batch_size=4)
    assert calls == []  # served from the cache
    np.testing.assert_array_equal(first, second)
    assert len(list(cache.glob("features/*/features.npy"))) == 1


def test_cache_key_follows_data_extractor_and_manifest():
    a, b = FakeImages(6, seed=0), FakeImages(6, seed=1)
    assert dataset_digest(a) == dataset_digest(FakeImages(6, seed=0))
    assert dataset_digest(a) != dataset_digest(b)
    assert cache_key(a, "x", manifest="m1") != cache_key(a, "y", manifest="m1")
    assert cache_key(a, "x", manifest="m1") != cache_key(a, "x", manifest="m2")
    assert cache_key(a, "x", manifest="m1") != cache_key(b, "x", manifest="m1")
    with pytest.raises(TypeError, match="ImageDataset"):
        dataset_digest([1, 2])


def test_resume_after_failure_keeps_finished_chunks(cache):
    dataset = FakeImages(10)
    failing = CountingExtractor(fail_on_call=3)  # chunks of 4 at batch 2: the 2nd chunk fails half-way
    with pytest.raises(RuntimeError, match="injected"):
        extract(failing, dataset, batch_size=2, chunk_size=4)
    assert not list(cache.glob("features/*/features.npy"))  # nothing half-written
    assert len(list(cache.glob("features/*/shard-*.npy"))) == 1
    resumed = CountingExtractor()
    features = extract(resumed, dataset, batch_size=2, chunk_size=4)
    assert resumed.calls == 3  # chunk 2 (two batches) and chunk 3 (one batch), not chunk 1 again
    np.testing.assert_allclose(features, dataset.images.mean(dim=(2, 3)).numpy(), rtol=1e-6)
    assert not list(cache.glob("features/*/shard-*.npy"))  # shards cleaned after the final write


def test_extract_rejects_bad_images():
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        extract(CountingExtractor(), torch.rand(2, 3, 8, 8) * 255, cache=False)
    with pytest.raises(ValueError, match="N, 3, H, W"):
        extract(CountingExtractor(), torch.rand(2, 8, 8), cache=False)


def test_vae_shapes_and_extractor(cache):
    torch.manual_seed(0)
    model = VAE(TINY_VAE)
    x = torch.rand(3, 3, 32, 32)
    x_hat, z, mu, log_var = model(x)
    assert x_hat.shape == x.shape and z.shape == mu.shape == log_var.shape == (3, 16)
    for features, dim in (("mu", 16), ("encoder", 64)):
        extractor = VAEExtractor(model, "tiny vae", features=features)
        dataset = FakeImages(5)
        out = extract(extractor, dataset, batch_size=2)
        assert out.shape == (5, dim)
        np.testing.assert_array_equal(out, extract(extractor, dataset, batch_size=2))
    # eval mode: features do not depend on the batch they come in (BatchNorm uses running stats)
    extractor = VAEExtractor(model, "tiny vae")
    np.testing.assert_allclose(extractor(x[:1]).numpy(), extractor(x)[:1].numpy(), rtol=1e-5, atol=1e-6)


def test_vae_extractor_id_follows_weights():
    torch.manual_seed(0)
    a = VAE(TINY_VAE)
    torch.manual_seed(1)
    b = VAE(TINY_VAE)
    assert VAEExtractor(a, "v").id != VAEExtractor(b, "v").id
    with pytest.raises(ValueError, match="resolution=32"):
        VAEExtractor(a, "v")(torch.rand(1, 3, 48, 48))


def test_vae_config_checks():
    with pytest.raises(ValueError, match="divisible"):
        VAEConfig(image_size=30)
    assert VAEConfig().enc_out_dim == 512 and VAEConfig().latent_dim == 256  # the source's sizes


def test_clip_extractor_from_bundle_without_normalize():
    class Bundle:
        model = torch.nn.Sequential()
        image_size, embed_dim, name, preprocess = 8, 4, "fake", None

    Bundle.model.encode_image = lambda x: x.flatten(1)[:, :4]  # type: ignore[attr-defined]
    Bundle.model.add_module("p", torch.nn.Linear(1, 1))
    extractor = ClipExtractor(Bundle())
    assert extractor(torch.rand(2, 3, 16, 16)).shape == (2, 4)
