"""Capture and restore every random-number generator a training step can touch.

Exact resume needs the generators in the state they had when the checkpoint was written: Python's
``random``, NumPy's legacy global generator, torch's CPU generator and every CUDA device's generator.
The captured state is a plain nested structure of tensors and JSON values, so a checkpoint can store it.
"""

from __future__ import annotations

import contextlib
import random
from collections.abc import Iterator
from typing import Any

import numpy as np
import torch


def capture() -> dict[str, Any]:
    """The state of all generators, as tensors and JSON-able values."""
    np_state = np.random.get_state(legacy=False)
    state: dict[str, Any] = {
        "python": random.getstate(),
        "numpy": {
            "bit_generator": np_state["bit_generator"],
            "key": torch.from_numpy(np_state["state"]["key"].astype(np.int64)),
            "pos": int(np_state["state"]["pos"]),
            "has_gauss": int(np_state["has_gauss"]),
            "gauss": float(np_state["gauss"]),
        },
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def restore(state: dict[str, Any]) -> None:
    """Put every generator back into ``state`` (as returned by :func:`capture`)."""
    version, internal, gauss = state["python"]
    random.setstate((version, tuple(internal), gauss))
    np_state = state["numpy"]
    np.random.set_state({
        "bit_generator": np_state["bit_generator"],
        "state": {"key": np_state["key"].numpy().astype(np.uint32), "pos": np_state["pos"]},
        "has_gauss": np_state["has_gauss"],
        "gauss": np_state["gauss"],
    })
    torch.set_rng_state(state["torch"])
    cuda_states = state.get("cuda")
    if cuda_states:
        if not torch.cuda.is_available() or torch.cuda.device_count() < len(cuda_states):
            raise RuntimeError(
                f"the checkpoint holds RNG states for {len(cuda_states)} CUDA device(s) but this machine has "
                f"{torch.cuda.device_count() if torch.cuda.is_available() else 0}; resume on the same kind of "
                "machine for an exact continuation, or start a new run"
            )
        torch.cuda.set_rng_state_all(cuda_states)


@contextlib.contextmanager
def isolated() -> Iterator[None]:
    """Run a block without disturbing any generator: sample grids and metrics must not change training."""
    state = capture()
    try:
        yield
    finally:
        restore(state)
