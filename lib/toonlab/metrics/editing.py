"""How good a latent edit is: did the attribute change, did the image move with the text, what else changed.

Every function compares image i of ``originals`` with image i of ``edited`` (both (N, 3, H, W) in [0, 1]):

* :func:`edit_success` — the objective measure the source never had: among the images whose original
  lacks the target attribute (judged by the toon classifier, :class:`AttributeTest`), the share whose edit
  has it;
* :func:`clip_judge` — the same question asked of CLIP zero-shot (target prompt vs source prompt), for
  photos of faces in ``full`` where the toon classifier does not apply; always labelled as such;
* :func:`directional_clip` — StyleGAN-NADA / StyleCLIP's directional CLIP similarity: cosine between the
  image change ``E_I(X') - E_I(X)`` and the text change ``E_T(target) - E_T(source)`` (unit embeddings);
* preservation — :func:`toonlab.metrics.inversion.perceptual_distance` (LPIPS-toon offline) to the
  original, and :func:`untouched_agreement`: toon-classifier agreement on the heads the edit should not touch;
* :func:`success_at_preservation` — the global-c curve's success at a given preservation (linear between
  sweep points), to ask whether a per-image strength lands above the frontier.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from toonlab.metrics.checks import MetricInputError, check_pair


@dataclass(frozen=True)
class AttributeTest:
    """An attribute the toon classifier can check: present when ``head`` predicts one of ``positive``.
    ``related``: other heads an edit of it legitimately changes (hair colour for "bald"), left out of
    the preservation agreement."""

    name: str
    head: str
    positive: tuple[str, ...]
    related: tuple[str, ...] = ()

    def check(self, classifier: Any) -> None:
        heads = classifier.config.heads
        if self.head not in heads:
            raise MetricInputError(f"attribute {self.name!r} is read from head {self.head!r}, which the toon "
                                   f"classifier does not have; its heads are {sorted(heads)}")
        unknown = sorted(set(self.positive) - set(heads[self.head]))
        if unknown or not self.positive:
            raise MetricInputError(f"attribute {self.name!r}: classes {unknown or '(none)'} are not classes of head "
                                   f"{self.head!r} ({heads[self.head]})")


def attribute_present(classifier: Any, images: torch.Tensor, test: AttributeTest) -> torch.Tensor:
    """(N,) bool: does the toon classifier see the attribute in each image."""
    from toonlab.metrics.toon_features import predict

    test.check(classifier)
    predicted = predict(classifier, images, [test.head])[test.head]
    return torch.tensor([p in test.positive for p in predicted])


def edit_success(before: torch.Tensor, after: torch.Tensor) -> dict[str, float]:
    """From presence flags before and after the edit: ``success`` (among images without the attribute, the
    share that gained it; NaN when every original already had it), ``eligible`` (how many lacked it),
    ``present_after`` (share of all edited images with it)."""
    before, after = torch.as_tensor(before).bool(), torch.as_tensor(after).bool()
    if before.shape != after.shape:
        raise MetricInputError(f"{len(before)} originals but {len(after)} edits")
    eligible = ~before
    success = float(after[eligible].double().mean()) if eligible.any() else float("nan")
    return {"success": success, "eligible": int(eligible.sum()), "present_after": float(after.double().mean())}


def clip_judge(clip: Any, images: torch.Tensor, source: str, target: str) -> torch.Tensor:
    """(N,) bool: CLIP zero-shot — is each image closer to ``target`` than to ``source``."""
    from toonlab.metrics.clip_score import embed_images, embed_texts

    texts = embed_texts(clip, [source, target])
    scores = embed_images(clip, images) @ texts.T
    return (scores[:, 1] > scores[:, 0]).cpu()


def directional_clip(clip: Any, originals: torch.Tensor, edited: torch.Tensor, source: str, target: str) -> torch.Tensor:
    """(N,) cosine between ``E_I(edited) - E_I(original)`` and ``E_T(target) - E_T(source)``, unit embeddings
    (StyleGAN-NADA's directional loss, used as a metric by StyleCLIP and NADA). An unchanged image scores 0."""
    from toonlab.metrics.clip_score import embed_images, embed_texts

    check_pair(originals, edited, ("originals", "edited"))
    texts = embed_texts(clip, [source, target])
    text_change = texts[1] - texts[0]
    image_change = embed_images(clip, edited) - embed_images(clip, originals)
    norms = image_change.norm(dim=1) * text_change.norm()
    cos = (image_change @ text_change) / norms.clamp_min(1e-12)
    return torch.where(norms > 0, cos, torch.zeros_like(cos)).cpu()


def untouched_agreement(classifier: Any, originals: torch.Tensor, edited: torch.Tensor, heads: Sequence[str],
                        test: AttributeTest) -> float:
    """Mean toon-classifier agreement between original and edit over ``heads`` minus the edited head and
    its related ones: what the edit should have left alone."""
    from toonlab.metrics.inversion import attribute_agreement

    untouched = [h for h in heads if h != test.head and h not in test.related]
    if not untouched:
        raise MetricInputError(f"no heads left to check preservation of a {test.name!r} edit (heads {list(heads)})")
    return attribute_agreement(classifier, originals, edited, untouched)["mean"]


def success_at_preservation(curve_distance: Sequence[float], curve_success: Sequence[float], distance: float) -> float:
    """The success the global-c sweep reaches at perceptual distance ``distance``: linear between the sweep
    points, sorted by distance; outside the swept range, NaN (the curve says nothing there)."""
    x, y = np.asarray(curve_distance, dtype=float), np.asarray(curve_success, dtype=float)
    keep = np.isfinite(x) & np.isfinite(y)
    x, y = x[keep], y[keep]
    if len(x) < 2:
        raise MetricInputError("a success-vs-preservation curve needs at least two finite points")
    order = np.argsort(x, kind="stable")
    x, y = x[order], y[order]
    if distance < x[0] or distance > x[-1]:
        return float("nan")
    return float(np.interp(distance, x, y))
