"""The memoji metric table (MyMemoji reported none): identity, structure, style, prompt adherence.

Per set of memoji made from a set of photos:

* **identity** — dlib face descriptor distance photo -> memoji where both faces are detected, and both
  detection rates (:mod:`toonlab.metrics.face_identity`; optional, see there; stylised faces are often missed);
* **structure** — edge F1 between canny(photo) and canny(memoji resized to the photo's size), both with the
  source's thresholds 70/230 whatever thresholds the variant conditioned on (so every variant is scored against
  the same edges), with a tolerance of 0.75% of the image diagonal (the BSDS benchmark's default ``maxDist``);
* **style** — CLIP-I: mean cosine of each memoji to every image of a held-out memoji style set;
* **prompt adherence** — CLIP-T: cosine of each memoji to its own prompt.

The CLIP model is the book's ``clip`` role: ViT-L-14 in ``full``, ToonCLIP offline, a tiny random CLIP in
``ci`` — the caller labels the table with it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from PIL import Image

from toonlab.metrics.checks import MetricInputError
from toonlab.metrics.clip_score import clip_i, clip_t
from toonlab.metrics.edges import edge_f1

STRUCTURE_THRESHOLDS = (70, 230)  # the source's canny thresholds: the fixed reference edges of the metric
BSDS_MAX_DIST = 0.0075  # tolerance as a share of the diagonal (BSDS benchmark default)


def canny_map(image: Image.Image, low: int, high: int) -> np.ndarray:
    """Binary canny map of an RGB image (OpenCV, on the RGB array like the pipeline's preprocessor)."""
    import cv2

    return cv2.Canny(np.ascontiguousarray(np.asarray(image.convert("RGB"))), int(low), int(high)) > 0


def structure_f1(photo: Image.Image, output: Image.Image, thresholds: tuple[int, int] = STRUCTURE_THRESHOLDS,
                 max_dist: float = BSDS_MAX_DIST) -> float:
    """Edge F1 of the output's canny map against the photo's, the output resized to the photo's size."""
    resized = output.convert("RGB").resize(photo.size, Image.LANCZOS)
    tolerance = max(1.0, max_dist * float(np.hypot(*photo.size)))
    return edge_f1(canny_map(resized, *thresholds), canny_map(photo, *thresholds), tolerance=tolerance).f1


@dataclass
class MemojiScores:
    identity_distance: float | None
    identity_pairs: int
    photo_face_rate: float | None
    memoji_face_rate: float | None
    identity_note: str
    edge_f1: float
    style_clip_i: float
    clip_t: float

    def as_dict(self) -> dict[str, Any]:
        return dict(vars(self))


def score_memoji(photos: Sequence[Image.Image], outputs: Sequence[Image.Image], prompts: Sequence[str],
                 style_set: Sequence[Image.Image], clip: Any, face_models: Any | None = None) -> MemojiScores:
    """All four metrics of one variant. ``photos`` are the prepared inputs (what the pipeline saw);
    ``face_models=None`` skips identity (dlib missing) and says so in ``identity_note``."""
    if not (len(photos) == len(outputs) == len(prompts)) or not photos:
        raise MetricInputError(f"need as many photos, outputs and prompts (non-zero), got {len(photos)}, "
                               f"{len(outputs)}, {len(prompts)}")
    if not style_set:
        raise MetricInputError("the held-out style set is empty; CLIP-I needs reference memoji")
    edge = float(np.mean([structure_f1(p, o) for p, o in zip(photos, outputs)]))
    style = clip_i(clip, list(outputs), list(style_set)).mean
    prompt = clip_t(clip, list(outputs), list(prompts)).mean
    if face_models is None:
        return MemojiScores(None, 0, None, None, "dlib not installed", edge, style, prompt)
    from toonlab.metrics.face_identity import identity_scores

    identity = identity_scores(list(photos), list(outputs), face_models)
    note = (f"{identity.pairs_scored} of {len(photos)} pairs with a face on both sides" if identity.pairs_scored
            else "no pair with a face detected on both sides")
    return MemojiScores(identity.distance_mean, identity.pairs_scored, identity.photo_detection_rate,
                        identity.output_detection_rate, note, edge, style, prompt)


__all__ = ["BSDS_MAX_DIST", "MemojiScores", "STRUCTURE_THRESHOLDS", "canny_map", "score_memoji", "structure_f1"]
