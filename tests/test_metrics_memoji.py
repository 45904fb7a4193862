"""Edge F1 against a brute-force pixel loop, the dlib identity metric (optional dependency) and the memoji
metric table's pieces."""

from __future__ import annotations

import builtins
import importlib

import numpy as np
import pytest
from PIL import Image

from toonlab.metrics.checks import MetricInputError
from toonlab.metrics.edges import edge_f1, edge_f1_bruteforce


@pytest.mark.parametrize("tolerance", [0.0, 1.0, 1.5, 3.0])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_edge_f1_matches_the_brute_force_loop(seed, tolerance):
    rng = np.random.default_rng(seed)
    predicted = rng.random((24, 20)) < 0.12
    reference = rng.random((24, 20)) < 0.10
    fast, slow = edge_f1(predicted, reference, tolerance), edge_f1_bruteforce(predicted, reference, tolerance)
    assert fast == pytest.approx(slow)
    assert 0.0 < fast.f1 < 1.0


def test_edge_f1_known_values_and_conventions():
    reference = np.zeros((10, 10), bool)
    reference[5, 2:8] = True  # a 6-pixel line
    shifted = np.roll(reference, 1, axis=0)  # the same line one pixel lower
    assert edge_f1(reference, reference).f1 == 1.0
    assert edge_f1(shifted, reference).f1 == 0.0  # exact overlap: none
    assert edge_f1(shifted, reference, tolerance=1).f1 == 1.0  # within one pixel: all
    half = reference.copy()
    half[5, 5:8] = False  # predicts 3 of the 6 pixels, all correct
    score = edge_f1(half, reference)
    assert (score.precision, score.recall) == (1.0, 0.5) and score.f1 == pytest.approx(2 / 3)
    empty = np.zeros_like(reference)
    assert edge_f1(empty, empty).f1 == 1.0 and edge_f1(empty, reference).f1 == 0.0
    assert edge_f1(np.stack([reference * 255] * 3, -1), reference).f1 == 1.0  # RGB edge images work too


def test_edge_f1_refuses_bad_input():
    with pytest.raises(MetricInputError, match="same shape"):
        edge_f1(np.zeros((4, 4)), np.zeros((5, 4)))
    with pytest.raises(MetricInputError, match="2-D"):
        edge_f1(np.zeros((2, 4, 4, 4)), np.zeros((4, 4)))
    with pytest.raises(MetricInputError, match="tolerance"):
        edge_f1(np.zeros((4, 4)), np.zeros((4, 4)), tolerance=-1)


def test_structure_f1_is_one_for_the_photo_itself_and_low_for_a_blank_output():
    from skimage import data

    from toonlab.metrics.memoji_eval import structure_f1

    photo = Image.fromarray(data.astronaut()).resize((128, 128))
    assert structure_f1(photo, photo) == 1.0
    assert structure_f1(photo, photo.resize((192, 192))) > 0.5  # the 1.5x refine output is resized back
    assert structure_f1(photo, Image.new("RGB", (128, 128), "white")) == 0.0


dlib = pytest.importorskip("dlib", reason="the identity metric's optional dependency (dlib-bin) is not installed")


def test_face_descriptor_finds_the_astronaut_and_not_a_blank_image():
    from skimage import data

    from toonlab.metrics.face_identity import face_descriptor, identity_scores

    astronaut = Image.fromarray(data.astronaut())
    descriptor = face_descriptor(astronaut)
    assert descriptor is not None and descriptor.shape == (128,)
    blank = Image.new("RGB", (256, 256), "white")
    assert face_descriptor(blank) is None
    # the same person at another size is within dlib's same-person threshold; a missing face is reported
    scores = identity_scores([astronaut, astronaut], [astronaut.resize((384, 384)), blank])
    assert scores.pairs_scored == 1 and scores.distance_mean < 0.6
    assert scores.photo_detection_rate == 1.0 and scores.output_detection_rate == 0.5
    assert scores.per_pair[1] is None


def test_missing_dlib_gives_the_install_command(monkeypatch):
    from toonlab.metrics import face_identity

    real_import = builtins.__import__

    def no_dlib(name, *args, **kwargs):
        if name == "dlib":
            raise ImportError("No module named 'dlib'")
        return real_import(name, *args, **kwargs)

    face_identity.load_face_models.cache_clear()
    monkeypatch.setattr(builtins, "__import__", no_dlib)
    try:
        ok, message = face_identity.available()
        assert not ok and "pip install dlib-bin face-recognition-models" in message
    finally:
        monkeypatch.undo()
        face_identity.load_face_models.cache_clear()
        importlib.import_module("dlib")


def test_track_peak_memory_sees_an_allocation_inside_the_block():
    import mmap
    import time

    from toonlab.metrics.cost import track_peak_memory

    with track_peak_memory("cpu") as idle:
        pass
    with track_peak_memory("cpu") as busy:
        # fresh anonymous pages, touched (the allocator could serve a tensor from memory already resident)
        block = mmap.mmap(-1, 64 * 2**20)
        block.write(b"\x01" * len(block))
        time.sleep(0.05)  # a few sampling intervals
        block.close()
    assert busy.kind == "cpu peak RSS (sampled)" and busy.mib > idle.mib + 32
    # the increase is what the block added, not the whole process (interpreter, torch, loaded models)
    assert 32 < busy.increase_mib < busy.mib and idle.increase_mib < 16
