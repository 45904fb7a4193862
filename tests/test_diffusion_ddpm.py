"""DDPM from scratch: schedules, the training step (against a hand-written Algorithm 1), sampling
determinism, weights round trip, sample grids, and exact resume after a SIGKILL through the shared loop.

Run as a script (``python tests/test_diffusion_ddpm.py OUT KILL_AT``) it trains the tiny DDPM and SIGKILLs
itself at step KILL_AT (the fault-injection test).
"""

from __future__ import annotations

import copy
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from torch.utils.data import TensorDataset

from conftest import FailAt
from toonlab.diffusion import ddpm
from toonlab.diffusion.ddpm import DDPMConfig, DDPMTask, sample
from toonlab.diffusion.training import SampleGrid, grid_path, train_ddpm
from toonlab.train import TrainConfig
from toonlab.train import checkpoint as ckpt

STEPS = 8


def tiny_config(**overrides) -> DDPMConfig:
    settings = dict(resolution=16, block_out_channels=(16, 32), norm_num_groups=8, layers_per_block=1,
                    attention_resolutions=(8,), num_train_timesteps=20)
    settings.update(overrides)
    return DDPMConfig(**settings)


def tiny_images(n: int = 6, size: int = 16) -> TensorDataset:
    generator = torch.Generator().manual_seed(5)
    return TensorDataset(torch.rand(n, 3, size, size, generator=generator), torch.zeros(n, dtype=torch.long))


def train_config(**overrides) -> TrainConfig:
    settings = dict(steps=STEPS, batch_size=3, seed=3, ema={"unet": 0.9}, checkpoint_every=4, log_every=2,
                    keep_checkpoints=5, progress=False)
    settings.update(overrides)
    return TrainConfig(**settings)


class FakeAccelerator:
    """Just enough of accelerate's Accelerator for Task.train_step outside the loop."""

    @staticmethod
    def backward(loss: torch.Tensor) -> None:
        loss.backward()


# -- configuration -------------------------------------------------------------------------------


def test_schedules_are_the_source_and_the_paper():
    source, paper = DDPMConfig.from_schedule("t300"), DDPMConfig.from_schedule("t1000")
    assert (source.num_train_timesteps, source.loss) == (300, "l1")
    assert (paper.num_train_timesteps, paper.loss) == (1000, "mse")
    scheduler = ddpm.build_scheduler(source)
    betas = torch.linspace(1e-4, 0.02, 300, dtype=torch.float32)
    torch.testing.assert_close(scheduler.betas, betas)
    torch.testing.assert_close(scheduler.alphas_cumprod, torch.cumprod(1 - betas, 0))
    # the documented weakness of the source schedule: a fifth of the signal survives at t = T
    assert 0.2 < ddpm.signal_left_at_T(source) < 0.23
    assert ddpm.signal_left_at_T(paper) < 0.01


@pytest.mark.parametrize("resolution", sorted(ddpm.PRESETS))
def test_presets_build_unets_that_keep_the_shape(resolution):
    config = DDPMConfig(resolution=resolution)
    assert config.block_out_channels == ddpm.PRESETS[resolution]
    if resolution > 64:
        return  # building the big UNets is slow; their configs are checked above
    unet = ddpm.build_unet(config)
    x = torch.zeros(1, 3, resolution, resolution)
    assert unet(x, torch.tensor([3])).sample.shape == x.shape


@pytest.mark.parametrize("overrides, message", [
    (dict(resolution=20, block_out_channels=(32, 64, 64, 64)), "divisible by 2"),
    (dict(resolution=48), "no width preset"),
    (dict(loss="huber"), "loss must be one of"),
    (dict(block_out_channels=(12, 32)), "norm_num_groups"),
    (dict(beta_start=0.03), "beta_start < beta_end"),
    (dict(lr_halve_every=0), "lr_halve_every"),
])
def test_bad_configs_are_refused_with_the_fix(overrides, message):
    settings = dict(resolution=32) | overrides
    with pytest.raises(ValueError, match=message):
        DDPMConfig(**settings)


def test_unknown_schedule_and_config_round_trip():
    with pytest.raises(ValueError, match="unknown schedule"):
        DDPMConfig.from_schedule("cosine")
    config = tiny_config(lr_halve_every=5)
    assert DDPMConfig.from_dict(config.to_dict()) == config
    with pytest.raises(ValueError, match="unknown DDPMConfig fields"):
        DDPMConfig.from_dict({**config.to_dict(), "typo": 1})


# -- the training step ---------------------------------------------------------------------------


@pytest.mark.parametrize("loss", ["l1", "mse"])
def test_train_step_is_algorithm_1(loss):
    config = tiny_config(loss=loss, random_flip=True)
    task = DDPMTask(config, init_seed=0)
    reference_unet = copy.deepcopy(task.models["unet"])
    images = torch.rand(4, 3, 16, 16, generator=torch.Generator().manual_seed(1))

    torch.manual_seed(11)
    logged = task.train_step((images, None), 0, FakeAccelerator())["loss"]

    # the same draws, in the same order, by hand
    torch.manual_seed(11)
    x0 = images * 2 - 1
    flip = torch.rand(4) < 0.5
    x0 = torch.where(flip[:, None, None, None], x0.flip(-1), x0)
    t = torch.randint(0, config.num_train_timesteps, (4,))
    eps = torch.randn_like(x0)
    betas = torch.linspace(config.beta_start, config.beta_end, config.num_train_timesteps)
    abar = torch.cumprod(1 - betas, 0)[t][:, None, None, None]
    x_t = abar.sqrt() * x0 + (1 - abar).sqrt() * eps
    predicted = reference_unet(x_t, t).sample
    expected = (predicted - eps).abs().mean() if loss == "l1" else (predicted - eps).pow(2).mean()
    torch.testing.assert_close(logged, expected.detach(), rtol=1e-5, atol=1e-6)
    changed = any(not torch.equal(a, b) for a, b in zip(task.models["unet"].parameters(),
                                                          reference_unet.parameters()))
    assert changed, "the optimiser step did not change the UNet"


def test_training_lowers_the_loss_on_a_tiny_set():
    config = tiny_config(loss="mse", learning_rate=2e-3, random_flip=False)
    task = DDPMTask(config, init_seed=0)
    images = torch.rand(2, 3, 16, 16, generator=torch.Generator().manual_seed(2))
    # a fixed evaluation draw of (t, eps), so the before/after comparison has no sampling noise
    probe = torch.Generator().manual_seed(9)
    x0 = (images * 2 - 1).repeat(8, 1, 1, 1)
    t = torch.randint(0, config.num_train_timesteps, (16,), generator=probe)
    eps = torch.randn(x0.shape, generator=probe)

    @torch.no_grad()
    def held_out_loss() -> float:
        x_t = task.scheduler.add_noise(x0, eps, t)
        return torch.nn.functional.mse_loss(task.models["unet"](x_t, t).sample, eps).item()

    before = held_out_loss()
    torch.manual_seed(0)
    for step in range(30):
        task.train_step((images, None), step, FakeAccelerator())
    assert held_out_loss() < 0.8 * before


def test_bad_batches_are_refused():
    task = DDPMTask(tiny_config())
    with pytest.raises(ValueError, match=r"\(B, 3, 16, 16\)"):
        task.train_step((torch.rand(2, 3, 32, 32), None), 0, FakeAccelerator())


def test_step_lr_halves_as_the_source_step_lr():
    task = DDPMTask(tiny_config(lr_halve_every=10, learning_rate=1e-4))
    assert [task.learning_rate(s) for s in (0, 9, 10, 25)] == [1e-4, 1e-4, 5e-5, 2.5e-5]
    assert DDPMTask(tiny_config()).learning_rate(10_000) == 1e-4


# -- sampling ------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def tiny_unet():
    torch.manual_seed(0)
    return ddpm.build_unet(tiny_config())


@pytest.mark.parametrize("sampler", ["ddpm", "ddim"])
def test_sampling_shapes_range_and_determinism(tiny_unet, sampler):
    config = tiny_config()
    first = sample(tiny_unet, config, 3, seed=7, sampler=sampler, steps=4, batch_size=2)
    assert first.shape == (3, 3, 16, 16) and first.dtype == torch.float32
    assert first.min() >= 0 and first.max() <= 1
    again = sample(tiny_unet, config, 3, seed=7, sampler=sampler, steps=4, batch_size=3)
    torch.testing.assert_close(first, again, rtol=0, atol=1e-5)  # batch size does not matter
    offset = sample(tiny_unet, config, 2, seed=7, sampler=sampler, steps=4, start=1)
    torch.testing.assert_close(first[1:], offset, rtol=0, atol=1e-5)  # image i depends on (seed, i) only
    other = sample(tiny_unet, config, 3, seed=8, sampler=sampler, steps=4)
    assert (first - other).abs().max() > 1e-2
    assert len({ddpm.image_seed(s, i) for s in range(20) for i in range(20)}) == 400


def test_ddpm_default_steps_are_the_whole_chain(tiny_unet, monkeypatch):
    seen = {}
    real = ddpm.make_pipeline

    def spy(unet, config, sampler="ddpm"):
        pipe = real(unet, config, sampler)
        original = pipe.scheduler.set_timesteps

        def record(steps, *args, **kwargs):
            seen[sampler] = steps
            return original(steps, *args, **kwargs)

        pipe.scheduler.set_timesteps = record
        return pipe

    monkeypatch.setattr(ddpm, "make_pipeline", spy)
    sample(tiny_unet, tiny_config(), 1, seed=0)
    assert seen["ddpm"] == 20
    with pytest.raises(ValueError, match="steps must be in 1..T=20"):
        sample(tiny_unet, tiny_config(), 1, seed=0, steps=21)
    with pytest.raises(ValueError, match="sampler must be one of"):
        sample(tiny_unet, tiny_config(), 1, seed=0, sampler="euler")


def test_weights_round_trip(tmp_path, tiny_unet):
    config = tiny_config()
    path = ddpm.save_unet(tmp_path / "unet.safetensors", tiny_unet, config)
    unet, loaded = ddpm.load_unet(path)
    assert loaded == config
    for a, b in zip(unet.state_dict().values(), tiny_unet.state_dict().values()):
        assert torch.equal(a, b)
    from toonlab.train import save_weights

    save_weights(tmp_path / "other.safetensors", torch.nn.Linear(2, 2))
    with pytest.raises(ValueError, match="holds no DDPM config"):
        ddpm.load_unet(tmp_path / "other.safetensors")


# -- training through the shared loop: grids, export, exact resume after a kill -------------------


def run(out_dir: Path, callbacks=(), **overrides):
    return train_ddpm(tiny_images(), tiny_config(), train_config(**overrides), out_dir, grid_every=4, grid_n=4,
                      grid_steps=3, callbacks=callbacks)


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory):
    out = tmp_path_factory.mktemp("straight")
    result = run(out)
    weights = {k: v.clone() for k, v in result.unet.state_dict().items()}
    return out, result, weights


def test_training_writes_grids_history_and_ema_weights(uninterrupted):
    out, result, _weights = uninterrupted
    assert result.result.step == STEPS
    assert [step for step, _ in result.grids()] == [0, 4, 8]
    assert grid_path(out, 8).is_file()
    assert result.result.history.series["loss"][0] == [2, 4, 6, 8]
    unet, config = ddpm.load_unet(result.weights)
    assert config == result.config
    for key, value in unet.state_dict().items():
        assert torch.equal(value, result.unet.state_dict()[key])


def test_resume_after_sigkill_is_bit_identical(tmp_path, uninterrupted):
    _out, reference, reference_weights = uninterrupted
    done = subprocess.run([sys.executable, __file__, str(tmp_path), "6"], capture_output=True, text=True,
                          timeout=120, env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert done.returncode == -signal.SIGKILL, done.stderr[-2000:]
    assert [s for s, _ in ckpt.list_checkpoints(tmp_path / "checkpoints")] == [4]
    resumed = run(tmp_path)
    assert resumed.result.resumed_from == 4
    assert resumed.result.history.series == reference.result.history.series  # exact floats
    for key, value in reference_weights.items():
        assert torch.equal(resumed.unet.state_dict()[key], value), key


def test_sample_grid_callback_uses_fixed_seeds(tmp_path, tiny_unet):
    class Holder:
        @staticmethod
        def model(name):
            return tiny_unet

    grid = SampleGrid(tiny_config(), tmp_path, every=1, n=4, steps=2)
    grid(Holder(), 1)
    grid(Holder(), 2)
    assert grid_path(tmp_path, 1).read_bytes() == grid_path(tmp_path, 2).read_bytes()


if __name__ == "__main__":
    torch.set_num_threads(1)
    run(Path(sys.argv[1]), callbacks=[FailAt(int(sys.argv[2]), sigkill=True)])


def test_the_32px_preset_is_the_ddpm_papers_cifar10_network():
    config = DDPMConfig(**ddpm.PAPER_NETWORK_32)
    assert config.block_out_channels == ddpm.PRESETS[32] == (128, 256, 256, 256)
    from toonlab.metrics.cost import count_parameters

    assert abs(count_parameters(ddpm.build_unet(config)) / 1e6 - ddpm.PAPER_PARAMETERS_M) < 0.1  # 35.75 M
