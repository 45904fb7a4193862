"""CLIP scores with open_clip: text–image (CLIP-T) and image–image (CLIP-I).

Computed the usual way: images through the model's own preprocessing (PIL, bicubic resize, centre crop,
CLIP mean/std), texts through its tokenizer, both embeddings L2-normalised, score = cosine similarity.
Raw cosine (×1) is the default because that is what PopYou reports ("clip similarity 0.31"); pass
``scale=100`` for the ×100 convention of CLIPScore papers (we never clip negatives to 0, unlike
torchmetrics' ``CLIPScore``, so means are unbiased).

The PopYou protocol: every name in ``data/people_300.txt`` goes into
``"funko pop figure of {name} in a white background"``; CLIP-T is the mean over the generated images.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image

from toonlab.metrics.checks import MetricInputError, check_images

POPYOU_TEMPLATE = "funko pop figure of {name} in a white background"
PEOPLE_FILE = "data/people_300.txt"

ImageInput = torch.Tensor | Sequence[Image.Image]


@dataclass
class Score:
    """A similarity averaged over items, with its spread and the per-item values."""

    name: str
    mean: float
    std: float
    n: int
    scale: float
    per_item: np.ndarray

    def describe(self) -> str:
        unit = "cosine ×100" if self.scale == 100 else "cosine" if self.scale == 1 else f"cosine ×{self.scale:g}"
        return f"{self.name} {self.mean:.4g} ± {self.std:.2g} ({unit}, n={self.n})"

    def as_dict(self) -> dict[str, Any]:
        return {"name": self.name, "mean": self.mean, "std": self.std, "n": self.n, "scale": self.scale}


def summarize(name: str, values: torch.Tensor, scale: float) -> Score:
    """Mean, std and per-item values of similarities, times ``scale``."""
    scaled = values.double().cpu().numpy() * scale
    return Score(name, float(scaled.mean()), float(scaled.std()), int(scaled.size), scale, scaled)


# ---------------------------------------------------------------------------------------------------
# arithmetic


def l2_normalize(embeddings: torch.Tensor, name: str = "embeddings") -> torch.Tensor:
    """Rows scaled to unit length; a zero or non-finite row is an error, not a silent NaN."""
    if embeddings.ndim != 2 or embeddings.shape[0] == 0:
        raise MetricInputError(f"{name} must be a non-empty (N, D) tensor, got shape {tuple(embeddings.shape)}")
    if not torch.isfinite(embeddings).all():
        raise MetricInputError(f"{name} contain NaN or inf")
    norms = embeddings.norm(dim=-1, keepdim=True)
    if (norms == 0).any():
        raise MetricInputError(f"{name} contain an all-zero embedding; its direction (and cosine) is undefined")
    return embeddings / norms


def cosine_pairs(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """cos(a_i, b_i) for paired rows."""
    if a.shape != b.shape:
        raise MetricInputError(f"paired embeddings must have the same shape, got {tuple(a.shape)} and {tuple(b.shape)}")
    return (l2_normalize(a, "a") * l2_normalize(b, "b")).sum(dim=-1)


def cosine_matrix(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """cos(a_i, b_j) for every pair (N, M)."""
    if a.ndim != 2 or b.ndim != 2 or a.shape[1] != b.shape[1]:
        raise MetricInputError(f"embeddings must be (N, D) and (M, D), got {tuple(a.shape)} and {tuple(b.shape)}")
    return l2_normalize(a, "a") @ l2_normalize(b, "b").T


# ---------------------------------------------------------------------------------------------------
# embeddings


def _device(model: torch.nn.Module) -> torch.device:
    return next(model.parameters()).device


def to_pil(images: ImageInput, name: str = "images") -> list[Image.Image]:
    """Tensors in [0, 1] -> 8-bit RGB PIL images (what a saved PNG holds); PIL images pass through."""
    if isinstance(images, torch.Tensor):
        check_images(images, name)
        array = images.detach().mul(255).round().clamp(0, 255).to(torch.uint8).permute(0, 2, 3, 1).cpu().numpy()
        return [Image.fromarray(item) for item in array]
    images = list(images)
    if not images:
        raise MetricInputError(f"{name} is empty; a score needs at least one image")
    for index, image in enumerate(images):
        if not isinstance(image, Image.Image):
            raise MetricInputError(f"{name}[{index}] is {type(image).__name__}; pass PIL images or one tensor")
    return [image.convert("RGB") for image in images]


@torch.inference_mode()
def embed_images(clip: Any, images: ImageInput, batch_size: int = 32) -> torch.Tensor:
    """L2-normalised CLIP image embeddings (N, D) of a :class:`toonlab.zoo.clip.ClipBundle`."""
    pil = to_pil(images)
    device = _device(clip.model)
    chunks = []
    for start in range(0, len(pil), batch_size):
        batch = torch.stack([clip.preprocess(image) for image in pil[start:start + batch_size]]).to(device)
        chunks.append(clip.model.encode_image(batch).float())
    return l2_normalize(torch.cat(chunks), "image embeddings")


@torch.inference_mode()
def embed_texts(clip: Any, texts: Sequence[str], batch_size: int = 64) -> torch.Tensor:
    """L2-normalised CLIP text embeddings (N, D)."""
    texts = list(texts)
    if not texts:
        raise MetricInputError("texts is empty; a score needs at least one prompt")
    bad = [index for index, text in enumerate(texts) if not isinstance(text, str) or not text.strip()]
    if bad:
        raise MetricInputError(f"texts {bad[:5]} are empty or not strings; every prompt must be non-empty text")
    device = _device(clip.model)
    chunks = []
    for start in range(0, len(texts), batch_size):
        tokens = clip.tokenizer(texts[start:start + batch_size]).to(device)
        chunks.append(clip.model.encode_text(tokens).float())
    return l2_normalize(torch.cat(chunks), "text embeddings")


# ---------------------------------------------------------------------------------------------------
# scores


def clip_t(clip: Any, images: ImageInput, texts: Sequence[str], scale: float = 1.0) -> Score:
    """CLIP-T: cosine between image i and prompt i, averaged (PopYou's "clip similarity")."""
    image_emb = embed_images(clip, images)
    text_emb = embed_texts(clip, texts)
    if len(image_emb) != len(text_emb):
        raise MetricInputError(f"{len(image_emb)} images but {len(text_emb)} prompts; CLIP-T pairs image i "
                               f"with prompt i (repeat a prompt for several images of it)")
    return summarize("CLIP-T", cosine_pairs(image_emb, text_emb), scale)


def clip_i(clip: Any, images: ImageInput, references: ImageInput, scale: float = 1.0) -> Score:
    """CLIP-I: cosine between every generated and every reference image, averaged (DreamBooth's CLIP-I)."""
    similarities = cosine_matrix(embed_images(clip, images), embed_images(clip, references))
    return summarize("CLIP-I", similarities.flatten(), scale)


# ---------------------------------------------------------------------------------------------------
# the PopYou protocol


def load_people(path: str | Path | None = None) -> list[str]:
    """The shipped name list: one name per line, ``#`` comments and blank lines ignored."""
    from toonlab.paths import repo_root

    path = Path(path) if path is not None else repo_root() / PEOPLE_FILE
    if not path.is_file():
        raise FileNotFoundError(f"name list {path} is missing; it ships with the repository ({PEOPLE_FILE})")
    names = [line.strip() for line in path.read_text(encoding="utf-8").splitlines()]
    names = [name for name in names if name and not name.startswith("#")]
    duplicates = sorted({name for name in names if names.count(name) > 1})
    if duplicates:
        raise ValueError(f"{path} lists {duplicates[:5]} more than once")
    return names


def popyou_prompts(names: Sequence[str], template: str = POPYOU_TEMPLATE) -> list[str]:
    """PopYou's prompt for each name."""
    if "{name}" not in template:
        raise ValueError(f"template {template!r} must contain '{{name}}'")
    return [template.format(name=name) for name in names]
