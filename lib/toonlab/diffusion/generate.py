"""Synthetic data sets from a text-to-image pipeline — PopYou's recipe (30,000 "funko pop figure of {name}"
images from a diffusion model, then a GAN trained on them).

A job is a list of prompts x ``images_per_prompt``; image ``i`` has prompt ``prompts[i // k]`` and its own
seed :func:`~toonlab.diffusion.ddpm.image_seed` ``(seed, i)``, so it depends on the job and ``i`` only.
Generation is batched and survives a kill at any moment without duplicates or gaps:

1. ``job.json`` fixes the job (prompts, seed, model, steps, guidance, size); a folder never mixes two jobs;
2. each batch writes its PNGs atomically, *then* one shard ``shards/<first>-<last>.json`` listing them
   (prompt, seed, model, sha256, size) — a batch counts as done only once its shard exists;
3. a restart reads the shards, regenerates exactly the indices no shard lists (orphan PNGs from a batch
   killed before its shard are overwritten), and finally writes ``manifest.csv`` and verifies it: every
   index once, every file present with its recorded sha256.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch
from tqdm.auto import tqdm

from toonlab import atomic
from toonlab.diffusion.ddpm import image_seed

JOB_FORMAT = "toonlab.diffusion.generate/1"
MANIFEST_FIELDS = ("index", "file", "prompt", "seed", "model", "sha256", "width", "height")


class GenerationError(RuntimeError):
    """A generation folder is inconsistent, or belongs to another job."""


@dataclass(frozen=True)
class GenerationJob:
    """What to generate. ``model`` labels the pipeline in the manifest (e.g. ``zoo.describe("sd15", profile)``)."""

    prompts: tuple[str, ...]
    model: str
    images_per_prompt: int = 1
    seed: int = 0
    steps: int = 25
    guidance_scale: float = 7.5
    height: int | None = None  # None: the pipeline's default size
    width: int | None = None
    negative_prompt: str | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "prompts", tuple(self.prompts))
        if not self.prompts or not all(isinstance(p, str) and p.strip() for p in self.prompts):
            raise ValueError("a generation job needs at least one non-empty prompt")
        if self.images_per_prompt < 1 or self.steps < 1:
            raise ValueError(f"images_per_prompt and steps must be >= 1, got {self.images_per_prompt}, {self.steps}")
        if not self.model:
            raise ValueError("name the model (it goes into every manifest row)")

    def __len__(self) -> int:
        return len(self.prompts) * self.images_per_prompt

    def prompt(self, index: int) -> str:
        return self.prompts[index // self.images_per_prompt]

    def seed_of(self, index: int) -> int:
        return image_seed(self.seed, index)

    def to_dict(self) -> dict[str, Any]:
        return {"format": JOB_FORMAT, **asdict(self), "prompts": list(self.prompts)}

    def fingerprint(self) -> str:
        """A short hash of the job: a folder name that changes whenever any setting does."""
        return hashlib.sha256(json.dumps(self.to_dict(), sort_keys=True).encode()).hexdigest()[:12]


@dataclass
class GenerationReport:
    folder: Path
    total: int
    generated: int  # in this call
    reused: int  # already there from an earlier (killed) call
    wall_s: float
    manifest: Path

    @property
    def images_per_s(self) -> float:
        return self.generated / self.wall_s if self.wall_s > 0 and self.generated else float("nan")


def image_name(index: int) -> str:
    return f"images/{index:06d}.png"


def shard_path(folder: Path, indices: Sequence[int]) -> Path:
    return folder / "shards" / f"{indices[0]:06d}-{indices[-1]:06d}.json"


def png_bytes(image: Any) -> bytes:
    buffer = io.BytesIO()
    image.convert("RGB").save(buffer, format="PNG")
    return buffer.getvalue()


def _claim_folder(folder: Path, job: GenerationJob) -> None:
    path = folder / "job.json"
    record = job.to_dict()
    if path.is_file():
        existing = json.loads(path.read_text(encoding="utf-8"))
        if existing != record:
            changed = sorted(k for k in set(existing) | set(record) if existing.get(k) != record.get(k))
            raise GenerationError(
                f"{folder} holds another generation job (differs in {changed}); resume it with the same "
                "settings, or generate into a new folder"
            )
        return
    atomic.write_json(path, record)


def read_shards(folder: Path, job: GenerationJob) -> dict[int, dict[str, Any]]:
    """Rows of every finished batch by index; overlapping or foreign shards are errors."""
    rows: dict[int, dict[str, Any]] = {}
    for path in sorted((folder / "shards").glob("*.json")):
        try:
            shard = json.loads(path.read_text(encoding="utf-8"))
        except json.JSONDecodeError as error:  # atomic writes make this a foreign or hand-edited file
            raise GenerationError(f"{path} is not valid JSON ({error}); delete it to regenerate its batch") from None
        for row in shard:
            index = int(row["index"])
            if index in rows:
                raise GenerationError(f"image {index} is listed by two shards ({path.name}); delete one of them")
            if not 0 <= index < len(job):
                raise GenerationError(f"{path.name} lists image {index}, outside this job's 0..{len(job) - 1}")
            rows[index] = row
    return rows


def _call_pipeline(pipe: Any, job: GenerationJob, indices: Sequence[int]) -> list[Any]:
    kwargs: dict[str, Any] = {}
    if job.height is not None:
        kwargs["height"] = job.height
    if job.width is not None:
        kwargs["width"] = job.width
    if job.negative_prompt is not None:
        kwargs["negative_prompt"] = [job.negative_prompt] * len(indices)
    # One CPU generator per image: its noise depends on its own seed only (not on the batch it is in).
    generators = [torch.Generator("cpu").manual_seed(job.seed_of(i)) for i in indices]
    output = pipe(prompt=[job.prompt(i) for i in indices], generator=generators, num_inference_steps=job.steps,
                  guidance_scale=job.guidance_scale, output_type="pil", **kwargs)
    images = output.images
    if len(images) != len(indices):
        raise GenerationError(f"the pipeline returned {len(images)} images for {len(indices)} prompts")
    return images


def generate_dataset(pipe: Any, job: GenerationJob, folder: str | Path, *, batch_size: int = 8,
                     progress: bool = True,
                     on_batch: Callable[[list[int]], None] | None = None) -> GenerationReport:
    """Generate (or finish generating) ``job`` into ``folder``; returns counts and the manifest path.

    ``on_batch(indices)`` runs after each finished batch (progress reporting; tests inject faults with it).
    """
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    _claim_folder(folder, job)
    done = read_shards(folder, job)
    missing = [i for i in range(len(job)) if i not in done]
    start = time.perf_counter()
    bar = tqdm(total=len(job), initial=len(done), desc="generate", disable=not progress, dynamic_ncols=True)
    for first in range(0, len(missing), batch_size):
        indices = missing[first:first + batch_size]
        rows = []
        for index, image in zip(indices, _call_pipeline(pipe, job, indices)):
            data = png_bytes(image)
            atomic.write_bytes(folder / image_name(index), data)
            rows.append({"index": index, "file": image_name(index), "prompt": job.prompt(index),
                         "seed": job.seed_of(index), "model": job.model,
                         "sha256": hashlib.sha256(data).hexdigest(), "width": image.width, "height": image.height})
        atomic.write_json(shard_path(folder, indices), rows)  # the batch is done once this exists
        bar.update(len(indices))
        if on_batch is not None:
            on_batch(indices)
    bar.close()
    wall = time.perf_counter() - start
    manifest = write_manifest(folder, job)
    return GenerationReport(folder, len(job), len(missing), len(job) - len(missing), wall, manifest)


def write_manifest(folder: Path, job: GenerationJob) -> Path:
    """Consolidate the shards into ``manifest.csv`` (sorted by index) after checking them."""
    rows = read_shards(folder, job)
    gaps = [i for i in range(len(job)) if i not in rows]
    if gaps:
        raise GenerationError(f"{len(gaps)} images have no shard yet (first: {gaps[:5]}); run generate_dataset again")
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=MANIFEST_FIELDS, lineterminator="\n")
    writer.writeheader()
    for index in range(len(job)):
        writer.writerow({key: rows[index][key] for key in MANIFEST_FIELDS})
    path = atomic.write_text(folder / "manifest.csv", buffer.getvalue())
    verify(folder)
    return path


def read_manifest(folder: str | Path) -> list[dict[str, Any]]:
    path = Path(folder) / "manifest.csv"
    if not path.is_file():
        raise GenerationError(f"{path} is missing; the generation has not finished — run generate_dataset again")
    with path.open(newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    for row in rows:
        for key in ("index", "seed", "width", "height"):
            row[key] = int(row[key])
    return rows


def verify(folder: str | Path) -> list[dict[str, Any]]:
    """Check a finished folder: indices 0..N-1 each once, the job's prompts and seeds, files with their sha256."""
    folder = Path(folder)
    job_record = json.loads((folder / "job.json").read_text(encoding="utf-8"))
    job_record.pop("format", None)
    job = GenerationJob(**job_record)
    rows = read_manifest(folder)
    indices = [row["index"] for row in rows]
    if indices != list(range(len(job))):
        raise GenerationError(f"{folder}/manifest.csv lists {len(rows)} rows, not exactly the indices "
                              f"0..{len(job) - 1}; delete manifest.csv and run generate_dataset again")
    problems = []
    for row in rows:
        index = row["index"]
        if row["prompt"] != job.prompt(index) or row["seed"] != job.seed_of(index):
            problems.append(f"{index}: prompt/seed do not match job.json")
            continue
        path = folder / row["file"]
        if not path.is_file():
            problems.append(f"{index}: {row['file']} is missing")
        elif hashlib.sha256(path.read_bytes()).hexdigest() != row["sha256"]:
            problems.append(f"{index}: {row['file']} does not match its sha256")
    extra = sorted({p.name for p in (folder / "images").glob("*.png")} - {Path(r["file"]).name for r in rows})
    if extra:
        problems.append(f"files not in the manifest: {extra[:5]}")
    if problems:
        raise GenerationError(f"{folder} fails verification ({len(problems)} problems): {problems[:5]}; delete the "
                              "listed files and their shards, then run generate_dataset again")
    return rows


def load_generated(folder: str | Path) -> tuple[list[Any], list[str]]:
    """The verified images (PIL, RGB) and their prompts, in index order."""
    from PIL import Image

    rows = verify(folder)
    images = []
    for row in rows:
        with Image.open(Path(folder) / row["file"]) as image:
            images.append(image.convert("RGB"))
    return images, [row["prompt"] for row in rows]
