"""The DreamBooth paper's three subject-fidelity metrics (Ruiz et al. 2023, section 4.1).

- **CLIP-I**: mean cosine between CLIP image embeddings of every generated and every real subject image;
- **CLIP-T**: mean cosine between each generated image and its prompt (CLIP text embedding);
- **DINO**: mean cosine between ViT-S/16 DINO [CLS] embeddings of every generated and real image — the
  paper's preferred subject metric, since DINO (self-supervised) separates instances of one class that CLIP
  maps together.

The Comics project (DreamBooth, LoRA, DreamBooth+LoRA) reported only a manual quality ratio; these give
those runs automatic numbers. All cosines are raw (×1), as in the DreamBooth paper's table.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch

from toonlab.metrics.checks import MetricInputError
from toonlab.metrics.clip_score import ImageInput, Score, clip_i, clip_t, cosine_matrix, l2_normalize, summarize, to_pil


def dino_transform(model: torch.nn.Module):
    """timm's eval transform for the model's pretrained config (DINO: bicubic resize, centre crop 224 at
    crop_pct 0.9, ImageNet mean/std) — the same in every profile, since the tiny ``ci`` ViT shares the config."""
    import timm.data

    config = timm.data.resolve_data_config({}, model=model)
    return timm.data.create_transform(**config, is_training=False)


@torch.inference_mode()
def embed_dino(model: torch.nn.Module, images: ImageInput, batch_size: int = 32) -> torch.Tensor:
    """L2-normalised DINO [CLS] embeddings (N, D); ``model`` from :func:`toonlab.zoo.dino.build_dino`."""
    transform = dino_transform(model)
    pil = to_pil(images)
    device = next(model.parameters()).device
    chunks = []
    for start in range(0, len(pil), batch_size):
        batch = torch.stack([transform(image) for image in pil[start:start + batch_size]]).to(device)
        features = model(batch)
        if features.ndim != 2:
            raise MetricInputError(f"the DINO model returned shape {tuple(features.shape)}; build it with "
                                   f"num_classes=0 so it returns the pooled [CLS] embedding")
        chunks.append(features.float())
    return l2_normalize(torch.cat(chunks), "DINO embeddings")


def dino_score(model: torch.nn.Module, images: ImageInput, references: ImageInput, scale: float = 1.0) -> Score:
    """DINO: mean pairwise cosine between generated and real subject images."""
    similarities = cosine_matrix(embed_dino(model, images), embed_dino(model, references))
    return summarize("DINO", similarities.flatten(), scale)


def dreambooth_scores(generated: ImageInput, references: ImageInput, prompts: Sequence[str], clip: Any,
                      dino: torch.nn.Module) -> dict[str, Score]:
    """CLIP-I, CLIP-T and DINO of generated images against the real subject images and their prompts.

    ``prompts[i]`` is the prompt of ``generated[i]``. ``clip`` is a :class:`toonlab.zoo.clip.ClipBundle`.
    """
    return {
        "CLIP-I": clip_i(clip, generated, references),
        "CLIP-T": clip_t(clip, generated, prompts),
        "DINO": dino_score(dino, generated, references),
    }
