"""The brief's parity check: our FID on two folders equals pytorch-fid's ``calculate_fid_given_paths``.

Both run the same randomly initialised pytorch-fid InceptionV3 (offline: no real weights here). It is a
file of its own because pytorch-fid's 2048x2048 ``sqrtm`` alone takes ~30 s on one CPU thread.
"""

from __future__ import annotations

import pytest

from test_metrics_fid import photo_crops
from toonlab.metrics.extractors import RANDOM_FD, inception_extractor
from toonlab.metrics.fid import distribution_distance


@pytest.fixture(scope="module")
def random_inception():
    from toonlab.zoo.inception import build_inception

    return build_inception("ci", seed=0)


def test_fid_on_two_folders_equals_pytorch_fid_with_the_same_random_inception(tmp_path, random_inception, monkeypatch):
    import pytorch_fid.fid_score as pytorch_fid

    class SameInception:  # pytorch-fid builds its own network; hand it ours instead (same weights)
        BLOCK_INDEX_BY_DIM = pytorch_fid.InceptionV3.BLOCK_INDEX_BY_DIM

        def __new__(cls, *args, **kwargs):
            return random_inception

    monkeypatch.setattr(pytorch_fid, "InceptionV3", SameInception)
    a, b = photo_crops(tmp_path / "a", 10, seed=1), photo_crops(tmp_path / "b", 10, seed=2)
    theirs = pytorch_fid.calculate_fid_given_paths([str(a), str(b)], batch_size=50, device="cpu", dims=2048,
                                                   num_workers=0)
    ours = distribution_distance(a, b, inception_extractor(random_inception), cache_reference=False,
                                 batch_size=4, progress=False)
    assert abs(ours.value - theirs) <= 1e-3
    assert ours.value == pytest.approx(theirs, rel=1e-4)  # random features give small values: check relative too
    assert ours.distance_name == RANDOM_FD and "FID" not in ours.distance_name.split()
    assert ours.n_generated == ours.n_reference == 10
    assert "fewer than 2,048 images" in ours.describe() and not ours.reliable
