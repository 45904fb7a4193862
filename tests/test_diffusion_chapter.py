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
