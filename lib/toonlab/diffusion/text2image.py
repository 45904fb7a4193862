"""Text-to-image baselines: a diffusers pipeline (SD 1.5, SDXL) on fixed prompts and seeds, scored by CLIP-T.

The images come from the same code path as the synthetic data sets (:mod:`toonlab.diffusion.generate`):
image ``i`` of a prompt list has its own seed ``image_seed(seed, i)``, so a baseline image can be
regenerated alone from its manifest row.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pandas as pd
import torch

from toonlab.diffusion.generate import GenerationJob, _call_pipeline


def generate_images(pipe: Any, job: GenerationJob, batch_size: int = 4) -> tuple[list[Any], list[str]]:
    """All images of ``job`` in memory (PIL), with the prompt of each — for small baselines, not data sets."""
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    images: list[Any] = []
    for first in range(0, len(job), batch_size):
        indices = list(range(first, min(first + batch_size, len(job))))
        images.extend(_call_pipeline(pipe, job, indices))
    return images, [job.prompt(i) for i in range(len(job))]


def clip_t_per_prompt(clip: Any, images: Sequence[Any] | torch.Tensor, texts: Sequence[str],
                      reported: dict[str, float] | None = None) -> pd.DataFrame:
    """CLIP-T (cosine, ×1 as PopYou reports it) per prompt: mean, std and n over that prompt's images.

    ``reported`` maps a prompt to a source's number, shown beside ours.
    """
    from toonlab.metrics.clip_score import clip_t

    score = clip_t(clip, images if isinstance(images, torch.Tensor) else list(images), list(texts))
    frame = pd.DataFrame({"prompt": list(texts), "clip_t": score.per_item})
    table = frame.groupby("prompt", sort=False)["clip_t"].agg(["mean", "std", "count"]).reset_index()
    table = table.rename(columns={"mean": "CLIP-T (ours)", "std": "std", "count": "images"})
    table["std"] = table["std"].fillna(0.0)
    if reported is not None:
        table.insert(1, "CLIP-T (reported)", [reported.get(p) for p in table["prompt"]])
    return table


__all__ = ["clip_t_per_prompt", "generate_images"]
