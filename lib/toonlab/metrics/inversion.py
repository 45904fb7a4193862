"""How well an inversion reproduces its input: GANInverter's metric set, on our images and networks.

Every function compares image i of ``inputs`` with image i of ``outputs`` (both (N, 3, H, W) in [0, 1]):

* :func:`pixel_mse` — mean squared error per pixel in [0, 1] units (the e4e/pSp tables' MSE);
* ``perceptual`` — LPIPS (``full``: LPIPS-VGG; offline: LPIPS-toon, labelled so) through any distance
  module of :mod:`toonlab.metrics.perceptual_toon`;
* :func:`attribute_agreement` — does the toon classifier see the same hair, glasses, mouth ... in the
  reconstruction as in the input (avatars; only the heads usable on held-out data);
* :func:`paired_clip_i` — CLIP-I between each reconstruction and its own input (not all pairs);
* :func:`face_identity` — dlib's 128-d face descriptor distance, for photos of faces (optional dlib);
* :func:`latent_error` — for generated inputs with a known latent, the distance to it (known-answer tests).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from toonlab.metrics.checks import MetricInputError, check_pair
from toonlab.metrics.face_identity import SAME_PERSON_THRESHOLD, FaceModels, face_descriptor, load_face_models

def pixel_mse(inputs: torch.Tensor, outputs: torch.Tensor) -> torch.Tensor:
    """Per-image MSE in [0, 1] pixel units, shape (N,)."""
    check_pair(inputs, outputs, ("inputs", "outputs"))
    return (inputs.float() - outputs.float()).pow(2).flatten(1).mean(1)


@torch.no_grad()
def perceptual_distance(inputs: torch.Tensor, outputs: torch.Tensor, model: torch.nn.Module,
                        batch_size: int = 64) -> torch.Tensor:
    """Per-image distance of a perceptual module (LPIPS / LPIPS-toon / DISTS...), shape (N,)."""
    check_pair(inputs, outputs, ("inputs", "outputs"))
    device = next(model.parameters()).device
    chunks = [model(x.to(device), y.to(device)).view(-1).cpu()
              for x, y in zip(inputs.split(batch_size), outputs.split(batch_size))]
    return torch.cat(chunks)


def attribute_agreement(classifier: Any, inputs: torch.Tensor, outputs: torch.Tensor,
                        heads: Sequence[str]) -> dict[str, float]:
    """Per head, the fraction of pairs where the toon classifier predicts the same class for the
    reconstruction as for the input; ``"mean"`` averages the heads."""
    from toonlab.metrics.toon_features import predict

    check_pair(inputs, outputs, ("inputs", "outputs"))
    if not heads:
        raise MetricInputError("attribute agreement needs at least one classifier head (the usable ones)")
    before, after = predict(classifier, inputs, heads), predict(classifier, outputs, heads)
    agreement = {head: sum(a == b for a, b in zip(before[head], after[head])) / len(inputs) for head in heads}
    agreement["mean"] = sum(agreement.values()) / len(heads)
    return agreement


def paired_clip_i(clip: Any, inputs: torch.Tensor, outputs: torch.Tensor) -> torch.Tensor:
    """Cosine between the CLIP embeddings of each reconstruction and its own input, shape (N,)."""
    from toonlab.metrics.clip_score import cosine_pairs, embed_images

    check_pair(inputs, outputs, ("inputs", "outputs"))
    return cosine_pairs(embed_images(clip, outputs), embed_images(clip, inputs)).cpu()


def latent_error(predicted: torch.Tensor, true: torch.Tensor) -> torch.Tensor:
    """Per-item mean squared error between latents of the same shape, shape (N,)."""
    if predicted.shape != true.shape:
        raise MetricInputError(f"predicted latents {tuple(predicted.shape)} and true ones {tuple(true.shape)} differ "
                               f"in shape: compare latents of the same space")
    return (predicted.float() - true.float()).pow(2).flatten(1).mean(1).cpu()


def reconstruction_scores(inputs: torch.Tensor, outputs: torch.Tensor, *, perceptual: torch.nn.Module,
                          classifier: Any = None, heads: Sequence[str] = (), clip: Any = None) -> dict[str, float]:
    """The mean of each metric that has its model: ``mse``, ``perceptual``, ``attributes``, ``clip_i``."""
    scores = {"mse": float(pixel_mse(inputs, outputs).mean()),
              "perceptual": float(perceptual_distance(inputs, outputs, perceptual).mean())}
    if classifier is not None and heads:
        scores["attributes"] = attribute_agreement(classifier, inputs, outputs, heads)["mean"]
    if clip is not None:
        scores["clip_i"] = float(paired_clip_i(clip, inputs, outputs).mean())
    return scores


# ---------------------------------------------------------------------------------------------------
# face identity (optional dependency: dlib, loaded by toonlab.metrics.face_identity)


def face_identity(inputs: torch.Tensor, outputs: torch.Tensor, models: FaceModels | None = None) -> dict[str, Any]:
    """Mean descriptor distance over pairs with a face in both images, the share under dlib's 0.6
    "same person" threshold, and how many pairs had a face in both. Raises
    :class:`~toonlab.metrics.face_identity.FaceIdentityUnavailable` (with the install command) without dlib."""
    check_pair(inputs, outputs, ("inputs", "outputs"))
    models = models or load_face_models()

    def descriptors(images: torch.Tensor) -> list:
        array = (images.clamp(0, 1) * 255).round().to(torch.uint8).permute(0, 2, 3, 1).cpu().numpy()
        return [face_descriptor(image, models) for image in array]

    a, b = descriptors(inputs), descriptors(outputs)
    distances = [float(np.linalg.norm(x - y)) for x, y in zip(a, b) if x is not None and y is not None]
    return {"face_distance": sum(distances) / len(distances) if distances else None,
            "same_person": sum(d < SAME_PERSON_THRESHOLD for d in distances) / len(distances) if distances else None,
            "pairs_with_faces": len(distances), "pairs": len(inputs)}
