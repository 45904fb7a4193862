"""Pieces of the training loop: checkpoint encoding, RNG capture, EMA, step-indexed batches."""

from __future__ import annotations

import random

import numpy as np
import pytest
import torch
from torch import nn
from torch.utils.data import TensorDataset

from toonlab.train import EMA, CheckpointError, checkpoint, rng
from toonlab.train.data import StepBatchSampler, step_loader


def test_checkpoint_round_trip_keeps_types_and_bits(tmp_path):
    weight = torch.randn(3, 4)
    state = {
        "step": 17,
        "lr": 2e-4,
        "betas": (0.5, 0.999),
        "nothing": None,
        "flag": True,
        "name": "G",
        "optimizer": {"state": {0: {"step": torch.tensor(5.0), "exp_avg": torch.randn(3, 4, dtype=torch.float64)}},
                      "param_groups": [{"params": [0, 1], "lr": 1e-3}]},
        "weights": {"w": weight, "w_view": weight[1:], "empty": torch.zeros(0, 2), "half": torch.randn(2).half()},
        "python_rng": random.getstate(),
    }
    path = checkpoint.save(tmp_path / "a.safetensors", state)
    loaded = checkpoint.load(path)
    assert loaded["step"] == 17 and loaded["lr"] == 2e-4 and loaded["betas"] == (0.5, 0.999)
    assert loaded["nothing"] is None and loaded["flag"] is True and loaded["name"] == "G"
    assert list(loaded["optimizer"]["state"]) == [0]  # int keys stay ints
    assert loaded["optimizer"]["state"][0]["step"].ndim == 0
    for key in ("w", "w_view", "empty", "half"):
        assert torch.equal(loaded["weights"][key], state["weights"][key])
        assert loaded["weights"][key].dtype == state["weights"][key].dtype
    assert loaded["python_rng"] == state["python_rng"]


def test_checkpoint_refuses_unknown_objects(tmp_path):
    with pytest.raises(TypeError, match="cannot checkpoint a object at '/thing'"):
        checkpoint.save(tmp_path / "a.safetensors", {"thing": object()})
    assert not (tmp_path / "a.safetensors").exists()


def test_plain_safetensors_file_is_not_taken_for_a_checkpoint(tmp_path):
    from safetensors.torch import save_file

    save_file({"w": torch.zeros(1)}, str(tmp_path / "w.safetensors"))
    with pytest.raises(CheckpointError, match="not a toonlab training checkpoint"):
        checkpoint.load(tmp_path / "w.safetensors")


def test_list_checkpoints_ignores_temp_files(tmp_path):
    for step in (3, 12, 100):
        checkpoint.save(checkpoint.step_path(tmp_path, step), {"step": step})
    (tmp_path / ".step-00000200.safetensors.abc.tmp").write_bytes(b"partial")
    assert [s for s, _ in checkpoint.list_checkpoints(tmp_path)] == [3, 12, 100]
    assert checkpoint.latest(tmp_path).name == "step-00000100.safetensors"
    checkpoint.prune(tmp_path, keep=1)
    assert [s for s, _ in checkpoint.list_checkpoints(tmp_path)] == [100]


def test_rng_capture_restore_replays_every_generator():
    state = rng.capture()
    first = (torch.rand(3), np.random.rand(3), random.random(), np.random.randn())
    rng.restore(checkpoint.unflatten(*checkpoint.flatten(state)))  # through the checkpoint encoding
    second = (torch.rand(3), np.random.rand(3), random.random(), np.random.randn())
    assert torch.equal(first[0], second[0]) and np.array_equal(first[1], second[1])
    assert first[2] == second[2] and first[3] == second[3]


def test_rng_isolated_block_leaves_generators_untouched():
    torch.manual_seed(0)
    expected = torch.rand(2)
    torch.manual_seed(0)
    with rng.isolated():
        torch.rand(1000)
    assert torch.equal(torch.rand(2), expected)


def test_ema_follows_the_formula_and_copies_buffers():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(3, 3), nn.BatchNorm1d(3))
    ema = EMA(model, decay=0.9)
    before = [p.detach().clone() for p in ema.module.parameters()]
    with torch.no_grad():
        for p in model.parameters():
            p.add_(1.0)
    model(torch.randn(8, 3))  # updates BatchNorm running statistics
    ema.update(model)
    for b, e, live in zip(before, ema.module.parameters(), model.parameters()):
        torch.testing.assert_close(e, 0.9 * b + 0.1 * live.detach())
    assert torch.equal(ema.module[1].running_mean, model[1].running_mean)
    assert not any(p.requires_grad for p in ema.module.parameters())
    with pytest.raises(ValueError, match="decay"):
        EMA(model, decay=1.0)


def test_batches_are_a_function_of_the_step():
    full = list(StepBatchSampler(10, 4, steps=9, seed=3))
    tail = list(StepBatchSampler(10, 4, steps=9, seed=3, start_step=5))
    assert tail == full[5:]
    # the stream is a sequence of permutations: each epoch of 10 indices holds every item once
    stream = [i for batch in full for i in batch]
    assert sorted(stream[:10]) == list(range(10)) and sorted(stream[10:20]) == list(range(10))
    assert list(StepBatchSampler(10, 4, steps=9, seed=4)) != full


def test_processes_split_each_global_batch():
    single = list(StepBatchSampler(10, 4, steps=5, seed=1))
    rank0 = list(StepBatchSampler(10, 2, steps=5, seed=1, rank=0, world_size=2))
    rank1 = list(StepBatchSampler(10, 2, steps=5, seed=1, rank=1, world_size=2))
    assert [a + b for a, b in zip(rank0, rank1)] == single


def test_a_dataset_smaller_than_the_batch_is_cycled():
    batches = list(StepBatchSampler(6, 8, steps=3, seed=0))
    assert all(len(b) == 8 for b in batches)
    stream = [i for b in batches for i in b]
    assert sorted(stream[:6]) == list(range(6))


def test_sampler_rejects_bad_input():
    with pytest.raises(ValueError, match="empty"):
        StepBatchSampler(0, 4, steps=1, seed=0)
    with pytest.raises(ValueError, match="rank"):
        StepBatchSampler(4, 4, steps=1, seed=0, rank=2, world_size=2)


def test_step_loader_does_not_touch_the_global_generator():
    dataset = TensorDataset(torch.arange(10.0))
    torch.manual_seed(0)
    expected = torch.rand(2)
    torch.manual_seed(0)
    batches = [b[0].tolist() for b in step_loader(dataset, 3, steps=4, seed=0)]
    assert len(batches) == 4
    assert torch.equal(torch.rand(2), expected)
