"""Atomic safetensors checkpoints of a whole training state, and weights-only exports.

A checkpoint is ONE ``.safetensors`` file: every tensor of the nested training state (model and EMA
weights, optimizer moments, RNG states, the loss log) is a safetensors entry, and the rest of the
structure (steps, learning rates, betas, dict keys that are ints) is JSON in the file's metadata.
Written here rather than with ``accelerate.save_state`` because that writes several files non-atomically
and pickles optimizer and RNG state (loading it needs ``torch.load(weights_only=False)``); one file
written through :mod:`toonlab.atomic` is either complete or absent, and loading it executes no code.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from safetensors import safe_open
from safetensors.torch import save_file
from torch import nn

from toonlab import atomic

FORMAT = "toonlab.checkpoint/1"
_META_KEY = "toonlab"
_NAME = re.compile(r"^step-(\d{8})\.safetensors$")


class CheckpointError(RuntimeError):
    """A checkpoint cannot be read or does not fit the model it is loaded into."""


# ---------------------------------------------------------------------------------------------------
# nested state <-> (tensors, JSON skeleton)


def flatten(state: Any) -> tuple[dict[str, torch.Tensor], Any]:
    """Split a nested state into a flat ``{path: tensor}`` dict and a JSON skeleton that refers to it."""
    tensors: dict[str, torch.Tensor] = {}
    seen_storage: set[int] = set()

    def walk(value: Any, path: str) -> Any:
        if isinstance(value, torch.Tensor):
            tensor = value.detach().cpu().contiguous()
            # safetensors refuses tensors that share memory (tied weights, views): store a copy instead.
            if tensor.numel() > 0:
                if tensor.untyped_storage().data_ptr() in seen_storage:
                    tensor = tensor.clone()
                seen_storage.add(tensor.untyped_storage().data_ptr())
            tensors[path] = tensor
            return {"__tensor__": path}
        if isinstance(value, Mapping):
            if all(isinstance(k, str) for k in value) and "__tensor__" not in value:
                return {k: walk(v, f"{path}/{k}") for k, v in value.items()}
            # optimizer state is keyed by int parameter ids: keep the key types
            return {"__items__": [[k, walk(v, f"{path}/{k}")] for k, v in value.items()]}
        if isinstance(value, tuple):
            return {"__tuple__": [walk(v, f"{path}/{i}") for i, v in enumerate(value)]}
        if isinstance(value, list):
            return [walk(v, f"{path}/{i}") for i, v in enumerate(value)]
        if value is None or isinstance(value, (bool, int, float, str)):
            return value
        if hasattr(value, "item") and getattr(value, "ndim", None) == 0:  # numpy scalars
            return value.item()
        raise TypeError(f"cannot checkpoint a {type(value).__name__} at {path!r}; use tensors or JSON values")

    skeleton = walk(state, "")
    return tensors, skeleton


def unflatten(tensors: Mapping[str, torch.Tensor], skeleton: Any) -> Any:
    """Inverse of :func:`flatten`."""
    if isinstance(skeleton, dict):
        if set(skeleton) == {"__tensor__"}:
            return tensors[skeleton["__tensor__"]]
        if set(skeleton) == {"__items__"}:
            return {k: unflatten(tensors, v) for k, v in skeleton["__items__"]}
        if set(skeleton) == {"__tuple__"}:
            return tuple(unflatten(tensors, v) for v in skeleton["__tuple__"])
        return {k: unflatten(tensors, v) for k, v in skeleton.items()}
    if isinstance(skeleton, list):
        return [unflatten(tensors, v) for v in skeleton]
    return skeleton


# ---------------------------------------------------------------------------------------------------
# files


def save(path: str | Path, state: Mapping[str, Any]) -> Path:
    """Write a nested training state to one safetensors file, atomically."""
    tensors, skeleton = flatten(dict(state))
    metadata = {_META_KEY: json.dumps({"format": FORMAT, "state": skeleton})}
    with atomic.atomic_path(path) as tmp:
        save_file(tensors, str(tmp), metadata=metadata)
    return Path(path)


def load(path: str | Path) -> dict[str, Any]:
    """Read a state written by :func:`save` (tensors on CPU)."""
    path = Path(path)
    try:
        with safe_open(str(path), framework="pt", device="cpu") as handle:
            metadata = handle.metadata() or {}
            tensors = {key: handle.get_tensor(key) for key in handle.keys()}
    except Exception as error:  # safetensors raises its own error types for damaged headers
        raise CheckpointError(
            f"checkpoint {path} is unreadable ({error}); delete it to resume from the previous checkpoint"
        ) from error
    if _META_KEY not in metadata:
        raise CheckpointError(f"{path} is a safetensors file but not a toonlab training checkpoint")
    document = json.loads(metadata[_META_KEY])
    if document.get("format") != FORMAT:
        raise CheckpointError(f"{path} has checkpoint format {document.get('format')!r}; expected {FORMAT!r}")
    return unflatten(tensors, document["state"])


def step_path(folder: str | Path, step: int) -> Path:
    return Path(folder) / f"step-{step:08d}.safetensors"


def list_checkpoints(folder: str | Path) -> list[tuple[int, Path]]:
    """``(step, path)`` of every complete checkpoint in ``folder``, oldest first (temp files ignored)."""
    folder = Path(folder)
    if not folder.is_dir():
        return []
    found = [(int(m.group(1)), p) for p in folder.iterdir() if (m := _NAME.match(p.name))]
    return sorted(found)


def latest(folder: str | Path) -> Path | None:
    found = list_checkpoints(folder)
    return found[-1][1] if found else None


def prune(folder: str | Path, keep: int) -> None:
    """Delete all but the newest ``keep`` checkpoints."""
    for _step, path in list_checkpoints(folder)[:-keep] if keep > 0 else []:
        path.unlink(missing_ok=True)


# ---------------------------------------------------------------------------------------------------
# weights-only exports (what later chapters load: an EMA generator and its config)


def save_weights(path: str | Path, module: nn.Module, config: Mapping[str, Any] | None = None) -> Path:
    """Save a module's state dict (and a JSON config) as safetensors, atomically."""
    tensors, skeleton = flatten(module.state_dict())
    if not all(isinstance(v, dict) and "__tensor__" in v for v in skeleton.values()):
        raise TypeError("save_weights stores tensors only; this state dict holds other values")
    metadata = {_META_KEY: json.dumps({"format": "toonlab.weights/1", "config": dict(config or {})})}
    tensors = {key.lstrip("/"): value for key, value in tensors.items()}
    with atomic.atomic_path(path) as tmp:
        save_file(tensors, str(tmp), metadata=metadata)
    return Path(path)


def load_weights(path: str | Path) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """``(state_dict, config)`` from a file written by :func:`save_weights`."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no weights file at {path}; train the model first or fix the path")
    with safe_open(str(path), framework="pt", device="cpu") as handle:
        metadata = handle.metadata() or {}
        tensors = {key: handle.get_tensor(key) for key in handle.keys()}
    config = json.loads(metadata.get(_META_KEY, "{}")).get("config", {})
    return tensors, config
