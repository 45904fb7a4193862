"""Cost rows and ratio tables (measure() faked where timing would make a test flaky), the chapter's
FID/KID table on a tiny extractor, CLIP-T per prompt, and the text-to-image path == the data-set path."""

from __future__ import annotations

import pandas as pd
import pytest
import torch
from torch import nn
from torch.utils.data import TensorDataset

from toonlab import zoo
from toonlab.chapters import diffusion as chapter
from toonlab.diffusion import cost
from toonlab.diffusion.ddpm import DDPMConfig, build_unet
from toonlab.diffusion.generate import GenerationJob, generate_dataset, png_bytes, read_manifest
from toonlab.diffusion.text2image import clip_t_per_prompt, generate_images
from toonlab.metrics.cost import Cost
from toonlab.metrics.extractors import FeatureExtractor


def tiny_config() -> DDPMConfig:
    return DDPMConfig(resolution=16, block_out_channels=(16, 32), norm_num_groups=8, layers_per_block=1,
                      attention_resolutions=(), num_train_timesteps=20)


def fake_cost(images_per_s: float = 10.0, peak: int = 200 * 2**20, baseline: int = 100 * 2**20) -> Cost:
    return Cost(images_per_s=images_per_s, latency_s_per_image=1 / images_per_s, wall_s=1.0, n_images=10,
                peak_memory_bytes=peak, memory_kind="cpu peak RSS (sampled)", baseline_memory_bytes=baseline,
                device="cpu")


def test_diffusion_time_is_scaled_from_the_measured_steps(monkeypatch):
    calls = []

    def fake_measure(fn, images_per_call, device, warmup=1, repeats=3):
        fn()  # really run the sampler once, with the measured number of steps
        calls.append(images_per_call)
        return fake_cost(images_per_s=8.0)

    monkeypatch.setattr(cost, "measure", fake_measure)
    torch.manual_seed(0)
    unet = build_unet(tiny_config())
    seen = []
    original = unet.forward

    def counting_forward(*args, **kwargs):
        seen.append(1)
        return original(*args, **kwargs)

    unet.forward = counting_forward
    row = cost.ddpm_cost(unet, tiny_config(), sampler="ddpm", steps=20, batch_size=2, measured_steps=4)
    assert len(seen) == 4 and calls == [2]  # 4 UNet calls were timed ...
    assert row["images/s"] == pytest.approx(8.0 * 4 / 20)  # ... and scaled to the 20-step chain
    assert (row["steps"], row["measured steps"], row["resolution"]) == (20, 4, 16)
    assert row["extra memory (MiB)"] == pytest.approx(100.0)
    with pytest.raises(ValueError, match="measured_steps must be in 1..steps=20"):
        cost.ddpm_cost(unet, tiny_config(), sampler="ddpm", steps=20, batch_size=2, measured_steps=30)


def test_generator_cost_checks_the_resolution():
    from toonlab.gan import DCGANConfig, DCGANGenerator

    generator = DCGANGenerator(DCGANConfig(resolution=16, latent_dim=8, base_channels=8))
    row = cost.generator_cost(generator, 8, 16, name="dcgan", batch_size=2, repeats=1)
    assert row["images/s"] > 0 and row["kind"] == "GAN generator" and row["steps"] is None
    with pytest.raises(ValueError, match="made 16 px images, expected 32 px"):
        cost.generator_cost(generator, 8, 32, name="dcgan", batch_size=2, repeats=1)


def test_ratio_table():
    rows = [cost._row("gan", "GAN generator", None, None, 32, 4, fake_cost(100.0, 300 * 2**20), 1000),
            cost._row("ddpm", "diffusion (ddpm)", 1000, 10, 32, 4, fake_cost(50.0, 600 * 2**20), 2000)]
    table = cost.ratio_table(rows, "gan")
    ddpm = table.set_index("model").loc["ddpm"]
    assert ddpm["images/s"] == pytest.approx(0.5)  # 50 images/s over 10 of 1000 steps
    assert ddpm["× time per image"] == pytest.approx(200.0)
    assert ddpm["× peak memory"] == pytest.approx(2.0)
    with pytest.raises(ValueError, match="baseline 'vae' is not among"):
        cost.ratio_table(rows, "vae")
    by_extra = cost.ratio_table(rows, "gan", memory_column="extra memory (MiB)").set_index("model")
    assert by_extra.loc["ddpm", "× peak memory"] == pytest.approx(500 / 200)  # (600-100) / (300-100)
    with pytest.raises(ValueError, match="no column 'vram'"):
        cost.ratio_table(rows, "gan", memory_column="vram")


# -- chapter helpers ----------------------------------------------------------------------------


def pooled_extractor() -> FeatureExtractor:
    model = nn.Sequential(nn.AdaptiveAvgPool2d(4), nn.Flatten())
    return FeatureExtractor(model=model, name="4x4 mean colours", weights="none", distance_name="test FD",
                            kid_name="test KID", comparable_to="nothing")


def test_fid_kid_table_scores_every_sample_set():
    generator = torch.Generator().manual_seed(0)
    reference = torch.rand(12, 3, 16, 16, generator=generator)
    samples = {("t300", "DDPM-300"): reference[:6].clone(),
               ("t1000", "DDIM-50"): torch.rand(6, 3, 16, 16, generator=generator) * 0.2}
    table, details = chapter.fid_kid_table(samples, reference, pooled_extractor(), kid_subset_size=100, seed=0)
    assert list(table["sampler"]) == ["DDPM-300", "DDIM-50"]
    near, far = table["test FD"]
    assert near < far  # images from the reference set are closer than dark noise
    assert details["t300/DDPM-300"]["kid_subset_size"] == 6  # capped by the set sizes
    assert set(table["reference"]) == {12}


def test_dataset_fingerprint_follows_the_pixels():
    a = TensorDataset(torch.zeros(2, 3, 4, 4), torch.zeros(2))
    b = TensorDataset(torch.ones(2, 3, 4, 4), torch.zeros(2))
    assert chapter.dataset_fingerprint(a) != chapter.dataset_fingerprint(b)
    assert chapter.dataset_fingerprint(a) == chapter.dataset_fingerprint(TensorDataset(torch.zeros(2, 3, 4, 4),
                                                                                        torch.ones(2)))


# -- text-to-image baselines ----------------------------------------------------------------------


@pytest.fixture(scope="module")
def pipe():
    return zoo.load("sd15", "ci", seed=0)


def test_baseline_images_are_the_data_set_images(pipe, tmp_path):
    job = GenerationJob(("a cartoon of a girl", "a funko pop of a cat"), "tiny", images_per_prompt=2, seed=3,
                        steps=2, height=32, width=32)
    images, texts = generate_images(pipe, job, batch_size=3)
    assert texts == ["a cartoon of a girl"] * 2 + ["a funko pop of a cat"] * 2
    generate_dataset(pipe, job, tmp_path, batch_size=3, progress=False)
    import hashlib

    assert [hashlib.sha256(png_bytes(im)).hexdigest() for im in images] == \
        [row["sha256"] for row in read_manifest(tmp_path)]


def test_clip_t_per_prompt_groups_and_reports():
    clip = zoo.load("clip", "ci", seed=0)
    generator = torch.Generator().manual_seed(0)
    images = torch.rand(4, 3, 32, 32, generator=generator)
    texts = ["a", "a", "b c", "b c"]
    table = clip_t_per_prompt(clip, images, texts, reported={"a": 0.3})
    assert list(table["prompt"]) == ["a", "b c"] and list(table["images"]) == [2, 2]
    assert table["CLIP-T (reported)"].iloc[0] == 0.3 and pd.isna(table["CLIP-T (reported)"].iloc[1])
    from toonlab.metrics.clip_score import clip_t

    per_item = clip_t(clip, images, texts).per_item
    assert table["CLIP-T (ours)"].iloc[0] == pytest.approx(per_item[:2].mean())


# -- the chapter's text-to-image steps --------------------------------------------------------------


def test_prompt_baselines_score_every_role_on_the_same_prompts(monkeypatch):
    clip = zoo.load("clip", "ci", seed=0)
    prompts = chapter.baseline_prompts()[:2]
    kwargs = dict(per_prompt=2, seed=0, steps=2, guidance=7.5, size=32, batch_size=4, device="cpu")
    table, images, means = chapter.prompt_baselines(["sd15"], "ci", clip, prompts, **kwargs)
    assert list(table["model"]) == ["sd15"] * 2 and list(table["prompt"]) == prompts
    assert table["CLIP-T (reported)"].notna().sum() == sum(p in chapter.reported_clip_t() for p in prompts)
    assert images["sd15"][1] == prompts and len(images["sd15"][0]) == 2  # one image per prompt for the figure
    assert means["sd15"] == pytest.approx(table["CLIP-T (ours)"].mean())
    assert chapter.prompt_baselines([], "ci", clip, prompts, **kwargs) == (None, {}, {})


def test_synthetic_dataset_resumes_into_the_same_folder_and_its_cost_row(tmp_path, monkeypatch):
    monkeypatch.setenv("TOONLAB_CACHE", str(tmp_path))
    clip = zoo.load("clip", "ci", seed=0)
    kwargs = dict(names_file=None, n_names=2, per_name=2, seed=0, steps=2, size=32, batch_size=4, device="cpu")
    first = chapter.synthetic_dataset("sd15", "ci", clip, **kwargs)
    assert first.report.total == 4 and len(first.manifest) == 4 and str(first.folder).startswith(str(tmp_path))
    again = chapter.synthetic_dataset("sd15", "ci", clip, **kwargs)
    assert again.folder == first.folder and again.report.generated == 0 and again.clip_t == first.clip_t
    table = chapter.cost_table({}, 32, batch_size=2, measured_steps=1, device="cpu", synthetic=first,
                               gen_model="sd15", gen_size=32, gen_steps=2, gen_batch=4)
    assert list(table["model"])[:2] == ["DCGAN (Comics)", "FastGAN (PopYou, ToyHollyWood)"]
    assert table["model"].iloc[2].startswith("sd15: ") and table["× time per image"].iloc[0] == 1


def test_schedule_table_states_each_schedule():
    table = chapter.schedule_table(["t300", "t1000"], {"resolution": 16, "block_out_channels": (16, 32),
                                                       "norm_num_groups": 8})
    assert list(table["T"]) == [300, 1000] and list(table["schedule"]) == list(chapter.SCHEDULE_LABELS.values())
    assert (table["sqrt(abar_T)"] > 0).all() and table["sqrt(abar_T)"].iloc[0] > table["sqrt(abar_T)"].iloc[1]
