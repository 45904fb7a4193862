"""The loss log: every logged value by name and step, kept columnar so a checkpoint stores it as tensors."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import torch


class LossLog:
    """``{name: ([steps], [values])}`` with helpers to checkpoint it and to plot it."""

    def __init__(self) -> None:
        self.series: dict[str, tuple[list[int], list[float]]] = {}

    def record(self, step: int, values: Mapping[str, float]) -> None:
        for name, value in values.items():
            steps, vals = self.series.setdefault(name, ([], []))
            steps.append(int(step))
            vals.append(float(value))

    def last(self) -> dict[str, float]:
        return {name: vals[-1] for name, (_steps, vals) in self.series.items() if vals}

    def values(self, name: str) -> list[float]:
        if name not in self.series:
            raise KeyError(f"no logged series {name!r}; logged: {sorted(self.series)}")
        return list(self.series[name][1])

    def state_dict(self) -> dict[str, Any]:
        return {name: {"step": torch.tensor(steps, dtype=torch.int64), "value": torch.tensor(vals, dtype=torch.float64)}
                for name, (steps, vals) in self.series.items()}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        self.series = {name: (entry["step"].tolist(), entry["value"].tolist()) for name, entry in state.items()}

    def to_frame(self):
        """Long format: one row per (step, name, value)."""
        import pandas as pd

        rows = [(s, name, v) for name, (steps, vals) in self.series.items() for s, v in zip(steps, vals)]
        frame = pd.DataFrame(rows, columns=["step", "name", "value"])
        return frame.sort_values(["name", "step"], kind="stable").reset_index(drop=True)

    def to_csv(self) -> str:
        return self.to_frame().to_csv(index=False)


def check_finite(step: int, values: Mapping[str, float]) -> None:
    bad = {name: value for name, value in values.items() if not math.isfinite(value)}
    if bad:
        raise FloatingPointError(
            f"non-finite loss at step {step}: {bad}; lower the learning rate, disable mixed precision, or "
            "resume from an earlier checkpoint"
        )
