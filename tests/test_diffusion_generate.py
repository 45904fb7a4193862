"""Synthetic data-set generation with a tiny random SD pipeline: manifest integrity, resume after a
SIGKILL and after a crash between a batch's images and its shard (no duplicates, no gaps), refusals.

Run as a script (``python tests/test_diffusion_generate.py OUT``) it generates the test job and SIGKILLs
itself right after the first batch (the fault-injection test).
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from toonlab import zoo
from toonlab.diffusion import generate as gen
from toonlab.diffusion import prompts
from toonlab.diffusion.generate import GenerationError, GenerationJob, generate_dataset, verify

NAMES = ["Ada Lovelace", "Alan Turing", "Grace Hopper"]
BATCH = 4


def job(**overrides) -> GenerationJob:
    settings = dict(prompts=tuple(prompts.popyou_prompts(NAMES)), model="tiny random SD (test)",
                    images_per_prompt=2, seed=5, steps=2, guidance_scale=7.5, height=32, width=32)
    settings.update(overrides)
    return GenerationJob(**settings)


def tiny_pipe():
    return zoo.load("sd15", "ci", seed=0)


@pytest.fixture(scope="module")
def pipe():
    return tiny_pipe()


@pytest.fixture(scope="module")
def reference(pipe, tmp_path_factory):
    folder = tmp_path_factory.mktemp("straight")
    report = generate_dataset(pipe, job(), folder, batch_size=BATCH, progress=False)
    return folder, report, gen.read_manifest(folder)


# -- prompts -------------------------------------------------------------------------------------


def test_prompt_templates():
    assert prompts.popyou_prompts(["Alan Turing"]) == ["funko pop figure of Alan Turing in a white background"]
    expected = "funko pop figure of a woman with a blonde short hair in a white background"
    assert prompts.popyou_text_prompts()[1] == expected
    assert prompts.expand(["a {name}", "b {name}"], ["x", "y"]) == ["a x", "a y", "b x", "b y"]
    with pytest.raises(ValueError, match="no {name} placeholder"):
        prompts.expand(["a photo"], ["x"])
    with pytest.raises(ValueError, match="occur twice"):
        prompts.expand(["a {name}"], ["x", "x"])


# -- the job -------------------------------------------------------------------------------------


def test_job_maps_indices_to_prompts_and_seeds():
    j = job()
    assert len(j) == 6
    assert [j.prompt(i) for i in range(6)] == [p for p in j.prompts for _ in range(2)]
    assert len({j.seed_of(i) for i in range(6)}) == 6
    assert j.fingerprint() == job().fingerprint() != job(seed=6).fingerprint()
    with pytest.raises(ValueError, match="non-empty prompt"):
        job(prompts=())
    with pytest.raises(ValueError, match="name the model"):
        job(model="")


# -- a finished folder ---------------------------------------------------------------------------


def test_manifest_lists_every_image_once_with_its_hash(reference):
    folder, report, rows = reference
    assert (report.total, report.generated, report.reused) == (6, 6, 0)
    assert [r["index"] for r in rows] == list(range(6))
    j = job()
    for row in rows:
        assert row["prompt"] == j.prompt(row["index"]) and row["seed"] == j.seed_of(row["index"])
        assert row["model"] == "tiny random SD (test)" and (row["width"], row["height"]) == (32, 32)
        assert hashlib.sha256((folder / row["file"]).read_bytes()).hexdigest() == row["sha256"]
    assert sorted(p.name for p in (folder / "shards").iterdir()) == ["000000-000003.json", "000004-000005.json"]
    assert len({r["sha256"] for r in rows}) == 6  # six different images


def test_rerunning_a_finished_job_generates_nothing(reference, pipe):
    folder, _report, rows = reference
    again = generate_dataset(pipe, job(), folder, batch_size=BATCH, progress=False)
    assert (again.generated, again.reused) == (0, 6)
    assert gen.read_manifest(folder) == rows


def test_same_seed_same_images(reference, pipe, tmp_path):
    _folder, _report, rows = reference
    generate_dataset(pipe, job(), tmp_path, batch_size=BATCH, progress=False)
    assert [r["sha256"] for r in gen.read_manifest(tmp_path)] == [r["sha256"] for r in rows]


def test_folder_of_another_job_is_refused(reference, pipe):
    folder, _report, _rows = reference
    with pytest.raises(GenerationError, match=r"another generation job \(differs in \['seed'\]\)"):
        generate_dataset(pipe, job(seed=6), folder, batch_size=BATCH, progress=False)


# -- faults --------------------------------------------------------------------------------------


def test_resume_after_sigkill_has_no_gaps_or_duplicates(reference, pipe, tmp_path):
    _folder, _report, rows = reference
    done = subprocess.run([sys.executable, __file__, str(tmp_path)], capture_output=True, text=True, timeout=120,
                          env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert done.returncode == -signal.SIGKILL, done.stderr[-2000:]
    assert sorted(p.name for p in (tmp_path / "shards").iterdir()) == ["000000-000003.json"]
    assert not (tmp_path / "manifest.csv").exists()
    resumed = generate_dataset(pipe, job(), tmp_path, batch_size=BATCH, progress=False)
    assert (resumed.generated, resumed.reused) == (2, 4)
    assert gen.read_manifest(tmp_path) == rows  # identical to the uninterrupted run


def test_crash_between_images_and_shard_regenerates_that_batch(reference, pipe, tmp_path, monkeypatch):
    _folder, _report, rows = reference
    real_write_json = gen.atomic.write_json

    def failing_shard(path, obj):
        if "shards" in str(path) and obj[0]["index"] == 4:
            raise OSError("disk full (simulated)")
        return real_write_json(path, obj)

    monkeypatch.setattr(gen.atomic, "write_json", failing_shard)
    with pytest.raises(OSError, match="simulated"):
        generate_dataset(pipe, job(), tmp_path, batch_size=BATCH, progress=False)
    monkeypatch.setattr(gen.atomic, "write_json", real_write_json)
    assert (tmp_path / "images" / "000004.png").exists()  # an orphan: written, but no shard lists it
    resumed = generate_dataset(pipe, job(), tmp_path, batch_size=BATCH, progress=False)
    assert (resumed.generated, resumed.reused) == (2, 4)
    assert gen.read_manifest(tmp_path) == rows
    assert not list(tmp_path.rglob("*.tmp"))


def test_resume_with_another_batch_size_fills_exactly_the_gaps(pipe, tmp_path):
    def stop_after_first(indices):
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        generate_dataset(pipe, job(), tmp_path, batch_size=BATCH, progress=False, on_batch=stop_after_first)
    report = generate_dataset(pipe, job(), tmp_path, batch_size=1, progress=False)
    assert (report.generated, report.reused) == (2, 4)
    assert [r["index"] for r in verify(tmp_path)] == list(range(6))


def test_verify_catches_tampering(reference, tmp_path):
    import shutil

    folder, _report, _rows = reference
    copy = tmp_path / "copy"
    shutil.copytree(folder, copy)
    (copy / "images" / "000002.png").write_bytes(b"not the image")
    with pytest.raises(GenerationError, match="000002.png does not match its sha256"):
        verify(copy)
    (copy / "images" / "000002.png").unlink()
    with pytest.raises(GenerationError, match="000002.png is missing"):
        verify(copy)
    shutil.copy2(folder / "images" / "000002.png", copy / "images" / "000002.png")
    (copy / "images" / "000099.png").write_bytes(b"x")
    with pytest.raises(GenerationError, match="files not in the manifest"):
        verify(copy)


def test_overlapping_shards_are_an_error(reference, tmp_path):
    import shutil

    folder, _report, _rows = reference
    copy = tmp_path / "copy"
    shutil.copytree(folder, copy)
    rows = json.loads((copy / "shards" / "000004-000005.json").read_text())
    (copy / "shards" / "000005-000005.json").write_text(json.dumps(rows[1:]))
    with pytest.raises(GenerationError, match="image 5 is listed by two shards"):
        gen.read_shards(copy, job())


def test_load_generated_returns_images_and_prompts(reference):
    folder, _report, _rows = reference
    images, texts = gen.load_generated(folder)
    assert len(images) == 6 and images[0].size == (32, 32) and texts == [job().prompt(i) for i in range(6)]


if __name__ == "__main__":
    import torch

    torch.set_num_threads(1)

    def die(indices):
        os.kill(os.getpid(), signal.SIGKILL)

    generate_dataset(tiny_pipe(), job(), Path(sys.argv[1]), batch_size=BATCH, progress=False, on_batch=die)
