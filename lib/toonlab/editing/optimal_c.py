"""Per-latent edit strength: CelebrityLook's optimal-c projection layer, and a per-image line search.

CelebrityLook's README (``seeds/celebritylook.md``) observes that the best strength c of a text edit
``w + c * dW`` differs for every latent, even for one prompt, and promises a "simple projection layer"
that predicts c from "the W+ latent and the text encoding", trained with

    L_c = mse(C, C_I(X, X')),   C = 0.7,

where ``C_I`` is the CLIP similarity between the input image X and the edited image X'. No code, figure
values or training details were released. What the description fixes, and what we chose where it is
silent (every choice is a config field):

* **loss** — as stated: ``(C - cos(E_I(X), E_I(X')))²``, averaged over the batch, with cosine similarity
  of the CLIP image embeddings as ``C_I`` (CLIP similarity is cosine similarity everywhere in CLIP's
  papers and in chapter 05's CLIP-I) and ``C = 0.7`` (``target_similarity``);
* **which image CLIP sees** — one rule, :func:`similarity_embedding`: the generator's output mapped to
  [0, 1] and *clamped* there, i.e. the very image the chapter renders, shows and scores. Training, the
  line search and the reported "CLIP-I to original" all go through it, so the layer is trained on, and
  judged by, the same number (the clamp passes the gradient through every in-range pixel);
* **inputs** — "the CLIP encoding and W+": which CLIP encoding is not said. The layer must know the edit
  to size it, and the README's own argument is that c depends on the latent *and the text*, so it gets
  both the input image's CLIP embedding and the text direction ``f_T(target) - f_T(source)`` (each
  L2-normalised), and the W+ latent minus the generator's mean W+ (flattened, divided by its dimension's
  square root so no input block dominates by size);
* **architecture** — "simple projection layer": one ``nn.Linear`` from the concatenated inputs to one
  number (``hidden = 0``); ``hidden > 0`` adds one GELU hidden layer (an option, not the source);
* **range** — ``c = c_max * sigmoid(·)`` keeps c inside the source's sweep ``[0, 0.8]``; the bias starts
  at 0, so an untrained layer answers ``c_max / 2``;
* **training data** — data-free, like the mapper: seeded z -> W+ -> image, each paired with one of the
  chapter's prompts (item i with prompt ``i mod P``); Adam 1e-3 (ours; the README gives no optimiser).

:func:`line_search` is the baseline the issue asks for: per image, the c on a grid over ``[0, c_max]``
that minimises the very same objective — what the layer tries to predict in one pass.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from toonlab.editing.directions import C_MAX, EditInputError, apply_edit
from toonlab.inversion.losses import to_unit

TARGET_SIMILARITY = 0.7  # CelebrityLook's C


@dataclass
class OptimalCConfig:
    clip_dim: int = 768  # CLIP ViT-L/14's embedding (ToonCLIP's / a tiny CLIP's offline)
    n_latent: int = 18  # W+ rows
    style_dim: int = 512
    hidden: int = 0  # 0: the source's "simple projection layer" (one Linear); > 0: one GELU hidden layer
    c_max: float = C_MAX

    def __post_init__(self) -> None:
        if not 0 < self.c_max <= C_MAX:
            raise EditInputError(f"c_max must be in (0, {C_MAX}] (CelebrityLook's sweep), got {self.c_max}")
        if self.hidden < 0:
            raise EditInputError(f"hidden must be >= 0, got {self.hidden}")

    @property
    def input_dim(self) -> int:
        return 2 * self.clip_dim + self.n_latent * self.style_dim


class OptimalCLayer(nn.Module):
    """(image CLIP embedding, text direction, W+) -> c in (0, c_max), one per image."""

    def __init__(self, config: OptimalCConfig) -> None:
        super().__init__()
        self.config = config
        if config.hidden:
            self.project = nn.Sequential(nn.Linear(config.input_dim, config.hidden), nn.GELU(), nn.Linear(config.hidden, 1))
        else:
            self.project = nn.Linear(config.input_dim, 1)
        nn.init.zeros_(self.project[-1].bias if config.hidden else self.project.bias)
        self.register_buffer("mean_w", torch.zeros(config.n_latent, config.style_dim))

    @torch.no_grad()
    def set_mean_latent(self, mean_w: torch.Tensor) -> None:
        c = self.config
        if tuple(mean_w.shape) != (c.n_latent, c.style_dim):
            raise EditInputError(f"the mean W+ must be ({c.n_latent}, {c.style_dim}), got {tuple(mean_w.shape)}")
        self.mean_w.copy_(mean_w)

    def features(self, image_embedding: torch.Tensor, text_direction: torch.Tensor, latents: torch.Tensor) -> torch.Tensor:
        c = self.config
        if image_embedding.ndim != 2 or image_embedding.shape[-1] != c.clip_dim:
            raise EditInputError(f"image embeddings must be (B, {c.clip_dim}), got {tuple(image_embedding.shape)}")
        if tuple(latents.shape[1:]) != (c.n_latent, c.style_dim) or len(latents) != len(image_embedding):
            raise EditInputError(f"latents must be ({len(image_embedding)}, {c.n_latent}, {c.style_dim}), got "
                                 f"{tuple(latents.shape)}")
        text_direction = text_direction.reshape(-1, c.clip_dim).expand(len(image_embedding), -1)
        offset = (latents - self.mean_w).flatten(1) / (c.n_latent * c.style_dim) ** 0.5
        return torch.cat([F.normalize(image_embedding, dim=-1), F.normalize(text_direction, dim=-1), offset], dim=1)

    def forward(self, image_embedding: torch.Tensor, text_direction: torch.Tensor, latents: torch.Tensor) -> torch.Tensor:
        """c per image, shape (B,)."""
        return self.config.c_max * torch.sigmoid(self.project(self.features(image_embedding, text_direction, latents))[:, 0])


def clip_similarity(original: torch.Tensor, edited: torch.Tensor) -> torch.Tensor:
    """CelebrityLook's ``C_I(X, X')``: cosine of the two images' CLIP embeddings, per pair, shape (B,)."""
    return F.cosine_similarity(original.float(), edited.float(), dim=-1)


def similarity_embedding(clip, generator: Callable[[torch.Tensor], torch.Tensor], latents: torch.Tensor,
                         chunk: int = 0) -> torch.Tensor:
    """The CLIP image embedding that ``C_I`` compares — the one rule for every path (training, line search,
    the reported column): ``E_I(clamp(to_unit(G(w)), 0, 1))``, the image as rendered and shown. ``chunk``
    > 0 embeds that many latents at a time (for inference under ``no_grad``; the result is the same)."""
    if chunk and chunk < len(latents):
        return torch.cat([similarity_embedding(clip, generator, part) for part in latents.split(chunk)])
    return clip.encode_image(to_unit(generator(latents)).clamp(0, 1))


def edit_similarity(clip, generator: Callable[[torch.Tensor], torch.Tensor], latents: torch.Tensor,
                    direction: torch.Tensor, c: float | torch.Tensor, original_embedding: torch.Tensor,
                    chunk: int = 0) -> torch.Tensor:
    """``C_I(X, X')`` per image for the edit ``w + c * dW``, by :func:`similarity_embedding` (B,)."""
    return clip_similarity(original_embedding, similarity_embedding(clip, generator, apply_edit(latents, direction, c), chunk))


def optimal_c_loss(original: torch.Tensor, edited: torch.Tensor, target: float = TARGET_SIMILARITY) -> torch.Tensor:
    """``L_c = mse(C, C_I(X, X'))`` over the batch, from the CLIP embeddings of X and X'."""
    return (target - clip_similarity(original, edited)).pow(2).mean()


@torch.no_grad()
def line_search(latents: torch.Tensor, direction: torch.Tensor, original_embedding: torch.Tensor,
                render_embedding: Callable[[torch.Tensor], torch.Tensor], grid: Sequence[float],
                target: float = TARGET_SIMILARITY) -> tuple[torch.Tensor, torch.Tensor]:
    """Per image, the c of ``grid`` whose edit has ``C_I(X, X')`` closest to ``target`` (the optimal-c
    layer's objective, searched instead of predicted). Returns (best c (B,), similarity (B, len(grid)))."""
    grid = torch.as_tensor(list(grid), dtype=torch.float32)
    if grid.numel() < 2:
        raise EditInputError("a line search needs at least two values of c")
    similarities = torch.stack([clip_similarity(original_embedding, render_embedding(apply_edit(latents, direction, float(c))))
                                for c in grid], dim=1).cpu()
    best = (similarities - target).abs().argmin(dim=1)
    return grid[best], similarities
