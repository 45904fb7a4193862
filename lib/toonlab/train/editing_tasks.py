"""Training for chapter 06 on the shared loop: the CSLA mapper it edits through, and the optimal-c layer.

Layer 4 (training). Both run on :class:`~toonlab.train.loop.Trainer` through
:func:`toonlab.train.inversion_tasks.fit` (exact resume, atomic safetensors checkpoints); the generator and
CLIP are frozen attributes of the tasks, never optimised and never checkpointed.

* :func:`fit_csla_mapper` — chapter 05's data-free CLIP -> W+ mapper (:class:`CSLATask`, unchanged), in a
  run folder keyed by everything that shapes its weights, so a second call resumes or reuses it;
* :class:`PromptLatents` — the optimal-c layer's data-free "data set": item i is a seeded z and prompt
  ``i mod P``;
* :class:`OptimalCTask` — CelebrityLook's ``L = mse(C, C_I(X, X'))`` on ``X' = G(w + c(X, t, w) * dW_t)``.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from pathlib import Path
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch.utils.data import Dataset

from toonlab.editing.directions import apply_edit
from toonlab.editing.embeddings import NormalisedClip
from toonlab.editing.optimal_c import TARGET_SIMILARITY, OptimalCLayer, optimal_c_loss, similarity_embedding
from toonlab.inversion.clip_encoder import DifferentiableClip
from toonlab.inversion.generator import InversionGenerator
from toonlab.inversion.mappers import CSLAMapper, CSLAMapperConfig
from toonlab.train.checkpoint import latest
from toonlab.train.inversion_tasks import CSLATask, FitResult, SeededLatents, _OneModelTask, fit


def digest(record: Mapping[str, Any]) -> str:
    """A short hash of the settings that shape a run's weights (its folder name)."""
    return hashlib.sha256(json.dumps(record, sort_keys=True, default=str).encode()).hexdigest()[:10]


def run_identity(fitted: FitResult) -> str:
    """What names a trained run for the runs built on it: its folder (a digest of every setting that shapes
    its weights) and the step its weights reached (the folder alone does not say: more steps resume it)."""
    return f"{Path(fitted.trainer.out_dir).name}@step{fitted.result.step}"


# Every seeded stream of the chapter owns one block of STREAM_SPAN seeds. A stream of single latents
# (:class:`SeededLatents`) draws item i from seed ``base + i``, so two streams whose bases were closer than
# their length shared latents (the test latents were once item 3000 of the mapper's training stream).
STREAM_SPAN = 1_000_000
STREAMS = ("mapper centres", "mapper training", "mapper recovery", "boundary", "test", "optimal-c training")


def stream_seed(seed: int, stream: str) -> int:
    """The first seed of ``stream`` for the chapter's ``seed``: block ``k + 1`` of :data:`STREAM_SPAN` seeds,
    ``seed`` inside it; streams of at most ``STREAM_SPAN - seed`` items never meet."""
    if stream not in STREAMS:
        raise ValueError(f"unknown latent stream {stream!r}: one of {STREAMS}")
    if not 0 <= seed < STREAM_SPAN // 2:
        raise ValueError(f"seed {seed} must be in [0, {STREAM_SPAN // 2}) so the chapter's seed streams stay disjoint")
    return (STREAMS.index(stream) + 1) * STREAM_SPAN + seed


def stream_latents(n: int, dim: int, seed: int, stream: str) -> SeededLatents:
    """``n`` single latents of ``stream`` (item i from its own seed), refused if they would leave its block."""
    if seed + n > STREAM_SPAN:
        raise ValueError(f"{n} latents from seed {seed} overrun the stream's {STREAM_SPAN} seeds: use fewer")
    return SeededLatents(n, dim, stream_seed(seed, stream))


# Duplicates chapter 05's centre code (chapters/inversion.py, CSLA): move it down a layer at the next chapter 05 refresh.
@torch.no_grad()
def centre_embeddings(wplus: InversionGenerator, clip: Any, seed: int, n: int = 512) -> torch.Tensor:
    """The raw CLIP image embeddings of ``n`` generated images (the "mapper centres" stream): their mean is
    the mapper's input centre, their mean norm the scale :class:`NormalisedClip` gives every embedding."""
    device = wplus.mean_latent.device
    _, images = wplus.sample(n, stream_seed(seed, "mapper centres"))
    return torch.cat([clip.encode_image(chunk.to(device)) for chunk in images.split(64)])


@dataclass
class MapperFit:
    """The fitted mapper's run, and the CLIP view it reads (raw, or L2-normalised x ``scale``)."""

    fit: FitResult
    clip: Any
    normalised: bool
    image_norm: float  # mean raw image-embedding norm of the generator's images


def fit_csla_mapper(wplus: InversionGenerator, clip: Any, root: str | Path, *, identity: str, steps: int,
                    batch_size: int, lr: float = 3e-5, seed: int = 0, normalise: bool = True, log_every: int = 10,
                    checkpoint_every: int = 0, progress: bool = True) -> MapperFit:
    """Chapter 05's CSLA mapper for ``wplus``: centres from 512 generated images (mean W+, mean CLIP image
    embedding), then :class:`CSLATask` on seeded latents, as chapter 05 trains it. With ``normalise`` (ours)
    the task sees CLIP through :class:`NormalisedClip` (unit embeddings times the mean image-embedding norm),
    and so must every caller of the mapper (``MapperFit.clip``). ``identity`` names the generator's weights;
    with the CLIP, the steps' settings and the seed it names the run folder."""
    if wplus.space != "w+":
        raise ValueError("the CSLA mapper writes W+: pass InversionGenerator(stylegan2, 'w+')")
    embeddings = centre_embeddings(wplus, clip, seed)
    image_norm = float(embeddings.norm(dim=-1).mean())
    view = NormalisedClip(clip, image_norm) if normalise else clip
    record = {"generator": identity, "clip": getattr(clip, "name", type(clip).__name__), "lr": lr,
              "batch": batch_size, "seed": seed, "shape": list(wplus.latent_shape), "clip_dim": clip.embed_dim,
              "normalise": normalise, "streams": "disjoint-v2"}
    device = wplus.mean_latent.device
    out = Path(root) / f"csla-{digest(record)}"
    torch.manual_seed(seed)
    mapper = CSLAMapper(CSLAMapperConfig(clip.embed_dim, *wplus.latent_shape)).to(device)
    if latest(out / "checkpoints") is None:  # a checkpoint restores the centres (buffers) with the weights
        # the centre of what the mapper reads: the mean of the (normalised) embeddings it is trained on
        mean_clip = (F.normalize(embeddings, dim=-1) * image_norm if normalise else embeddings).mean(0)
        mapper.set_centres(wplus.mean_latent, mean_clip)
    latents = stream_latents(100_000, wplus.generator.style_dim, seed, "mapper training")  # data-free: z only
    log_every = min(log_every, steps)
    fitted = fit(CSLATask(mapper, wplus, view, lr=lr), latents, out, steps=steps,
                 batch_size=batch_size, seed=seed, log_every=log_every, checkpoint_every=checkpoint_every or steps,
                 progress=progress)
    return MapperFit(fitted, view, normalise, image_norm)


@torch.no_grad()
def mapper_recovery(mapper: torch.nn.Module, wplus: InversionGenerator, clip: Any, *, n: int, seed: int,
                    batch_size: int = 32) -> dict[str, float]:
    """How much of W+ the mapper recovers from CLIP on ``n`` held-out latents (their own seed stream):
    ``MSE(mapper(E_I(G(w))), w)`` against the MSE of always answering the mean W+. A ratio near 1 is a mapper
    that learned nothing; ``clip`` must be the view it was trained with."""
    latents, images = wplus.sample(n, stream_seed(seed, "mapper recovery"))
    device = wplus.mean_latent.device
    predicted = torch.cat([mapper(clip.encode_image(chunk.to(device))) for chunk in images.split(batch_size)])
    mse = float((predicted - latents).pow(2).mean())
    baseline = float((wplus.mean_latent - latents).pow(2).mean())
    return {"latent MSE": mse, "mean-latent MSE": baseline, "recovery ratio (MSE / mean-latent MSE)": mse / baseline}


class PromptLatents(Dataset):
    """Item i: (z of the "optimal-c training" stream's item i, prompt index ``i mod n_prompts``) — every prompt equally often,
    indexable, so the step-indexed loader and exact resume work unchanged."""

    def __init__(self, n: int, dim: int, n_prompts: int, seed: int = 0) -> None:
        if n_prompts < 1:
            raise ValueError("the optimal-c layer needs at least one prompt to train on")
        self.latents, self.n_prompts = stream_latents(n, dim, seed, "optimal-c training"), n_prompts

    def __len__(self) -> int:
        return len(self.latents)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, int]:
        return self.latents[i], i % self.n_prompts


class OptimalCTask(_OneModelTask):
    """The optimal-c layer (:mod:`toonlab.editing.optimal_c`): for each seeded latent w and its prompt p,
    ``c = layer(E_I(G(w)), t_p, w)``, ``X' = G(w + c * dW_p)``, loss ``(C - cos(E_I(X), E_I(X')))²``.

    ``directions`` (P, *W+ shape) are the prompts' text deltas, ``text_directions`` (P, clip_dim) their
    ``f_T(target) - f_T(source)``; both fixed. Adam 1e-3 is our choice (the README states no optimiser).
    """

    name = "layer"

    def __init__(self, layer: OptimalCLayer, generator: InversionGenerator, clip: DifferentiableClip,
                 directions: torch.Tensor, text_directions: torch.Tensor, target: float = TARGET_SIMILARITY,
                 lr: float = 1e-3) -> None:
        if generator.space != "w+":
            raise ValueError("the optimal-c layer edits W+: pass InversionGenerator(stylegan2, 'w+')")
        if len(directions) != len(text_directions) or tuple(directions.shape[1:]) != generator.latent_shape:
            raise ValueError(f"one W+ direction {generator.latent_shape} and one text direction per prompt, got "
                             f"{tuple(directions.shape)} and {tuple(text_directions.shape)}")
        super().__init__(layer, torch.optim.Adam(layer.parameters(), lr=lr))
        self.generator, self.clip, self.target = generator, clip, target
        self.directions, self.text_directions = directions.detach(), text_directions.detach()

    def edit(self, latents: torch.Tensor, prompt: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(c, original embedding, edited embedding) of a batch; differentiable in the layer."""
        with torch.no_grad():  # C_I by the chapter's one rule (clamped renders): similarity_embedding
            original = similarity_embedding(self.clip, self.generator, latents)
        c = self.models[self.name](original, self.text_directions[prompt], latents)
        edited = similarity_embedding(self.clip, self.generator, apply_edit(latents, self.directions[prompt], c))
        return c, original, edited

    def train_step(self, batch, step, accelerator):
        z, prompt = batch
        latents = self.generator.from_z(z)
        c, original, edited = self.edit(latents, prompt)
        terms = self._step({"mse_clip_similarity": optimal_c_loss(original, edited, self.target)}, accelerator)
        return {**terms, "mean_c": c.detach().mean()}
