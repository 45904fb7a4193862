"""Cost helper: timing excludes warm-up, throughput and latency agree, peak RSS sees an allocation."""

from __future__ import annotations

import time

import numpy as np
import pytest
import torch
from torch import nn

from toonlab.metrics.cost import cost_table, count_parameters, measure, parameter_table


def test_latency_and_throughput_come_from_the_timed_calls_only():
    calls = []

    def work():
        calls.append(1)
        time.sleep(0.05 if len(calls) > 1 else 0.5)  # a slow first call (warm-up) must not be timed

    cost = measure(work, images_per_call=5, warmup=1, repeats=3)
    assert len(calls) == 4
    assert cost.n_images == 15
    assert 0.15 <= cost.wall_s < 0.45
    assert cost.latency_s_per_image == pytest.approx(cost.wall_s / 15)
    assert cost.images_per_s == pytest.approx(15 / cost.wall_s)
    assert cost.device == "cpu" and cost.memory_kind == "cpu peak RSS (sampled)"
    table = cost_table({"sleep": cost})
    assert table.loc[0, "workload"] == "sleep" and table.loc[0, "images timed"] == 15
    assert table.loc[0, "latency (ms/image)"] == pytest.approx(1000 * cost.latency_s_per_image, abs=0.01)


def test_cpu_peak_memory_sees_a_temporary_allocation():
    size = 300 * 2**20

    def allocate():
        block = np.ones(size, dtype=np.uint8)  # touched pages: resident
        time.sleep(0.5)  # many sampling intervals: the sampler thread may wait for a core on a loaded machine
        del block

    cost = measure(allocate, images_per_call=1, warmup=0, repeats=1)
    assert cost.peak_memory_bytes - cost.baseline_memory_bytes > 0.8 * size
    assert cost.as_dict()["peak_memory_mib"] == pytest.approx(cost.peak_memory_bytes / 2**20, abs=0.1)


def test_parameter_counts_by_hand():
    model = nn.Sequential(nn.Linear(10, 5), nn.ReLU(), nn.Linear(5, 2))  # 55 + 12
    assert count_parameters(model) == 67
    model[0].requires_grad_(False)
    assert count_parameters(model, trainable_only=True) == 12
    shared = nn.Linear(4, 4)
    tied = nn.Sequential(shared, shared)  # the same tensor twice counts once
    assert count_parameters(tied) == 20
    table = parameter_table({"mlp": model, "tied": tied})
    assert table["parameters"].tolist() == [67, 20] and table["trainable"].tolist() == [12, 20]


def test_bad_arguments_are_rejected():
    with pytest.raises(ValueError, match="images_per_call"):
        measure(lambda: None, images_per_call=0)
    with pytest.raises(ValueError, match="repeats"):
        measure(lambda: None, images_per_call=1, repeats=0)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_peak_allocated_memory():
    def allocate():
        block = torch.ones(64 * 2**20, dtype=torch.uint8, device="cuda")
        del block

    cost = measure(allocate, images_per_call=1, device="cuda", warmup=0, repeats=1)
    assert cost.memory_kind == "cuda peak allocated"
    assert cost.peak_memory_bytes - cost.baseline_memory_bytes >= 64 * 2**20
