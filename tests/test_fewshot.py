"""Chapter 08's pieces: prior-preservation loss on a hand case, the three methods on tiny SD/SDXL, checkpoints
scored without retraining, a LoRA through ``load_lora_weights``, exact resume, class images that survive a
SIGKILL, NaN/black counting, Table 1's exact file sizes against safetensors, and the issue's bad inputs."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from conftest import FailAt
from toonlab.diffusion.fewshot import (IdentifierWarning, InstanceSet, check_identifier, generate_class_images,
                                       sample)
from toonlab.diffusion.lora import load_lora
from toonlab.metrics.failures import failure_rates
from toonlab.train import TrainConfig
from toonlab.train.dreambooth import (DreamBoothImages, FewShotConfig, merge_prior, prior_preservation_loss,
                                      train_fewshot, trainable_parameters, use_checkpoint)
from toonlab.zoo.diffusion import TinySDConfig, tiny_sd_pipeline, tiny_sdxl_pipeline

REPO = Path(__file__).resolve().parents[1]
RES = 32


def _images(n: int = 4, size: int = 40, seed: int = 0) -> list[Image.Image]:
    rng = np.random.default_rng(seed)
    return [Image.fromarray(rng.integers(0, 255, (size, size, 3), dtype=np.uint8)) for _ in range(n)]


def _pipe(kind: str = "sd"):
    return (tiny_sdxl_pipeline if kind == "sdxl" else tiny_sd_pipeline)(TinySDConfig(sample_size=RES // 2))


def _train(method, out, *, steps=2, prior=True, lr=1e-3, callbacks=(), kind="sd", **config):
    classes = _images(2, seed=1) if prior else ()
    data = DreamBoothImages(_images(), "a photo of sks toy", RES, classes, "a photo of toy" if prior else None)
    cfg = FewShotConfig(method=method, resolution=RES, learning_rate=lr, **config)
    train = TrainConfig(steps=steps, batch_size=2, seed=0, checkpoint_every=1, log_every=1,
                        keep_checkpoints=steps + 1, progress=False)
    return train_fewshot(_pipe(kind), data, cfg, train, out, base_name=f"tiny {kind}", callbacks=callbacks)


def _render(pipe) -> np.ndarray:
    return sample(pipe, ["a photo of sks toy"], [0], steps=2, guidance=7.5, size=RES)


# ---------------------------------------------------------------------------------------------------
# prior preservation


def test_prior_preservation_weighs_the_class_half_on_a_hand_case():
    per_item = torch.tensor([1.0, 2.0, 3.0, 5.0])
    is_prior = torch.tensor([False, False, True, True])
    loss, logs = prior_preservation_loss(per_item, is_prior, prior_loss_weight=0.5)
    assert loss.item() == pytest.approx((1 + 2) / 2 + 0.5 * (3 + 5) / 2)  # 1.5 + 0.5 * 4 = 3.5
    assert logs["instance_loss"].item() == 1.5 and logs["prior_loss"].item() == 4.0
    assert prior_preservation_loss(per_item, torch.zeros(4, dtype=torch.bool), 0.5)[0].item() == pytest.approx(2.75)
    with pytest.raises(ValueError, match="no instance images"):
        prior_preservation_loss(per_item, torch.ones(4, dtype=torch.bool), 1.0)


def test_a_batch_is_instance_images_then_class_images_with_their_prompts():
    data = DreamBoothImages(_images(3), "a photo of sks toy", RES, _images(5, seed=1), "a photo of toy")
    assert len(data) == 5  # max(instances, class images), as diffusers' DreamBoothDataset
    batch = torch.utils.data.default_collate([data[0], data[4]])
    merged = merge_prior(batch)
    assert merged["pixel_values"].shape == (4, 3, RES, RES)
    assert merged["caption"] == ["a photo of sks toy"] * 2 + ["a photo of toy"] * 2
    assert merged["is_prior"].tolist() == [False, False, True, True]
    assert torch.equal(merged["pixel_values"][1], data.instance[4 % 3]["pixel_values"])


# ---------------------------------------------------------------------------------------------------
# the three methods


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("fewshot")
    return {method: _train(method, root / method, prior=method != "lora", train_text_encoder=method == "dreambooth")
            for method in ("dreambooth", "lora", "dreambooth_lora")}


def test_dreambooth_trains_the_whole_unet_and_text_encoder_lora_only_adapters(runs):
    base = _pipe()
    unet, text = (sum(p.numel() for p in m.parameters()) for m in (base.unet, base.text_encoder))
    assert trainable_parameters(runs["dreambooth"].task.models) == unet + text
    lora = trainable_parameters(runs["lora"].task.models)
    assert 0 < lora < 0.05 * unet
    assert trainable_parameters(runs["dreambooth_lora"].task.models) == lora
    assert {"instance_loss", "prior_loss"} <= set(runs["dreambooth"].result.history.last())
    assert "prior_loss" not in runs["lora"].result.history.last()
    assert runs["lora"].saved_bytes * 20 < runs["dreambooth"].saved_bytes


def test_a_lora_checkpoint_round_trips_through_load_lora_weights(runs):
    run = runs["dreambooth_lora"]
    trained = _render(run.task.pipe)
    fresh = load_lora(_pipe(), run.weights[0])  # checks the base, then diffusers' load_lora_weights
    assert np.abs(_render(fresh) - trained).max() < 1e-5
    assert np.abs(_render(_pipe()) - trained).max() > 1e-4, "the LoRA must change the output"


def test_every_checkpoint_is_scored_without_retraining(runs):
    for method in ("dreambooth", "lora"):
        run = runs[method]
        (first, first_path), (last, last_path) = run.checkpoints()
        final = _render(run.task.pipe)
        assert use_checkpoint(run, first_path) == first == 1
        early = _render(run.task.pipe)
        assert np.abs(early - final).max() > 1e-6, f"{method}: step 1 and step 2 weights must differ"
        assert use_checkpoint(run, last_path) == last == 2
        assert np.abs(_render(run.task.pipe) - final).max() == 0.0


def test_dreambooth_saves_diffusers_folders(runs):
    from diffusers import UNet2DConditionModel

    unet_file = next(p for p in runs["dreambooth"].weights if p.parent.name == "unet")
    loaded = UNet2DConditionModel.from_pretrained(unet_file.parent)
    trained = runs["dreambooth"].task.pipe.unet.state_dict()
    assert all(torch.equal(v, trained[k]) for k, v in loaded.state_dict().items())


@pytest.mark.parametrize("method", ["dreambooth", "dreambooth_lora"])
def test_training_resumes_exactly_after_a_kill(method, tmp_path):
    straight = _train(method, tmp_path / "straight", steps=3, train_text_encoder=method == "dreambooth")
    with pytest.raises(KeyboardInterrupt):
        _train(method, tmp_path / "killed", steps=3, callbacks=[FailAt(2)], train_text_encoder=method == "dreambooth")
    resumed = _train(method, tmp_path / "killed", steps=3, train_text_encoder=method == "dreambooth")
    assert resumed.result.resumed_from == 1  # the kill came before step 2's checkpoint
    assert resumed.result.history.values("loss") == straight.result.history.values("loss")
    for name, module in straight.task.models.items():
        other = resumed.task.models[name].state_dict()
        assert all(torch.equal(v, other[k]) for k, v in module.state_dict().items())


def test_dreambooth_lora_on_sdxl_with_gradient_accumulation(tmp_path):
    run = _train("dreambooth_lora", tmp_path, steps=1, prior=False, kind="sdxl", micro_batch=1)
    assert run.result.step == 1 and run.base.family == "SDXL"
    assert np.isfinite(run.result.history.last()["loss"])


# ---------------------------------------------------------------------------------------------------
# failures: NaN and black images


def test_failure_rates_tell_nan_from_black_from_dark():
    rng = np.random.default_rng(0)
    normal = rng.uniform(0, 1, (8, 8, 3))
    black = np.zeros((8, 8, 3))
    dark = rng.uniform(0, 0.08, (8, 8, 3))  # mean 0.04: dark, not black
    nan = normal.copy()
    nan[0, 0, 0] = np.nan
    rates = failure_rates(np.stack([normal, black, dark, nan]))
    assert (rates.nan, rates.black, rates.failed) == (0.25, 0.25, 0.5)
    assert failure_rates((black * 255).astype(np.uint8)[None]).black == 1.0


def test_a_learning_rate_that_diverges_is_reported_with_its_nan_images(tmp_path):
    run = _train("dreambooth", tmp_path, steps=2, lr=1e3)
    assert run.result is None and run.weights == []
    assert run.diverged and "non-finite loss" in run.diverged
    images = _render(run.task.pipe)
    assert failure_rates(images).nan == 1.0


# ---------------------------------------------------------------------------------------------------
# class images: generated once, resumable after SIGKILL


KILLED_GENERATION = textwrap.dedent("""
    import os, signal, sys
    from toonlab.diffusion.fewshot import generate_class_images
    from toonlab.zoo.diffusion import TinySDConfig, tiny_sd_pipeline
    pipe = tiny_sd_pipeline(TinySDConfig(sample_size=16))
    def kill(indices):
        os.kill(os.getpid(), signal.SIGKILL)  # after the first batch's images and shard are written
    generate_class_images(pipe, "a photo of toy", 5, sys.argv[1], model="tiny", steps=2, size=32, batch_size=2,
                          progress=False, on_batch=kill)
""")


def test_class_images_resume_after_sigkill_without_duplicates(tmp_path):
    folder = tmp_path / "killed"
    env = {**os.environ, "PYTHONPATH": str(REPO / "lib")}
    done = subprocess.run([sys.executable, "-c", KILLED_GENERATION, str(folder)], env=env, capture_output=True)
    assert done.returncode == -signal.SIGKILL, done.stderr.decode()[-2000:]
    assert len(list(folder.glob("images/*.png"))) == 2 and not (folder / "manifest.csv").exists()

    pipe = _pipe()
    resumed = generate_class_images(pipe, "a photo of toy", 5, folder, model="tiny", steps=2, size=32, batch_size=2,
                                    progress=False)
    straight = generate_class_images(pipe, "a photo of toy", 5, tmp_path / "straight", model="tiny", steps=2,
                                     size=32, batch_size=2, progress=False)
    assert len(resumed) == 5 and len(list(folder.glob("images/*.png"))) == 5
    assert all(np.array_equal(np.asarray(a), np.asarray(b)) for a, b in zip(resumed, straight))
    rows = (folder / "manifest.csv").read_text().strip().splitlines()[1:]
    assert sorted(int(r.split(",")[0]) for r in rows) == list(range(5))
    calls = []
    generate_class_images(pipe, "a photo of toy", 5, folder, model="tiny", steps=2, size=32, progress=False,
                          on_batch=calls.append)
    assert calls == [], "a finished job generates nothing"


# ---------------------------------------------------------------------------------------------------
# bad input


def test_the_committed_dreambench_subset_is_checked_and_declared(tmp_path, monkeypatch):
    from toonlab.data import dreambench
    from toonlab.paths import SOURCES_USED_ENV

    log = tmp_path / "used.txt"
    monkeypatch.setenv(SOURCES_USED_ENV, str(log))
    images = dreambench.subject_images("red_cartoon", "committed")
    assert len(images) == 4 and all(image.mode == "RGB" and image.size == (128, 128) for image in images)
    assert log.read_text().split() == ["dreambench"]  # the book runner checks the registry's chapters: list
    prompts = dreambench.subject_prompts("monster_toy", "sks")
    assert len(prompts) == 25 and prompts[0] == "a sks toy in the jungle"
    with pytest.raises(KeyError, match="holds .*monster_toy.*red_cartoon"):
        dreambench.subject_images("dog", "committed")
    with pytest.raises(ValueError, match="unknown DreamBench source 'dreambench-full'"):
        dreambench.subject_images("red_cartoon", "dreambench-full")


def test_a_changed_committed_dreambench_image_is_refused_by_name(tmp_path, monkeypatch):
    import shutil

    from toonlab.data import dreambench
    from toonlab.data.errors import CorruptItemError

    (tmp_path / "data" / "manifests").mkdir(parents=True)
    shutil.copytree(REPO / "data" / "dreambench", tmp_path / "data" / "dreambench")
    shutil.copy(REPO / "data" / "manifests" / "dreambench.csv", tmp_path / "data" / "manifests")
    monkeypatch.setenv("TOONLAB_ROOT", str(tmp_path))
    assert len(dreambench.subject_images("monster_toy")) == 4
    changed = tmp_path / "data" / "dreambench" / "monster_toy" / "02.jpg"
    changed.write_bytes(changed.read_bytes()[:-10])
    with pytest.raises(CorruptItemError, match="monster_toy/02.jpg: sha256 .* differs from the manifest"):
        dreambench.subject_images("monster_toy")
    (tmp_path / "data" / "manifests" / "dreambench.csv").unlink()
    with pytest.raises(FileNotFoundError, match="dreambench.csv is missing"):
        dreambench.subject_images("monster_toy")


def test_full_dreambench_goes_through_the_registry_folder_source(tmp_path, monkeypatch):
    from toonlab.data import dreambench
    from toonlab.paths import SOURCES_USED_ENV

    clone = tmp_path / "dataset"
    for subject, n in (("red_cartoon", 3), ("dog", 2)):
        (clone / subject).mkdir(parents=True)
        for index, image in enumerate(_images(n, seed=n)):
            image.save(clone / subject / f"{index:02d}.jpg")
    monkeypatch.setenv("TOONLAB_DATA_DREAMBENCH", str(clone))
    monkeypatch.setenv("TOONLAB_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv(SOURCES_USED_ENV, str(tmp_path / "used.txt"))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # 5 images in 2 sub-folders, not the reported 158 in 30: warned
        images = dreambench.subject_images("red_cartoon", "dreambench")
        assert len(images) == 3 and images[0].size == (40, 40)
        with pytest.raises(KeyError, match=r"sub-folders \(subjects\) are \['dog', 'red_cartoon'\]"):
            dreambench.subject_images("monster_toy", "dreambench")
    assert set((tmp_path / "used.txt").read_text().split()) == {"dreambench"}


def test_too_few_instance_images_is_an_error_naming_the_minimum():
    with pytest.raises(ValueError, match="at least 3"):
        InstanceSet.from_images(_images(2), resolution=RES)


def test_mixed_sizes_and_modes_are_normalised_and_said():
    rgba = Image.new("RGBA", (20, 30), (255, 0, 0, 0))  # fully transparent: white, not black
    grey = Image.new("L", (64, 48), 128)
    instance = InstanceSet.from_images([rgba, grey, _images(1, size=50)[0]], resolution=RES)
    assert {image.mode for image in instance.images} == {"RGB"}
    assert instance.images[0].getpixel((0, 0)) == (255, 255, 255)
    notes = " ".join(instance.notes)
    assert "converted to RGB" in notes and "different sizes" in notes and "upscaled" in notes


def test_an_identifier_split_into_pieces_warns():
    tokenizer = _pipe().tokenizer
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert check_identifier(tokenizer, "sks") == ["sks</w>"]
    with pytest.warns(IdentifierWarning, match="3 tokens"):
        check_identifier(tokenizer, "UnicornGirl")
    with pytest.raises(ValueError, match="empty"):
        check_identifier(tokenizer, "  ")


def test_bad_configs_say_what_to_do():
    with pytest.raises(ValueError, match="method must be one of"):
        FewShotConfig(method="textual_inversion", resolution=RES)
    with pytest.raises(ValueError, match="LoRASpec"):
        FewShotConfig(method="lora", resolution=RES, train_text_encoder=True)
    data = DreamBoothImages(_images(), "a photo of sks toy", RES, _images(2), "a photo of toy")
    with pytest.raises(ValueError, match="no prior preservation"):
        train_fewshot(_pipe(), data, FewShotConfig(method="lora", resolution=RES),
                      TrainConfig(steps=1, batch_size=1, progress=False), "unused")
    with pytest.raises(ValueError, match="class prompt"):
        DreamBoothImages(_images(), "a photo of sks toy", RES, _images(2), None)


# ---------------------------------------------------------------------------------------------------
# metrics against direct computations; Table 1's exact columns


def test_dino_score_is_the_mean_pairwise_cosine_of_cls_embeddings():
    import timm.data

    from toonlab.metrics.dreambooth import dino_score
    from toonlab.zoo.dino import build_dino

    dino = build_dino("ci", seed=0)
    generated, real = _images(2, size=64, seed=3), _images(3, size=64, seed=4)
    transform = timm.data.create_transform(**timm.data.resolve_data_config({}, model=dino), is_training=False)
    with torch.no_grad():
        a = dino(torch.stack([transform(i) for i in generated]))
        b = dino(torch.stack([transform(i) for i in real]))
    direct = np.mean([float(torch.nn.functional.cosine_similarity(x, y, dim=0)) for x in a for y in b])
    assert dino_score(dino, generated, real).mean == pytest.approx(direct, abs=1e-5)


def test_safetensors_bytes_equals_the_file_safetensors_writes(tmp_path, runs):
    from safetensors import safe_open
    from safetensors.torch import save_file

    from toonlab.train.fewshot_cost import safetensors_bytes

    tensors = {"b.weight": torch.zeros(3, 5), "a.half": torch.zeros(7, dtype=torch.float16),
               "c.steps": torch.zeros(2, dtype=torch.int64), "d": torch.zeros(0)}
    metadata = {"format": "pt", "note": 'quotes " and é'}
    save_file(tensors, str(tmp_path / "x.safetensors"), metadata=metadata)
    assert safetensors_bytes(tensors, metadata) == (tmp_path / "x.safetensors").stat().st_size
    for path in runs["dreambooth"].weights + runs["lora"].weights:  # files the runs wrote
        with safe_open(str(path), framework="pt") as handle:
            written = {k: handle.get_tensor(k) for k in handle.keys()}
            meta = handle.metadata()
        assert safetensors_bytes(written, meta) == path.stat().st_size


def test_table1_exact_columns_at_real_size():
    from toonlab.train.fewshot_cost import COMICS_METHODS, exact_costs

    dreambooth, lora, dreambooth_lora = (exact_costs(spec) for spec in COMICS_METHODS)
    assert dreambooth["trainable parameters"] == 859_520_964 + 123_060_480  # SD 1.5 UNet + CLIP ViT-L/14 text
    assert lora["trainable parameters"] == 797_184  # rank 4 on SD 1.x's 16 attention blocks
    assert dreambooth["saved file (bytes)"] > 100 * lora["saved file (bytes)"]
    assert 3.2e6 < lora["saved file (bytes)"] < 3.3e6  # the thesis's 3.23 MB
    assert 20e6 < dreambooth_lora["saved file (bytes)"] < 30e6  # the thesis's 25 MB (SDXL, rank 4)


def test_the_measured_size_is_the_largest_that_fits_the_budget():
    from toonlab.train.fewshot_cost import COMICS_METHODS, SIZES, largest_fitting_size, measure_step, CostSize

    assert largest_fitting_size(COMICS_METHODS, 1, 200 * 2**30) == SIZES[0]
    assert largest_fitting_size(COMICS_METHODS, 1, 2 * 2**30).model == "tiny"
    assert largest_fitting_size(COMICS_METHODS, 1, 2**20) is None
    row = measure_step(COMICS_METHODS[1], CostSize("tiny", RES), steps=1)
    assert row["s / step"] > 0 and row["trainable parameters (measured model)"] > 0
    assert "tiny" in row["measured at"] and row["device"] == "cpu"
