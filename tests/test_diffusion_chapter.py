"""Chapter 04's steps on tiny settings: both schedules trained, re-run reloads instead of retraining,
changed settings get a new folder, samples per (schedule, sampler), figures."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import pytest
import torch
from torch.utils.data import TensorDataset

from toonlab.chapters import diffusion as chapter

MODEL = {"resolution": 16, "block_out_channels": (16, 32), "norm_num_groups": 8, "layers_per_block": 1,
         "attention_resolutions": ()}
SETTINGS = dict(model=MODEL, steps=4, batch_size=2, seed=0, ema_decay=0.5, grid_every=2, grid_n=2, grid_steps=2,
                checkpoint_every=2, log_every=2, progress=False)


def data() -> TensorDataset:
    return TensorDataset(torch.rand(4, 3, 16, 16, generator=torch.Generator().manual_seed(0)), torch.zeros(4))


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    root = tmp_path_factory.mktemp("runs")
    return root, chapter.train_schedules(data(), ["t300", "t1000"], root, **SETTINGS)


def test_both_schedules_train_with_their_own_T_and_loss(trained):
    _root, runs = trained
    assert {k: (r.config.num_train_timesteps, r.config.loss) for k, r in runs.items()} == \
        {"t300": (300, "l1"), "t1000": (1000, "mse")}
    assert all(r.result.step == 4 and r.result.resumed_from is None for r in runs.values())


def test_rerun_reloads_and_changed_settings_start_a_new_run(trained):
    root, runs = trained
    again = chapter.train_schedules(data(), ["t300"], root, **SETTINGS)
    assert again["t300"].result.resumed_from == 4
    assert again["t300"].trainer.out_dir == runs["t300"].trainer.out_dir
    assert again["t300"].result.history.series == runs["t300"].result.history.series
    changed = chapter.train_schedules(data(), ["t300"], root, **{**SETTINGS, "steps": 2, "checkpoint_every": 2})
    assert changed["t300"].trainer.out_dir != runs["t300"].trainer.out_dir
    assert changed["t300"].result.resumed_from is None


def test_samples_and_figures(trained):
    _root, runs = trained
    samples = chapter.sample_all(runs, 3, seed=1, ddpm_steps=2, ddim_steps=2, batch_size=3, progress=False)
    assert list(samples) == [("t300", "DDPM-2"), ("t300", "DDIM-2"), ("t1000", "DDPM-2"), ("t1000", "DDIM-2")]
    assert all(images.shape == (3, 3, 16, 16) for images in samples.values())
    for fig in (chapter.loss_figure(runs), chapter.grids_figure(runs), chapter.samples_figure(samples, n_show=3)):
        assert fig.axes
    assert [step for step, _ in runs["t300"].grids()] == [0, 2, 4]


def test_ddim_runs_once_per_eta_and_eta_adds_noise(trained):
    _root, runs = trained
    samples = chapter.sample_all({"t300": runs["t300"]}, 2, seed=1, ddpm_steps=2, ddim_steps=3, batch_size=2,
                                 ddim_etas=(0.0, 1.0), progress=False)
    assert list(samples) == [("t300", "DDPM-2"), ("t300", "DDIM-3"), ("t300", "DDIM-3 η=1")]
    # the same seeds: eta 1 differs from deterministic DDIM only through the noise it adds back
    assert not torch.allclose(samples[("t300", "DDIM-3")], samples[("t300", "DDIM-3 η=1")])
    again = chapter.sample_all({"t300": runs["t300"]}, 2, seed=1, ddpm_steps=2, ddim_steps=3, batch_size=2,
                               ddim_etas=(1.0,), progress=False)
    torch.testing.assert_close(again[("t300", "DDIM-3 η=1")], samples[("t300", "DDIM-3 η=1")])  # seeded noise
    with pytest.raises(ValueError, match="ddim_etas is empty"):
        chapter.sample_all(runs, 2, seed=1, ddpm_steps=2, ddim_steps=3, batch_size=2, ddim_etas=(), progress=False)
    with pytest.raises(ValueError, match=r"eta must be in \[0, 1\]"):
        chapter.sample_all(runs, 2, seed=1, ddpm_steps=2, ddim_steps=3, batch_size=2, ddim_etas=(1.5,), progress=False)


def test_network_table_says_reduced_unless_the_profile_uses_the_papers_network():
    table = chapter.network_table(MODEL)
    assert table["network"].iloc[1].endswith("(reduced: differs from the paper's where the values differ)")
    assert table["parameters (M)"].iloc[0] == pytest.approx(35.75, abs=0.01)
    assert table["block_out_channels"].iloc[1] == "[16, 32]"
    paper = chapter.network_table({"resolution": 32, "dropout": 0.1})  # the preset at 32 px + the paper's dropout
    assert paper["network"].iloc[1] == "this profile (the paper's network)"


def test_cost_gans_come_at_the_stated_scale():
    tiny = chapter.cost_gans("tiny", 32)
    source = chapter.cost_gans("source", 32)
    assert set(tiny) == set(source) == {"DCGAN (Comics)", "FastGAN (PopYou, ToyHollyWood)"}
    assert tiny["FastGAN (PopYou, ToyHollyWood)"][2] == 64 and tiny["DCGAN (Comics)"][2] == 32
    count = lambda m: sum(p.numel() for p in m.parameters())  # noqa: E731
    assert count(tiny["FastGAN (PopYou, ToyHollyWood)"][0]) * 10 < count(source["FastGAN (PopYou, ToyHollyWood)"][0])
    with pytest.raises(ValueError, match="use source, tiny or committed"):
        chapter.cost_gans("full", 32)


def test_gan_samples_are_resized_and_scored_beside_the_ddpm(trained, tmp_path):
    from toonlab.chapters import gan as gan_chapter

    preset = gan_chapter.scaled_preset("toyhollywood_fastgan", 64, tiny=True, steps=1, batch_size=2)
    run = gan_chapter.train_gan("toyhollywood_fastgan", preset, TensorDataset(torch.rand(4, 3, 64, 64), torch.zeros(4)),
                                tmp_path, seed=0, sample_every=1, n_samples=2, progress=False)
    generator, meta = gan_chapter.load_generator(run.generator_path)
    gans = {"FastGAN (test)": (generator, meta)}
    samples = chapter.gan_samples(gans, 3, seed=0, resolution=16)
    assert list(samples) == [("FastGAN (test)", "generator, 64 → 16 px")]
    images = samples[("FastGAN (test)", "generator, 64 → 16 px")]
    assert images.shape == (3, 3, 16, 16) and 0 <= images.min() and images.max() <= 1
    _, runs = trained
    cost = __import__("pandas").DataFrame([{"model": "toyhollywood_fastgan", "train s/step (this run)": 2.0}])
    presets = __import__("pandas").DataFrame([{"label": "ours · cpu", "preset": "toyhollywood_fastgan", "batch": 8}])
    budget = chapter.budget_table(runs, 2, gans, cost, presets)
    assert list(budget["model"]) == ["DDPM T=300 (ToyHollyWood)", "DDPM T=1000 (Ho et al.)", "FastGAN (test)"]
    gan_row = budget.iloc[2]
    assert gan_row["steps"] == 1 and gan_row["train s/step"] == 2.0 and gan_row["train minutes"] == pytest.approx(0.0, abs=0.1)
    assert gan_row["batch"] == 8 and gan_row["images seen"] == 8  # chapter 03's batch, from its presets table
    unknown = chapter.budget_table(runs, 2, gans, None, None).iloc[2]  # no chapter 03 results: empty, not guessed
    assert __import__("pandas").isna(unknown["batch"]) and __import__("pandas").isna(unknown["train s/step"])
    assert budget.iloc[0]["images seen"] == 4 * 2
