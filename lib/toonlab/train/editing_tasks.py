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
from typing import Any

import torch
from torch.utils.data import Dataset

from toonlab.editing.directions import apply_edit
from toonlab.editing.optimal_c import TARGET_SIMILARITY, OptimalCLayer, optimal_c_loss
from toonlab.inversion.clip_encoder import DifferentiableClip
from toonlab.inversion.generator import InversionGenerator
from toonlab.inversion.losses import to_unit
from toonlab.inversion.mappers import CSLAMapper, CSLAMapperConfig
from toonlab.train.checkpoint import latest
from toonlab.train.inversion_tasks import CSLATask, FitResult, SeededLatents, _OneModelTask, fit


def digest(record: Mapping[str, Any]) -> str:
    """A short hash of the settings that shape a run's weights (its folder name)."""
    return hashlib.sha256(json.dumps(record, sort_keys=True, default=str).encode()).hexdigest()[:10]


def fit_csla_mapper(wplus: InversionGenerator, clip: Any, root: str | Path, *, identity: str, steps: int,
                    batch_size: int, lr: float = 3e-5, seed: int = 0, log_every: int = 10,
                    checkpoint_every: int = 0, progress: bool = True) -> FitResult:
    """Chapter 05's CSLA mapper for ``wplus``: centres from 512 generated images (mean W+, mean CLIP image
    embedding), then :class:`CSLATask` on :class:`SeededLatents`, as chapter 05 trains it. ``identity`` names
    the generator's weights; with the CLIP, the steps' settings and the seed it names the run folder."""
    if wplus.space != "w+":
        raise ValueError("the CSLA mapper writes W+: pass InversionGenerator(stylegan2, 'w+')")
    record = {"generator": identity, "clip": getattr(clip, "name", type(clip).__name__), "lr": lr,
              "batch": batch_size, "seed": seed, "shape": list(wplus.latent_shape), "clip_dim": clip.embed_dim}
    device = wplus.mean_latent.device
    out = Path(root) / f"csla-{digest(record)}"
    torch.manual_seed(seed)
    mapper = CSLAMapper(CSLAMapperConfig(clip.embed_dim, *wplus.latent_shape)).to(device)
    if latest(out / "checkpoints") is None:  # a checkpoint restores the centres (buffers) with the weights
        with torch.no_grad():
            _, images = wplus.sample(512, seed + 1000)
            mean_clip = torch.cat([clip.encode_image(chunk.to(device)) for chunk in images.split(64)]).mean(0)
        mapper.set_centres(wplus.mean_latent, mean_clip)
    latents = SeededLatents(100_000, wplus.generator.style_dim, seed + 2000)  # data-free: z only
    log_every = min(log_every, steps)
    return fit(CSLATask(mapper, wplus, clip, lr=lr), latents, out, steps=steps,
               batch_size=batch_size, seed=seed, log_every=log_every, checkpoint_every=checkpoint_every or steps,
               progress=progress)


class PromptLatents(Dataset):
    """Item i: (z drawn from seed ``seed + i``, prompt index ``i mod n_prompts``) — every prompt equally often,
    indexable, so the step-indexed loader and exact resume work unchanged."""

    def __init__(self, n: int, dim: int, n_prompts: int, seed: int = 0) -> None:
        if n_prompts < 1:
            raise ValueError("the optimal-c layer needs at least one prompt to train on")
        self.latents, self.n_prompts = SeededLatents(n, dim, seed), n_prompts

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
        with torch.no_grad():
            original = self.clip.encode_image(to_unit(self.generator(latents)))
        c = self.models[self.name](original, self.text_directions[prompt], latents)
        edited = self.clip.encode_image(to_unit(self.generator(apply_edit(latents, self.directions[prompt], c))))
        return c, original, edited

    def train_step(self, batch, step, accelerator):
        z, prompt = batch
        latents = self.generator.from_z(z)
        c, original, edited = self.edit(latents, prompt)
        terms = self._step({"mse_clip_similarity": optimal_c_loss(original, edited, self.target)}, accelerator)
        return {**terms, "mean_c": c.detach().mean()}
