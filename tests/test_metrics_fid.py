"""FID / KID: equal to pytorch-fid on the same statistics and folders, cached once, labelled honestly."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from torch import nn

from toonlab.metrics.checks import MetricInputError
from toonlab.metrics.extractors import RANDOM_FD, FeatureExtractor, inception_extractor
from toonlab.metrics.fid import (
    FeatureStats,
    distribution_distance,
    extract_features,
    frechet_distance,
    frechet_distance_of,
    kernel_inception_distance,
    mmd2_unbiased,
    reference_stats,
)
from toonlab.metrics.image_io import list_images

# ---------------------------------------------------------------------------------------------------
# helpers


def photo_crops(folder: Path, count: int, seed: int, size: int = 64) -> Path:
    """Structured test images: random crops of scikit-image's sample photographs."""
    import skimage.data

    sources = [skimage.data.astronaut(), skimage.data.chelsea(), skimage.data.coffee(), skimage.data.rocket()]
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    for index in range(count):
        source = sources[rng.integers(len(sources))]
        top, left = rng.integers(0, source.shape[0] - 96), rng.integers(0, source.shape[1] - 96)
        crop = Image.fromarray(source[top:top + 96, left:left + 96, :3])
        crop.resize((size, size), Image.Resampling.BICUBIC).save(folder / f"{index:03d}.png")
    return folder


class TinyConvFeatures(nn.Module):
    """A small deterministic feature network standing in for Inception where only the plumbing is tested."""

    def __init__(self, dim: int = 16, seed: int = 0) -> None:
        super().__init__()
        torch.manual_seed(seed)
        self.net = nn.Sequential(nn.Conv2d(3, 8, 3, stride=2), nn.ReLU(), nn.Conv2d(8, dim, 3, stride=2),
                                 nn.AdaptiveAvgPool2d(1), nn.Flatten())
        self.calls = 0

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.calls += 1
        return self.net(x)


def tiny_extractor(seed: int = 0, dim: int = 16) -> FeatureExtractor:
    return FeatureExtractor(model=TinyConvFeatures(dim, seed).eval(), name="tiny conv", weights=f"seed={seed}",
                            distance_name="FD-test", kid_name="KID-test", comparable_to="this test")


@pytest.fixture(scope="module")
def random_inception():
    from toonlab.zoo.inception import build_inception

    return build_inception("ci", seed=0)


@pytest.fixture(scope="module")
def folders(tmp_path_factory):
    root = tmp_path_factory.mktemp("fid")
    return photo_crops(root / "a", 10, seed=1), photo_crops(root / "b", 10, seed=2)


def random_stats(rng: np.random.Generator, n: int, d: int, shift: float = 0.0):
    features = rng.standard_normal((n, d)) @ rng.standard_normal((d, d)) * 0.1 + shift
    return features.mean(0), np.cov(features, rowvar=False)


# ---------------------------------------------------------------------------------------------------
# Fréchet distance against pytorch-fid


@pytest.mark.parametrize("n,d", [(500, 64), (40, 128)], ids=["full-rank", "rank-deficient"])
def test_frechet_distance_equals_pytorch_fid_on_the_same_statistics(n, d):
    from pytorch_fid.fid_score import calculate_frechet_distance

    rng = np.random.default_rng(0)
    mu1, sigma1 = random_stats(rng, n, d)
    mu2, sigma2 = random_stats(rng, n, d, shift=0.3)
    ours = frechet_distance(mu1, sigma1, mu2, sigma2)
    theirs = calculate_frechet_distance(mu1, sigma1, mu2, sigma2)
    # sqrtm's own rounding error on a singular product is ~1e-5 here (it gives -7e-6 for identical sets)
    assert ours == pytest.approx(theirs, rel=1e-6, abs=1e-4)
    assert frechet_distance(mu1, sigma1, mu2, sigma2, method="sqrtm") == pytest.approx(theirs, rel=1e-12)
    assert frechet_distance(mu1, sigma1, mu1, sigma1) == pytest.approx(0.0, abs=1e-9)


def test_the_small_set_shortcut_equals_the_general_formula():
    rng = np.random.default_rng(2)
    f1 = rng.standard_normal((12, 64)) @ rng.standard_normal((64, 64)) * 0.1
    f2 = rng.standard_normal((9, 64)) @ rng.standard_normal((64, 64)) * 0.1 + 0.2
    a, b = FeatureStats.from_features(f1), FeatureStats.from_features(f2)
    general = frechet_distance(a.mu, a.sigma, b.mu, b.sigma)
    assert frechet_distance_of(a, b) == pytest.approx(general, rel=1e-9)
    assert frechet_distance_of(a, a) == pytest.approx(0.0, abs=1e-9)
    without_features = FeatureStats(a.mu, a.sigma, a.n)  # statistics only: the general formula
    assert frechet_distance_of(without_features, b) == pytest.approx(general, rel=1e-12)


def test_frechet_distance_rejects_bad_statistics():
    mu, sigma = np.zeros(4), np.eye(4)
    with pytest.raises(MetricInputError, match="same length"):
        frechet_distance(mu, sigma, np.zeros(5), np.eye(5))
    with pytest.raises(MetricInputError, match="sigma2 has shape"):
        frechet_distance(mu, sigma, mu, np.eye(3))
    with pytest.raises(MetricInputError, match="NaN"):
        frechet_distance(np.full(4, np.nan), sigma, mu, sigma)
    with pytest.raises(MetricInputError, match="unknown method"):
        frechet_distance(mu, sigma, mu, sigma, method="magic")


# ---------------------------------------------------------------------------------------------------
# KID


def test_kid_equals_piq_unbiased_mmd_and_a_brute_force_sum():
    from piq.kid import _mmd2_and_variance, _polynomial_kernel
    from sklearn.metrics.pairwise import polynomial_kernel

    rng = np.random.default_rng(0)
    x, y = rng.standard_normal((30, 8)), rng.standard_normal((30, 8)) + 0.5
    xt, yt = torch.from_numpy(x), torch.from_numpy(y)
    piq_value = _mmd2_and_variance(_polynomial_kernel(xt, xt), _polynomial_kernel(xt, yt), _polynomial_kernel(yt, yt))
    assert mmd2_unbiased(x, y) == pytest.approx(float(piq_value), rel=1e-10)

    # unequal sizes: the U-statistic written out term by term
    y2 = y[:20]
    k = lambda a, b: polynomial_kernel(a, b, degree=3, gamma=1 / 8, coef0=1)  # noqa: E731
    kxx, kyy, kxy = k(x, x), k(y2, y2), k(x, y2)
    m, n = len(x), len(y2)
    brute = ((kxx.sum() - np.trace(kxx)) / (m * (m - 1)) + (kyy.sum() - np.trace(kyy)) / (n * (n - 1))
             - 2 * kxy.sum() / (m * n))
    assert mmd2_unbiased(x, y2) == pytest.approx(brute, rel=1e-10)


def test_kid_subsets_are_seeded_and_whole_sets_are_computed_once():
    rng = np.random.default_rng(1)
    x, y = rng.standard_normal((50, 8)), rng.standard_normal((60, 8)) + 0.2
    first = kernel_inception_distance(x, y, subsets=10, subset_size=20, seed=3)
    again = kernel_inception_distance(x, y, subsets=10, subset_size=20, seed=3)
    assert first == again and first.subsets == 10 and first.subset_size == 20 and first.std > 0
    whole = kernel_inception_distance(x, y[:50], subsets=10, subset_size=1000)
    assert whole.subsets == 1 and whole.subset_size == 50 and whole.std == 0
    assert whole.mean == pytest.approx(mmd2_unbiased(x, y[:50]))
    # unbiased: two independent samples of one distribution score ~0 (either sign), a shifted one does not
    same = kernel_inception_distance(rng.standard_normal((200, 8)), rng.standard_normal((200, 8)))
    shifted = kernel_inception_distance(rng.standard_normal((200, 8)), rng.standard_normal((200, 8)) + 0.5)
    assert abs(same.mean) < 0.1 * shifted.mean


def test_kid_rejects_bad_features():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((10, 4))
    with pytest.raises(MetricInputError, match="feature dimensions"):
        kernel_inception_distance(x, rng.standard_normal((10, 5)))
    with pytest.raises(MetricInputError, match="at least 2"):
        kernel_inception_distance(x, x[:1])
    bad = x.copy()
    bad[0, 0] = np.nan
    with pytest.raises(MetricInputError, match="NaN"):
        kernel_inception_distance(bad, x)


# ---------------------------------------------------------------------------------------------------
# images in, features out


def test_a_tensor_scores_like_the_folder_it_was_saved_to(folders):
    a, _ = folders
    extractor = tiny_extractor()
    from_files = extract_features(a, extractor, batch_size=4)
    tensor = torch.stack([torch.from_numpy(np.array(Image.open(p).convert("RGB"))).permute(2, 0, 1)
                          for p in list_images(a)]).float() / 255
    tensor = (tensor + torch.rand_like(tensor) * 0.001).clamp(0, 1)  # sub-quantum noise: removed by quantisation
    from_tensor = extract_features(tensor, extractor, batch_size=4)
    np.testing.assert_array_equal(from_files, from_tensor)


def test_resolution_resizes_with_pil_bicubic_and_mixed_sizes_need_it(tmp_path):
    folder = photo_crops(tmp_path / "mixed", 3, seed=0, size=40)
    Image.new("RGB", (50, 30), (10, 200, 30)).save(folder / "odd.png")
    extractor = tiny_extractor()
    with pytest.raises(MetricInputError, match="resolution="):
        extract_features(folder, extractor)
    features = extract_features(folder, extractor, resolution=32)
    assert features.shape == (4, 16)
    result = distribution_distance(folder, folder, extractor, resolution=32, cache_reference=False, progress=False)
    assert result.resize_generated == result.resize_reference == "PIL bicubic to 32x32"
    assert "PIL bicubic to 32x32" in result.describe() and "4 generated vs 4 reference" in result.describe()


def test_inputs_are_checked_with_clear_errors(tmp_path):
    extractor = tiny_extractor()
    with pytest.raises(MetricInputError, match="does not exist"):
        extract_features(tmp_path / "missing", extractor)
    (tmp_path / "empty").mkdir()
    with pytest.raises(MetricInputError, match="no images"):
        extract_features(tmp_path / "empty", extractor)
    with pytest.raises(MetricInputError, match=r"\(images \+ 1\) / 2"):
        extract_features(torch.rand(2, 3, 32, 32) * 2 - 1, extractor)
    with pytest.raises(MetricInputError, match="NaN"):
        extract_features(torch.full((2, 3, 32, 32), float("nan")), extractor)
    with pytest.raises(MetricInputError, match=r"\(N, 3, H, W\)"):
        extract_features(torch.rand(3, 32, 32), extractor)
    with pytest.raises(MetricInputError, match="empty"):
        extract_features(torch.rand(0, 3, 32, 32), extractor)
    with pytest.raises(MetricInputError, match="different weights|weights"):
        other = FeatureStats.from_features(np.random.rand(5, 16), {"weights": "something else"})
        distribution_distance(torch.rand(4, 3, 32, 32), other, extractor, progress=False)


# ---------------------------------------------------------------------------------------------------
# reference statistics: embedded once, cached atomically, keyed by what changes them


def test_reference_statistics_are_embedded_once_then_read_from_the_cache(folders, tmp_path):
    a, b = folders
    extractor = tiny_extractor()
    first = reference_stats(b, extractor, cache_dir=tmp_path, progress=False)
    calls = extractor.model.calls
    second = reference_stats(b, extractor, cache_dir=tmp_path, progress=False)
    assert extractor.model.calls == calls, "the cached reference set was embedded again"
    np.testing.assert_array_equal(first.sigma, second.sigma)
    np.testing.assert_array_equal(first.features, second.features)
    assert len(list(tmp_path.glob("*.npz"))) == 1

    # another resolution, other weights, another data hash: new entries, never a stale hit
    reference_stats(b, extractor, resolution=48, cache_dir=tmp_path, progress=False)
    reference_stats(b, tiny_extractor(seed=1), cache_dir=tmp_path, progress=False)
    reference_stats(b, extractor, data_hash="manifest-v2", cache_dir=tmp_path, progress=False)
    assert len(list(tmp_path.glob("*.npz"))) == 4

    # the cached statistics give the same distance as a fresh computation
    cached = distribution_distance(a, second, extractor, progress=False)
    fresh = distribution_distance(a, b, extractor, cache_reference=False, progress=False)
    assert cached.value == pytest.approx(fresh.value, rel=1e-12) and cached.kid_mean == pytest.approx(fresh.kid_mean)


def test_a_data_manifest_identifies_a_materialized_folder(folders, tmp_path):
    _, b = folders
    folder = tmp_path / "materialized"
    folder.mkdir()
    for path in list_images(b):
        (folder / path.name).write_bytes(path.read_bytes())
    (folder / "manifest.csv").write_text("path,label,sha256,bytes,attributes\n")
    stats = reference_stats(folder, tiny_extractor(), cache_dir=tmp_path / "cache", progress=False)
    assert stats.meta["data_hash"].startswith("manifest:")
    (folder / "manifest.csv").write_text("path,label,sha256,bytes,attributes\nnew version\n")
    changed = reference_stats(folder, tiny_extractor(), cache_dir=tmp_path / "cache", progress=False)
    assert changed.meta["key"] != stats.meta["key"]


def test_an_interrupted_cache_write_leaves_no_file(folders, tmp_path, monkeypatch):
    _, b = folders
    extractor = tiny_extractor()

    def crash(handle, **arrays):
        handle.write(b"PK\x03\x04 half an archive")
        raise KeyboardInterrupt("killed while writing")

    monkeypatch.setattr(np, "savez", crash)
    with pytest.raises(KeyboardInterrupt):
        reference_stats(b, extractor, cache_dir=tmp_path, progress=False)
    assert list(tmp_path.iterdir()) == [], "a half-written statistics file was left behind"
    monkeypatch.undo()
    stats = reference_stats(b, extractor, cache_dir=tmp_path, progress=False)  # the rerun completes
    assert stats.n == 10 and len(list(tmp_path.glob("*.npz"))) == 1

    # a cache file damaged on disk is recomputed, not trusted and not fatal
    (cached,) = tmp_path.glob("*.npz")
    cached.write_bytes(cached.read_bytes()[:100])
    again = reference_stats(b, extractor, cache_dir=tmp_path, progress=False)
    np.testing.assert_array_equal(again.sigma, stats.sigma)
    assert FeatureStats.load(cached).n == 10


# ---------------------------------------------------------------------------------------------------
# labels: only real FID weights make "FID"


def test_only_the_real_pytorch_fid_weights_are_called_fid():
    from toonlab.zoo.inception import FID_WEIGHTS_ID

    model = TinyConvFeatures()
    assert inception_extractor(model).distance_name == RANDOM_FD  # untagged
    model.toonlab_weights = "random-init seed=0"
    assert inception_extractor(model).distance_name == RANDOM_FD
    model.toonlab_weights = FID_WEIGHTS_ID
    extractor = inception_extractor(model)
    assert extractor.distance_name == "FID" and extractor.kid_name == "KID"
    assert "literature" in extractor.comparable_to


def test_small_sets_carry_the_kid_note():
    extractor = tiny_extractor()
    generator = torch.Generator().manual_seed(0)
    x, y = torch.rand(6, 3, 32, 32, generator=generator), torch.rand(6, 3, 32, 32, generator=generator)
    result = distribution_distance(x, y, extractor, progress=False)
    # fewer images (6) than feature dimensions (16): flagged, with KID to read instead
    assert not result.reliable and result.feature_dim == 16 and result.kid_mean is not None
    assert "fewer than 16 images" in result.describe() and "read KID-test" in result.describe()
    assert set(result.as_dict()) >= {"distance_name", "value", "kid_mean", "n_generated", "notes"}


def test_distances_are_deterministic():
    extractor = tiny_extractor()
    generator = torch.Generator().manual_seed(0)
    x, y = torch.rand(8, 3, 32, 32, generator=generator), torch.rand(8, 3, 32, 32, generator=generator)
    first = distribution_distance(x, y, extractor, progress=False)
    second = distribution_distance(x, y, extractor, progress=False)
    assert first.value == second.value and first.kid_mean == second.kid_mean


# ---------------------------------------------------------------------------------------------------
# the Inception builder (zoo)


def test_random_inception_is_pytorch_fids_network_with_seeded_weights(random_inception):
    from pytorch_fid.inception import FIDInceptionA, FIDInceptionE_2, InceptionV3

    from toonlab.zoo.inception import build_inception

    assert isinstance(random_inception, InceptionV3) and not random_inception.training
    assert any(isinstance(m, FIDInceptionA) for m in random_inception.modules())
    assert any(isinstance(m, FIDInceptionE_2) for m in random_inception.modules())
    assert random_inception.toonlab_weights == "random-init seed=0"
    x = torch.rand(2, 3, 75, 75, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        out = random_inception(x)[0]
        assert out.shape == (2, 2048, 1, 1)
        other = build_inception("ci", seed=1)
        assert not torch.equal(other(x)[0], out)
    # reproducible: the same seed gives the same weights
    again = build_inception("ci", seed=0)
    for p, q in zip(again.parameters(), random_inception.parameters()):
        assert torch.equal(p, q)


def test_full_inception_without_weights_fails_fast_with_instructions(tmp_path, monkeypatch):
    from toonlab.zoo.errors import WeightsMissingError
    from toonlab.zoo.inception import FID_WEIGHTS_FILE, build_inception, fid_weights_url

    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    start = time.perf_counter()
    with pytest.raises(WeightsMissingError) as error:
        build_inception("full")
    assert time.perf_counter() - start < 5
    message = str(error.value)
    assert fid_weights_url() in message and str(tmp_path / "hub" / "checkpoints" / FID_WEIGHTS_FILE) in message


def test_local_fid_weights_are_hash_checked_and_loaded_safely(tmp_path):
    from toonlab.zoo.errors import WeightsMissingError
    from toonlab.zoo.inception import _sha256, inception_from_state, load_fid_weights, random_fid_inception_state

    path = tmp_path / "pt_inception.pth"
    torch.save(random_fid_inception_state(seed=5), path)
    with pytest.raises(WeightsMissingError, match="corrupt"):
        load_fid_weights(path)  # not the real file: its hash does not match pytorch-fid's
    state = load_fid_weights(path, sha256_prefix=_sha256(path)[:8])
    model = inception_from_state(state)  # strict load into pytorch-fid's own construction
    assert torch.equal(next(model.parameters()), next(iter(state.values())))
    with pytest.raises(RuntimeError, match="Missing key|Unexpected key|size mismatch"):
        inception_from_state({k: v for k, v in state.items() if "Mixed_7c" not in k})
