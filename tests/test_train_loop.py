"""The shared training loop: exact resume after a crash or a kill, checkpoints, callbacks, NaN guard.

Run as a script (``python tests/test_train_loop.py OUT KILL_AT``) it trains the toy task and SIGKILLs
itself at step KILL_AT: the fault-injection test uses that to kill a real process mid-run.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn
from torch.utils.data import TensorDataset

from conftest import FailAt
from toonlab.train import Callback, CheckpointError, Task, Trainer, TrainConfig
from toonlab.train import checkpoint as ckpt

STEPS = 12


class ToyGANTask(Task):
    """A two-player toy with every source of randomness a real task has: torch noise, dropout,
    NumPy and Python ``random`` draws, Adam moments, BatchNorm buffers and extra task state."""

    def __init__(self, init_seed: int = 0) -> None:
        torch.manual_seed(init_seed)
        generator = nn.Sequential(nn.Linear(4, 16), nn.BatchNorm1d(16), nn.ReLU(), nn.Dropout(0.2), nn.Linear(16, 12))
        critic = nn.Sequential(nn.Linear(12, 8), nn.LeakyReLU(0.2), nn.Linear(8, 1))
        self.models = {"G": generator, "D": critic}
        self.optimizers = {
            "G": torch.optim.Adam(generator.parameters(), lr=1e-2, betas=(0.5, 0.99)),
            "D": torch.optim.Adam(critic.parameters(), lr=1e-2, betas=(0.5, 0.99)),
        }
        self.steps_seen = 0

    def train_step(self, batch, step, accelerator):
        real, _labels = batch
        real = real.flatten(1) * (1.0 + 0.1 * np.random.rand() + 0.1 * random.random())
        G, D = self.models["G"], self.models["D"]
        fake = G(torch.randn(real.shape[0], 4, device=real.device))
        loss_d = nn.functional.softplus(D(fake.detach())).mean() + nn.functional.softplus(-D(real)).mean()
        self.optimizers["D"].zero_grad(set_to_none=True)
        accelerator.backward(loss_d)
        self.optimizers["D"].step()
        loss_g = nn.functional.softplus(-D(fake)).mean()
        self.optimizers["G"].zero_grad(set_to_none=True)
        accelerator.backward(loss_g)
        self.optimizers["G"].step()
        self.steps_seen += 1
        return {"loss_d": loss_d.detach(), "loss_g": loss_g.detach()}

    def state_dict(self):
        return {"steps_seen": self.steps_seen}

    def load_state_dict(self, state):
        self.steps_seen = state["steps_seen"]


def toy_dataset() -> TensorDataset:
    generator = torch.Generator().manual_seed(123)
    return TensorDataset(torch.rand(10, 3, 2, 2, generator=generator), torch.arange(10))


def toy_config(**overrides) -> TrainConfig:
    settings = dict(steps=STEPS, batch_size=4, seed=7, ema={"G": 0.9}, checkpoint_every=4, log_every=1,
                    keep_checkpoints=5, progress=False)
    settings.update(overrides)
    return TrainConfig(**settings)


class NoisyWatcher(Callback):
    """A callback that draws from every generator (as a sampling callback would)."""

    every = 2
    at_start = True

    def __call__(self, trainer, step):
        torch.randn(100), np.random.rand(5), random.random()
        return {"watched": float(step)}


def run(out_dir: Path, callbacks=(), init_seed: int = 0, **overrides):
    task = ToyGANTask(init_seed)
    trainer = Trainer(task, toy_dataset(), toy_config(**overrides), out_dir, callbacks=callbacks)
    return trainer, trainer.fit()


def final_weights(trainer: Trainer) -> dict[str, torch.Tensor]:
    weights = {f"G.{k}": v.clone() for k, v in trainer.unwrap("G").state_dict().items()}
    weights.update({f"ema.{k}": v.clone() for k, v in trainer.model("G").state_dict().items()})
    return weights


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory):
    trainer, result = run(tmp_path_factory.mktemp("straight"))
    return result.history.series, final_weights(trainer), trainer.task.steps_seen


def assert_same_run(series, weights, reference) -> None:
    ref_series, ref_weights, _ = reference
    assert series.keys() == ref_series.keys()
    for name in ref_series:
        assert series[name] == ref_series[name], f"{name} differs after resume"  # exact float equality
    for key, value in ref_weights.items():
        assert torch.equal(weights[key], value), key


def test_uninterrupted_run_logs_every_step(uninterrupted):
    series, _weights, steps_seen = uninterrupted
    assert series["loss_d"][0] == list(range(1, STEPS + 1))
    assert steps_seen == STEPS
    assert all(np.isfinite(series["loss_g"][1]))


def test_resume_after_crash_is_bit_identical(tmp_path, uninterrupted):
    with pytest.raises(KeyboardInterrupt):
        run(tmp_path, callbacks=[FailAt(6)])
    assert [s for s, _ in ckpt.list_checkpoints(tmp_path / "checkpoints")] == [4]
    # A different init seed proves the weights come from the checkpoint, not from re-initialisation.
    trainer, result = run(tmp_path, init_seed=99)
    assert result.resumed_from == 4 and result.step == STEPS
    assert trainer.task.steps_seen == STEPS
    assert_same_run(result.history.series, final_weights(trainer), uninterrupted)


def test_resume_after_sigkill_is_bit_identical(tmp_path, uninterrupted):
    done = subprocess.run([sys.executable, __file__, str(tmp_path), "7"], capture_output=True, text=True,
                          timeout=120, env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert done.returncode == -signal.SIGKILL, done.stderr[-2000:]
    assert [s for s, _ in ckpt.list_checkpoints(tmp_path / "checkpoints")] == [4]
    trainer, result = run(tmp_path)
    assert result.resumed_from == 4
    assert_same_run(result.history.series, final_weights(trainer), uninterrupted)


def test_crash_while_writing_a_checkpoint_leaves_the_previous_one(tmp_path, uninterrupted, monkeypatch):
    real_save = ckpt.save_file
    calls = {"n": 0}

    def dying_save(tensors, filename, metadata=None):
        calls["n"] += 1
        if calls["n"] == 2:  # the step-8 checkpoint: write half a file, then die
            Path(filename).write_bytes(b"\x00" * 100)
            raise OSError("disk full (simulated)")
        return real_save(tensors, filename, metadata=metadata)

    monkeypatch.setattr(ckpt, "save_file", dying_save)
    with pytest.raises(OSError, match="simulated"):
        run(tmp_path)
    monkeypatch.setattr(ckpt, "save_file", real_save)
    leftovers = sorted(p.name for p in (tmp_path / "checkpoints").iterdir())
    assert leftovers == ["step-00000004.safetensors"], leftovers  # no half file, no temp file
    trainer, result = run(tmp_path)
    assert_same_run(result.history.series, final_weights(trainer), uninterrupted)


def test_callbacks_do_not_change_training(tmp_path, uninterrupted):
    trainer, result = run(tmp_path, callbacks=[NoisyWatcher()])
    series = dict(result.history.series)
    assert series.pop("watched")[0] == [0, 2, 4, 6, 8, 10, 12]
    assert_same_run(series, final_weights(trainer), uninterrupted)


def test_finished_run_is_not_trained_again(tmp_path):
    run(tmp_path, steps=4)
    trainer, result = run(tmp_path, steps=4)
    assert result.resumed_from == 4 and result.step == 4
    assert trainer.task.steps_seen == 4  # restored from the checkpoint, no step run again
    assert result.history.series["loss_d"][0] == [1, 2, 3, 4]
    assert (tmp_path / "history.csv").read_text().startswith("step,name,value")


def test_resume_refuses_changed_settings(tmp_path):
    run(tmp_path, steps=4)
    with pytest.raises(CheckpointError, match="batch_size"):
        run(tmp_path, steps=8, batch_size=2)


def test_damaged_checkpoint_is_reported_with_the_fix(tmp_path):
    run(tmp_path, steps=4)
    (tmp_path / "checkpoints" / "step-00000004.safetensors").write_bytes(b"garbage")
    with pytest.raises(CheckpointError, match="delete it"):
        run(tmp_path, steps=8)


def test_old_checkpoints_are_pruned(tmp_path):
    run(tmp_path, keep_checkpoints=2)
    assert [s for s, _ in ckpt.list_checkpoints(tmp_path / "checkpoints")] == [8, 12]


def test_log_windows_average_the_steps(tmp_path, uninterrupted):
    _trainer, result = run(tmp_path, log_every=4, checkpoint_every=4)
    steps, values = result.history.series["loss_d"]
    per_step = uninterrupted[0]["loss_d"][1]
    assert steps == [4, 8, 12]
    assert values[0] == pytest.approx(np.mean(per_step[:4]), rel=1e-6)


def test_non_finite_loss_stops_with_a_clear_error(tmp_path):
    class Exploding(ToyGANTask):
        def train_step(self, batch, step, accelerator):
            losses = super().train_step(batch, step, accelerator)
            return {**losses, "loss_g": losses["loss_g"] * float("nan")}

    trainer = Trainer(Exploding(), toy_dataset(), toy_config(steps=2), tmp_path)
    with pytest.raises(FloatingPointError, match="step 1.*loss_g"):
        trainer.fit()


def test_config_validation_names_the_problem():
    with pytest.raises(ValueError, match="multiple of log_every"):
        toy_config(checkpoint_every=5, log_every=2)
    with pytest.raises(ValueError, match="mixed_precision"):
        toy_config(mixed_precision="fp8")
    with pytest.raises(ValueError, match="EMA requested"):
        Trainer(ToyGANTask(), toy_dataset(), toy_config(ema={"E": 0.9}), "/tmp/unused")


def test_export_writes_the_ema_generator(tmp_path):
    from toonlab.train import load_weights

    trainer, _ = run(tmp_path, steps=4)
    path = trainer.export("G", tmp_path / "G.safetensors", config={"latent": 4})
    state, config = load_weights(path)
    assert config == {"latent": 4}
    for key, value in trainer.model("G").state_dict().items():
        assert torch.equal(state[key], value)


def test_sample_grids_and_metrics_over_training(tmp_path, uninterrupted):
    from toonlab.train import Metrics, SampleGrid, read_grids

    def sample(trainer):
        G = trainer.model("G")
        z = torch.randn(4, 4, generator=torch.Generator().manual_seed(0))
        return torch.sigmoid(G(z)).view(4, 3, 2, 2)

    grids = SampleGrid(sample, every=4)
    metrics = Metrics(lambda trainer, step: {"mean_weight": trainer.unwrap("D")[0].weight.mean()}, every=6)
    with pytest.raises(KeyboardInterrupt):
        run(tmp_path, callbacks=[grids, metrics, FailAt(10)])
    trainer, result = run(tmp_path, callbacks=[grids, metrics])
    saved = read_grids(tmp_path / "samples")
    assert [step for step, _ in saved] == [0, 4, 8, 12]  # step 8 written twice (before and after resume), once on disk
    assert saved[0][1].size == (2 * 2 + 2 * 3, 2 * 2 + 2 * 3)  # 2x2 grid of 2x2 images with 2 px padding
    assert result.history.series["mean_weight"][0] == [6, 12]
    series = {k: v for k, v in result.history.series.items() if k != "mean_weight"}
    assert_same_run(series, final_weights(trainer), uninterrupted)


def test_mixed_precision_can_change_between_runs_in_one_process(tmp_path):
    trainer, result = run(tmp_path / "bf16", mixed_precision="bf16", steps=4)
    assert trainer.accelerator.mixed_precision == "bf16"
    assert all(np.isfinite(result.history.series["loss_d"][1]))
    trainer, _ = run(tmp_path / "fp32", steps=2)  # and back: accelerate's state is re-initialised
    assert trainer.accelerator.mixed_precision == "no"


if __name__ == "__main__":  # the fault-injection child: train, SIGKILL itself at step argv[2]
    torch.set_num_threads(1)
    run(Path(sys.argv[1]), callbacks=[FailAt(int(sys.argv[2]), sigkill=True)])
