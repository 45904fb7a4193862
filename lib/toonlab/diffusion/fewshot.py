"""Few-shot subject fine-tuning, the network side: identifiers, instance images, class images, sampling.

DreamBooth (Ruiz et al. 2023) binds a subject to a *rare identifier* in the prompt ("a photo of sks toy") and,
with *prior preservation*, keeps the class ("toy") from collapsing onto the subject by also training on images
the frozen model itself generated for the class prompt. This module holds what does not train:

* :func:`identifier_pieces` / :func:`check_identifier` — how the tokenizer splits the identifier, with a warning
  when it becomes several pieces (the paper's point: one rare token carries little prior meaning; "UnicornGirl"
  is "unicorn" + "girl", two words the model already knows);
* :class:`InstanceSet` — the few subject images, checked (enough of them) and normalised (modes, sizes);
* :func:`generate_class_images` — the prior-preservation class images, generated once by the frozen base into a
  folder with a manifest, resumable after a kill without duplicates (:mod:`toonlab.diffusion.generate`);
* :func:`sample` — images for evaluation as float arrays, so NaN outputs are seen before they become black
  pixels (:mod:`toonlab.metrics.failures` counts both).
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image

from toonlab.data.images import to_rgb_on_white
from toonlab.diffusion.generate import GenerationJob, generate_dataset, load_generated

DREAMBOOTH_IDENTIFIER = "sks"  # diffusers' DreamBooth examples; one CLIP token
MIN_INSTANCE_IMAGES = 3  # the DreamBooth paper trains on 3-5 images of a subject


class IdentifierWarning(UserWarning):
    """The instance identifier is split into several tokens."""


def identifier_pieces(tokenizer: Any, identifier: str) -> list[str]:
    """The BPE pieces the identifier becomes (without the start/end tokens)."""
    if not identifier or not identifier.strip():
        raise ValueError("the instance identifier is empty; use a rare token such as 'sks'")
    return tokenizer.tokenize(identifier.strip())


def check_identifier(tokenizer: Any, identifier: str, max_pieces: int = 1) -> list[str]:
    """Warn (:class:`IdentifierWarning`) when ``identifier`` is more than ``max_pieces`` tokens; return the pieces."""
    pieces = identifier_pieces(tokenizer, identifier)
    if len(pieces) > max_pieces:
        warnings.warn(f"the instance identifier {identifier!r} is {len(pieces)} tokens {pieces}: each piece brings "
                      f"the meaning the model already gives it; DreamBooth uses one rare token (e.g. "
                      f"{DREAMBOOTH_IDENTIFIER!r})", IdentifierWarning, stacklevel=2)
    return pieces


@dataclass
class InstanceSet:
    """The subject's few images, in RGB, with what had to be done to them (``notes``)."""

    images: list[Image.Image]
    names: list[str]
    notes: list[str] = field(default_factory=list)

    @classmethod
    def from_images(cls, images: Sequence[Image.Image], names: Sequence[str] | None = None, *, resolution: int,
                    min_images: int = MIN_INSTANCE_IMAGES) -> InstanceSet:
        """Check and normalise: at least ``min_images``; any mode becomes RGB (alpha on white); mixed sizes are
        allowed (every image is resized and centre-cropped to ``resolution`` for training) and noted, as is an
        image smaller than ``resolution`` (it gets upscaled)."""
        names = list(names) if names is not None else [f"image {i}" for i in range(len(images))]
        if len(names) != len(images):
            raise ValueError(f"{len(images)} images but {len(names)} names")
        if len(images) < min_images:
            raise ValueError(f"{len(images)} instance image(s) given; DreamBooth needs at least {min_images} of the "
                             f"subject (the paper uses 3-5): add images, or lower min_images knowingly")
        notes = []
        modes = sorted({image.mode for image in images})
        if modes != ["RGB"]:
            notes.append(f"modes {modes} converted to RGB (transparent areas on white)")
        sizes = sorted({image.size for image in images})
        if len(sizes) > 1:
            notes.append(f"{len(sizes)} different sizes: each image is resized (short side) and centre-cropped to "
                         f"{resolution} px")
        small = [n for n, image in zip(names, images) if min(image.size) < resolution]
        if small:
            notes.append(f"{len(small)} image(s) smaller than {resolution} px are upscaled: {small[:3]}")
        return cls([to_rgb_on_white(image) for image in images], names, notes)

    @classmethod
    def from_folder(cls, folder: str | Path, *, resolution: int, min_images: int = MIN_INSTANCE_IMAGES) -> InstanceSet:
        folder = Path(folder)
        if not folder.is_dir():
            raise FileNotFoundError(f"instance folder {folder} does not exist; put the subject's images there")
        paths = sorted(p for p in folder.iterdir() if p.suffix.lower() in (".png", ".jpg", ".jpeg", ".webp"))
        images = []
        for path in paths:
            with Image.open(path) as image:
                image.load()
                images.append(image.copy())
        return cls.from_images(images, [p.name for p in paths], resolution=resolution, min_images=min_images)

    def __len__(self) -> int:
        return len(self.images)


def generate_class_images(pipe: Any, class_prompt: str, count: int, folder: str | Path, *, model: str,
                          seed: int = 0, steps: int = 50, guidance: float = 7.5, size: int | None = None,
                          batch_size: int = 4, progress: bool = True, on_batch: Any = None) -> list[Image.Image]:
    """The prior-preservation images: ``count`` images of ``class_prompt`` from the frozen base, generated once.

    The folder holds ``job.json`` (prompt, seed, model, steps), the PNGs and ``manifest.csv``; a run killed at
    any moment resumes with the missing indices only, and a second call with the same job generates nothing.
    diffusers' script uses 50 steps and ``num_class_images`` = 100 by default; the images are the base model's,
    so they are made before any training step.
    """
    if count < 1:
        raise ValueError(f"prior preservation needs at least one class image, got count={count}")
    job = GenerationJob(prompts=(class_prompt,), model=model, images_per_prompt=count, seed=seed, steps=steps,
                        guidance_scale=guidance, height=size, width=size)
    generate_dataset(pipe, job, folder, batch_size=batch_size, progress=progress, on_batch=on_batch)
    images, _ = load_generated(folder)
    return images


@torch.inference_mode()
def sample(pipe: Any, prompts: Sequence[str], seeds: Sequence[int], *, steps: int, guidance: float,
           size: int | None = None, batch_size: int = 4) -> np.ndarray:
    """Images as float arrays (N, H, W, 3) in [0, 1], NaN kept: a diverged model's NaN latents would otherwise be
    turned into black pixels by the uint8 conversion and could not be told from a dark picture."""
    if len(prompts) != len(seeds):
        raise ValueError(f"{len(prompts)} prompts but {len(seeds)} seeds")
    kwargs = {"height": size, "width": size} if size else {}
    chunks = []
    for start in range(0, len(prompts), batch_size):
        part = slice(start, start + batch_size)
        generators = [torch.Generator("cpu").manual_seed(int(s)) for s in seeds[part]]
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="invalid value encountered in cast")  # NaN -> uint8
            out = pipe(prompt=list(prompts[part]), generator=generators, num_inference_steps=steps,
                       guidance_scale=guidance, output_type="np", **kwargs)
        chunks.append(np.asarray(out.images, dtype=np.float32))
    return np.concatenate(chunks)


def to_pil(images: np.ndarray) -> list[Image.Image]:
    """Float images in [0, 1] -> PIL (NaN -> 0, as diffusers' ``numpy_to_pil`` does)."""
    clean = np.nan_to_num(np.clip(images, 0.0, 1.0), nan=0.0)
    return [Image.fromarray(np.round(image * 255).astype(np.uint8)) for image in clean]


__all__ = ["DREAMBOOTH_IDENTIFIER", "IdentifierWarning", "InstanceSet", "MIN_INSTANCE_IMAGES", "check_identifier",
           "generate_class_images", "identifier_pieces", "sample", "to_pil"]
