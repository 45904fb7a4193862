"""Training the inversion networks of chapter 05 on the shared loop, and loading the generators they invert.

Layer 4 (training). Every network trains as a :class:`~toonlab.train.loop.Task` on
:class:`~toonlab.train.loop.Trainer` (exact resume, atomic safetensors checkpoints); the frozen parts (the
generator, CLIP, the perceptual distance, a trained SimCLR) are attributes of the task, never optimised
and never checkpointed.

* :func:`load_generator_export` — the generator export of a chapter-03 run in the cache (file + its config),
  checked against the architecture and resolution the caller expects (a *committed* export, registered in
  data/registry.yaml, loads with :func:`toonlab.train.gan_runs.load_committed_generator`);
* :class:`SimCLRTask` — ToyHollyWood's SimCLR (two augmented views, NT-Xent, SGD 0.006);
* :class:`PopYouTask`, :class:`ToyHollyWoodTask`, :class:`CSLATask` — the three source mappers;
* :class:`EncoderTask` — the pSp-style encoder with the reconstruction loss;
* :class:`SeededLatents` — CSLA's data-free "data set": z drawn from a seed per index;
* :func:`fit` — run a task to ``steps`` (resuming) and report wall time and steps trained now.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch.utils.data import Dataset

from toonlab.gan.sampling import sample_latents
from toonlab.inversion.clip_encoder import DifferentiableClip
from toonlab.inversion.encoders import PSPEncoder, SimCLR, nt_xent
from toonlab.inversion.generator import InversionGenerator
from toonlab.inversion.losses import (Distance, csla_terms, popyou_terms, reconstruction_terms, to_unit,
                                      toyhollywood_terms)
from toonlab.inversion.mappers import CSLAMapper, PopYouMapper, ToyHollyWoodMapper
from toonlab.train.gan_runs import load_generator
from toonlab.train.loop import Task, TrainConfig, Trainer, TrainResult


class GeneratorExportError(RuntimeError):
    """A generator export is missing, or holds another architecture or resolution than expected."""


def load_generator_export(path: str | Path, *, kind: str, resolution: int, command: str = "",
                          device: str | torch.device = "cpu") -> tuple[torch.nn.Module, dict[str, Any]]:
    """The generator in ``path`` (written by :func:`toonlab.train.gan_runs.train_gan` into a run folder), after
    checking that it is a ``kind`` generator ("fastgan" / "stylegan2") at ``resolution`` px. Every failure
    names the file, what was expected and how to fix it. A run folder's export has no registered sha256; a
    committed one does: load those with :func:`toonlab.train.gan_runs.load_committed_generator`.
    """
    from toonlab.train.checkpoint import load_weights

    path = Path(path)
    rebuild = f"; create it with `{command}`" if command else "; train chapter 03 to export it"
    if not path.is_file():
        raise GeneratorExportError(f"generator export {path} is missing (expected a {kind} generator at "
                                   f"{resolution} px){rebuild}")
    try:
        _, meta = load_weights(path)
    except Exception as error:  # safetensors' own errors say little about which file
        raise GeneratorExportError(f"{path} is not a readable safetensors generator export ({error}){rebuild}") from error
    found_kind, found_resolution = meta.get("kind"), (meta.get("model") or {}).get("resolution")
    if found_kind != kind or found_resolution != resolution:
        raise GeneratorExportError(f"{path} holds a {found_kind or 'unlabelled'} generator at {found_resolution} px, "
                                   f"but a {kind} generator at {resolution} px was expected: pick the export of "
                                   f"that architecture and resolution (nothing is resized to fit){rebuild}")
    return load_generator(path, device=device)


# ---------------------------------------------------------------------------------------------------
# data


class SeededLatents(Dataset):
    """Item i is a Gaussian z drawn from seed ``seed + i``: CSLA's endless data-free samples, indexable
    (so the step-indexed loader and exact resume work unchanged)."""

    def __init__(self, n: int, dim: int, seed: int = 0) -> None:
        self.n, self.dim, self.seed = n, dim, seed

    def __len__(self) -> int:
        return self.n

    def __getitem__(self, i: int) -> torch.Tensor:
        return sample_latents(1, self.dim, self.seed + i)[0]


def images_of(batch: Any) -> torch.Tensor:
    """The image tensor of a batch from :class:`toonlab.data.dataset.ImageDataset` ((images, labels)) or of images."""
    return batch[0] if isinstance(batch, (tuple, list)) else batch


# ---------------------------------------------------------------------------------------------------
# tasks


class _OneModelTask(Task):
    name: str

    def __init__(self, model: torch.nn.Module, optimizer: torch.optim.Optimizer) -> None:
        self.models = {self.name: model}
        self.optimizers = {self.name: optimizer}

    def _step(self, terms: dict[str, torch.Tensor], accelerator: Any) -> dict[str, torch.Tensor]:
        loss = sum(terms.values())
        optimizer = self.optimizers[self.name]
        optimizer.zero_grad(set_to_none=True)
        accelerator.backward(loss)
        optimizer.step()
        return {"loss": loss.detach(), **{k: v.detach() for k, v in terms.items()}}


def simclr_views(images: torch.Tensor) -> torch.Tensor:
    """One SimCLR view per image (SimCLR's augmentations: random resized crop, flip, colour jitter,
    greyscale), drawn from the global torch RNG — which the loop checkpoints, so resume stays exact."""
    from torchvision.transforms import v2

    size = images.shape[-1]
    augment = v2.Compose([
        v2.RandomResizedCrop(size, scale=(0.2, 1.0), antialias=True), v2.RandomHorizontalFlip(),
        v2.RandomApply([v2.ColorJitter(0.4, 0.4, 0.4, 0.1)], p=0.8), v2.RandomGrayscale(p=0.2),
    ])
    return torch.stack([augment(image) for image in images]).clamp(0, 1)


class SimCLRTask(_OneModelTask):
    """ToyHollyWood's SimCLR: lightly ResNet-18 + projection, NT-Xent, SGD lr 0.006 (momentum 0.9, ours)."""

    name = "simclr"

    def __init__(self, model: SimCLR, lr: float = 0.006, temperature: float = 0.5) -> None:
        super().__init__(model, torch.optim.SGD(model.parameters(), lr=lr, momentum=0.9))
        self.temperature = temperature

    def train_step(self, batch, step, accelerator):
        images = images_of(batch)
        _, a = self.models[self.name](simclr_views(images))
        _, b = self.models[self.name](simclr_views(images))
        return self._step({"nt_xent": nt_xent(a, b, self.temperature)}, accelerator)


class PopYouTask(_OneModelTask):
    """PopYou's mapper: image -> frozen CLIP -> mapper -> z -> frozen FastGAN, with PopYou's four terms.

    PopYou's repository has no optimiser, learning rate or epochs: Adam 1e-4 is our choice.
    """

    name = "mapper"

    def __init__(self, mapper: PopYouMapper, generator: InversionGenerator, clip: DifferentiableClip,
                 perceptual: Distance, lr: float = 1e-4) -> None:
        if generator.kind != "fastgan" or generator.space != "z":
            raise ValueError("PopYou's mapper writes FastGAN's z: pass InversionGenerator(fastgan, 'z')")
        super().__init__(mapper, torch.optim.Adam(mapper.parameters(), lr=lr))
        self.generator, self.clip, self.perceptual = generator, clip, perceptual

    def train_step(self, batch, step, accelerator):
        images = images_of(batch)
        with torch.no_grad():
            clip_target = self.clip.encode_image(images)
        generated = self.generator(self.models[self.name](clip_target))
        clip_generated = self.clip.encode_image(to_unit(generated))
        return self._step(popyou_terms(generated, images * 2 - 1, clip_generated, clip_target, self.perceptual),
                          accelerator)


class ToyHollyWoodTask(_OneModelTask):
    """ToyHollyWood's mapper: image -> frozen SimCLR -> s + mapper(s) -> StyleGAN2's style vectoriser.

    ``clip_grad`` False is the released code (its CLIP terms carry no gradient), True the fix. The
    optimiser is not in METHODS.md: Adam 1e-4, our choice.
    """

    name = "mapper"

    def __init__(self, mapper: ToyHollyWoodMapper, simclr: SimCLR, generator: InversionGenerator,
                 clip: DifferentiableClip, dists: Distance, clip_grad: bool, lr: float = 1e-4) -> None:
        if generator.kind != "stylegan2" or generator.space != "z":
            raise ValueError("ToyHollyWood's mapper writes the style vectoriser's input: InversionGenerator(stylegan2, 'z')")
        if simclr.feature_dim != generator.latent_dim:
            raise ValueError(f"SimCLR features ({simclr.feature_dim}-d) must match the style dimension "
                             f"({generator.latent_dim}): w = s + mapper(s) goes straight into the style vectoriser")
        super().__init__(mapper, torch.optim.Adam(mapper.parameters(), lr=lr))
        self.simclr = simclr.eval().requires_grad_(False)
        self.generator, self.clip, self.dists, self.clip_grad = generator, clip, dists, clip_grad

    def train_step(self, batch, step, accelerator):
        images = images_of(batch)
        with torch.no_grad():
            features = self.simclr.backbone(images)
        generated = self.generator(self.models[self.name](features))
        simclr_generated = self.simclr.backbone(to_unit(generated))
        terms = toyhollywood_terms(generated, images * 2 - 1, self.clip.encode_image, simclr_generated, features,
                                   self.dists, clip_grad=self.clip_grad)
        return self._step(terms, accelerator)


class CSLATask(_OneModelTask):
    """CelebrityLook's data-free mapper: z -> w -> image -> CLIP -> mapper -> W+, 5 * MSE to the true W+,
    Adam 3e-5. The batch is z (:class:`SeededLatents`); no real image is seen."""

    name = "mapper"

    def __init__(self, mapper: CSLAMapper, generator: InversionGenerator, clip: DifferentiableClip,
                 lr: float = 3e-5) -> None:
        if generator.kind != "stylegan2" or generator.space != "w+":
            raise ValueError("CSLA's mapper writes W+: pass InversionGenerator(stylegan2, 'w+')")
        super().__init__(mapper, torch.optim.Adam(mapper.parameters(), lr=lr))
        self.generator, self.clip = generator, clip

    def train_step(self, batch, step, accelerator):
        with torch.no_grad():
            w_true = self.generator.from_z(batch)
            clip_embedding = self.clip.encode_image(to_unit(self.generator(w_true)))
        return self._step(csla_terms(self.models[self.name](clip_embedding), w_true), accelerator)


class EncoderTask(_OneModelTask):
    """The pSp-style encoder: image -> latent -> frozen generator, pixel MSE + perceptual distance.
    pSp's Ranger optimiser is swapped for Adam at its learning rate 1e-4 (our choice)."""

    name = "encoder"

    def __init__(self, encoder: PSPEncoder, generator: InversionGenerator, perceptual: Distance,
                 lr: float = 1e-4) -> None:
        super().__init__(encoder, torch.optim.Adam(encoder.parameters(), lr=lr))
        self.generator, self.perceptual = generator, perceptual

    def train_step(self, batch, step, accelerator):
        images = images_of(batch)
        generated = self.generator(self.models[self.name](images))
        terms = reconstruction_terms(generated, images * 2 - 1, self.perceptual)
        return self._step({k: v.mean() for k, v in terms.items()}, accelerator)


# ---------------------------------------------------------------------------------------------------
# running


@dataclass
class FitResult:
    result: TrainResult
    trainer: Trainer
    wall_s: float
    steps_trained_now: int


def fit(task: Task, dataset: Dataset, out_dir: str | Path, *, steps: int, batch_size: int, seed: int,
        log_every: int = 10, checkpoint_every: int | None = None, progress: bool = True) -> FitResult:
    """Train ``task`` to ``steps`` in ``out_dir``, resuming from its newest checkpoint."""
    log_every = max(1, min(log_every, steps))
    checkpoint_every = checkpoint_every or steps
    checkpoint_every = max(log_every, checkpoint_every - checkpoint_every % log_every)
    config = TrainConfig(steps=steps, batch_size=batch_size, seed=seed, log_every=log_every,
                         checkpoint_every=checkpoint_every, progress=progress)
    trainer = Trainer(task, dataset, config, out_dir)
    start = time.perf_counter()
    result = trainer.fit()
    return FitResult(result, trainer, time.perf_counter() - start, result.step - (result.resumed_from or 0))
