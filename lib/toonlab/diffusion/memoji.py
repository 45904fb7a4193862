"""MyMemoji's pipeline in diffusers: photo -> attribute prompt -> canny edges -> SDXL + ControlNet canny + LoRA
img2img -> 1.5x img2img refine. One function (:meth:`MemojiPipeline.generate`), one seed, deterministic; and
:func:`memoji_batch`, the same over a folder of photos, resumable without duplicate or lost outputs.

What the source ran (A1111 web UI API, ``seeds/METHODS.md``): seed 2968506678, DDIM 50 steps, CFG 7, prompt
``emoji, {male|female}, {expression}[, glasses], <lora:memoji:1>``; pass 1 img2img of the photo with ControlNet
canny (thresholds 70/230, weight 1); pass 2 img2img of pass 1 upscaled 1.5x, no ControlNet, same checkpoint.
Here ``<lora:memoji:1>`` is the LoRA loaded at scale 1 (diffusers has no prompt syntax for it).

**Denoising strength.** MyMemoji's code sends ``strength: 0.3``, a field A1111's img2img API does not read
(its name there is ``denoising_strength``), so A1111's default **0.75** ran in both passes. We use 0.75 by
default — the value that produced the source's pictures — and show the intended 0.3 as a labelled variant.
Like A1111, diffusers runs ``int(steps * strength)`` of the 50 DDIM steps (37 at 0.75).

Choices where the source is silent, stated: the photo is centre-cropped to a square before resizing (A1111's
"just resize" would stretch it); canny runs on the RGB photo at the generation size, as sd-webui-controlnet's
canny preprocessor calls ``cv2.Canny`` on the RGB array; the upscale is Lanczos; no negative prompt.
Pass 1 runs at **1024 px** (SDXL's native size; A1111's API default is 512 and the source's payload sets no
size, so what it ran at is not stated), and canny runs at that generation size, not at the photo's own size.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image
from tqdm.auto import tqdm

from toonlab import atomic
from toonlab.data.images import to_rgb_on_white

SEED = 2968506678
STEPS = 50
GUIDANCE = 7.0
CANNY_THRESHOLDS = (70, 230)
A1111_DEFAULT_STRENGTH = 0.75  # what ran: A1111's img2img default (the source's 0.3 went to an unread field)
INTENDED_STRENGTH = 0.3  # what the source's code meant to send
UPSCALE = 1.5
GENDERS = ("male", "female")
EXPRESSIONS = ("smiling", "crying", "Neutral", "Angry", "Laughing", "Sad face")
PHOTO_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp", ".bmp")
BATCH_FORMAT = "toonlab.memoji.batch/1"


class MemojiError(RuntimeError):
    """A photo, prompt or batch folder the pipeline cannot use (the message says how to fix it)."""


def memoji_prompt(gender: str, expression: str, glasses: bool) -> str:
    """The source's prompt from the three attributes (its words and capitals, e.g. ``Sad face``)."""
    if gender not in GENDERS:
        raise MemojiError(f"gender must be one of {GENDERS}, got {gender!r}")
    if expression not in EXPRESSIONS:
        raise MemojiError(f"expression must be one of {EXPRESSIONS}, got {expression!r}")
    return f"emoji, {gender}, {expression}" + (", glasses" if glasses else "")


# ---------------------------------------------------------------------------------------------------
# the photo and its edges


def to_rgb(photo: Image.Image) -> Image.Image:
    """Any PIL photo as RGB: transparency composited on white, grey (L, I;16, 1) expanded to three channels."""
    if not isinstance(photo, Image.Image):
        raise MemojiError(f"the photo must be a PIL image, got {type(photo).__name__}; open it with PIL.Image.open")
    if photo.mode in ("I;16", "I;16B", "I;16L", "I"):  # 16-bit greys (medical / scanner photos): stretch to 8 bits
        array = np.asarray(photo, dtype=np.float64)
        high = array.max() or 1.0
        photo = Image.fromarray(np.clip(array / high * 255.0, 0, 255).astype(np.uint8), mode="L")
    return to_rgb_on_white(photo)


def prepare_photo(photo: Image.Image, size: int, min_side: int = 16) -> Image.Image:
    """RGB, centre-cropped to a square, resized (Lanczos) to ``size``."""
    photo = to_rgb(photo)
    if min(photo.size) < min_side:
        raise MemojiError(f"the photo is {photo.width}x{photo.height} px; at least {min_side} px per side is needed "
                          "(use a larger photo)")
    side = min(photo.size)
    left, top = (photo.width - side) // 2, (photo.height - side) // 2
    return photo.crop((left, top, left + side, top + side)).resize((size, size), Image.LANCZOS)


def canny_edges(image: Image.Image, low: int = CANNY_THRESHOLDS[0], high: int = CANNY_THRESHOLDS[1]) -> Image.Image:
    """OpenCV canny on the RGB array (sd-webui-controlnet's preprocessor), as a 3-channel white-on-black image."""
    import cv2

    if not 0 <= low <= high:
        raise MemojiError(f"canny thresholds must satisfy 0 <= low <= high, got {low}/{high}")
    edges = cv2.Canny(np.ascontiguousarray(np.asarray(to_rgb(image))), int(low), int(high))
    return Image.fromarray(np.repeat(edges[:, :, None], 3, axis=2))


# ---------------------------------------------------------------------------------------------------
# one memoji


@dataclass(frozen=True)
class MemojiSettings:
    """One variant of the pipeline; the defaults are the source's (with A1111's default strength)."""

    size: int = 1024  # pass-1 side in px (SDXL's native size)
    steps: int = STEPS
    guidance: float = GUIDANCE
    seed: int = SEED
    strength: float = A1111_DEFAULT_STRENGTH  # pass 1
    refine_strength: float = A1111_DEFAULT_STRENGTH  # pass 2
    lora: bool = True
    lora_scale: float = 1.0
    controlnet: bool = True
    controlnet_weight: float = 1.0
    canny_low: int = CANNY_THRESHOLDS[0]
    canny_high: int = CANNY_THRESHOLDS[1]
    refine: bool = True
    upscale: float = UPSCALE
    negative_prompt: str = ""

    def __post_init__(self) -> None:
        if not 0 < self.strength <= 1 or not 0 < self.refine_strength <= 1:
            raise MemojiError(f"strengths must be in (0, 1], got {self.strength} and {self.refine_strength}")
        if self.steps < 1 or self.size < 8 or self.upscale < 1:
            raise MemojiError(f"need steps >= 1, size >= 8 and upscale >= 1; got {self.steps}, {self.size}, {self.upscale}")
        if int(self.steps * self.strength) < 1:
            raise MemojiError(f"steps x strength = {self.steps} x {self.strength} runs no denoising step; raise either")
        if not 0 <= self.canny_low <= self.canny_high:
            raise MemojiError(f"canny thresholds must satisfy 0 <= low <= high, got {self.canny_low}/{self.canny_high}")

    def with_(self, **changes: Any) -> MemojiSettings:
        return replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class MemojiOutput:
    photo: Image.Image  # the prepared input (square, RGB, pass-1 size)
    edges: Image.Image
    first: Image.Image  # pass 1
    final: Image.Image  # pass 2 (or pass 1 without refine)
    seconds: dict[str, float]  # per stage: canny, pass1, refine
    cuda_peak_mib: dict[str, float]  # per stage, on CUDA only


class MemojiPipeline:
    """The two passes over one set of SDXL components (nothing is loaded twice): an SDXL ControlNet img2img
    pipeline for pass 1 and an SDXL img2img pipeline for pass 1 without ControlNet and for the refine pass;
    DDIM as in the source. ``lora`` is a diffusers-format or kohya LoRA file (checked against the base)."""

    def __init__(self, base: Any, controlnet: Any | None = None, lora: str | Path | None = None,
                 base_name: str = "") -> None:
        from diffusers import DDIMScheduler, StableDiffusionXLControlNetImg2ImgPipeline, StableDiffusionXLImg2ImgPipeline

        from toonlab.diffusion.lora import is_sdxl, load_lora

        if not is_sdxl(base.unet):
            raise MemojiError("the memoji pipeline needs an SDXL base (MyMemoji: Samaritan-3D-Cartoon SDXL); "
                              "this UNet has no text-time conditioning")
        self.has_lora = lora is not None
        if lora is not None:
            load_lora(base, lora, adapter_name="memoji", pipe_name=base_name)
        components = {k: v for k, v in base.components.items() if k not in ("image_encoder", "feature_extractor")}
        components["scheduler"] = DDIMScheduler.from_config(base.scheduler.config)
        self.img2img = StableDiffusionXLImg2ImgPipeline(**components)
        self.controlnet_img2img = (StableDiffusionXLControlNetImg2ImgPipeline(**components, controlnet=controlnet)
                                   if controlnet is not None else None)
        for pipe in (self.img2img, self.controlnet_img2img):
            if pipe is not None:
                pipe.set_progress_bar_config(disable=True)
        self.unet = base.unet
        self.device = base.unet.device
        # pass sides must give latents the UNet can halve at every level
        self.multiple = self.img2img.vae_scale_factor * 2 ** (len(base.unet.config.block_out_channels) - 1)

    def _set_lora(self, settings: MemojiSettings) -> None:
        if settings.lora and not self.has_lora:
            raise MemojiError("this variant uses the LoRA but the pipeline was built without one; pass lora=<file>")
        if not self.has_lora:
            return
        if settings.lora:
            self.img2img.enable_lora()
            self.img2img.set_adapters(["memoji"], adapter_weights=[settings.lora_scale])
        else:
            self.img2img.disable_lora()

    def refine_size(self, settings: MemojiSettings) -> int:
        return max(self.multiple, int(round(settings.size * settings.upscale / self.multiple)) * self.multiple)

    @torch.inference_mode()
    def generate(self, photo: Image.Image, prompt: str, settings: MemojiSettings = MemojiSettings()) -> MemojiOutput:
        """One memoji; the same photo, prompt and settings always give the same pixels on one machine."""
        if not isinstance(prompt, str) or not prompt.strip():
            raise MemojiError("the prompt is empty; build it with memoji_prompt(gender, expression, glasses)")
        if settings.size % self.multiple:
            raise MemojiError(f"size {settings.size} must be a multiple of {self.multiple} for this model")
        if settings.controlnet and self.controlnet_img2img is None:
            raise MemojiError("this variant uses ControlNet but the pipeline was built without one")
        seconds: dict[str, float] = {}
        peaks: dict[str, float] = {}
        cuda = self.device.type == "cuda"

        def stage(name: str, fn: Callable[[], Any]) -> Any:
            if cuda:
                torch.cuda.synchronize(self.device)
                torch.cuda.reset_peak_memory_stats(self.device)
            start = time.perf_counter()
            value = fn()
            if cuda:
                torch.cuda.synchronize(self.device)
                peaks[name] = torch.cuda.max_memory_allocated(self.device) / 2**20
            seconds[name] = time.perf_counter() - start
            return value

        image = prepare_photo(photo, settings.size)
        edges = stage("canny", lambda: canny_edges(image, settings.canny_low, settings.canny_high))
        self._set_lora(settings)
        common = {"prompt": prompt, "negative_prompt": settings.negative_prompt or None,
                  "num_inference_steps": settings.steps, "guidance_scale": settings.guidance}

        def first_pass() -> Image.Image:
            generator = torch.Generator("cpu").manual_seed(settings.seed)
            if settings.controlnet:
                return self.controlnet_img2img(image=image, control_image=edges, strength=settings.strength,
                                               controlnet_conditioning_scale=settings.controlnet_weight,
                                               generator=generator, **common).images[0]
            return self.img2img(image=image, strength=settings.strength, generator=generator, **common).images[0]

        first = stage("pass1", first_pass)
        final = first
        if settings.refine:
            side = self.refine_size(settings)

            def refine() -> Image.Image:
                # A1111 seeds every call with the request's seed: pass 2 draws its noise from the same seed
                generator = torch.Generator("cpu").manual_seed(settings.seed)
                upscaled = first.resize((side, side), Image.LANCZOS)
                return self.img2img(image=upscaled, strength=settings.refine_strength, generator=generator,
                                    **common).images[0]

            final = stage("refine", refine)
        return MemojiOutput(image, edges, first, final, seconds, peaks)


# ---------------------------------------------------------------------------------------------------
# a folder of photos, resumable


def png_bytes(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def read_photos(folder: str | Path) -> list[tuple[str, Image.Image]]:
    """``(name, image)`` for every photo in ``folder`` (sorted by name; other files ignored)."""
    folder = Path(folder)
    if not folder.is_dir():
        raise MemojiError(f"photo folder {folder} does not exist")
    photos = []
    for path in sorted(p for p in folder.iterdir() if p.suffix.lower() in PHOTO_SUFFIXES):
        try:
            with Image.open(path) as image:
                image.load()
                photos.append((path.stem, image.copy()))
        except OSError as error:
            raise MemojiError(f"{path} is not a readable image ({error}); remove it from the folder") from None
    if not photos:
        raise MemojiError(f"no photos ({', '.join(PHOTO_SUFFIXES)}) in {folder}")
    return photos


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def photo_digest(image: Image.Image) -> str:
    """sha256 of the decoded pixels, mode and size (the file's bytes may differ for the same photo)."""
    return _sha(f"{image.mode}:{image.size}".encode() + image.tobytes())


@dataclass
class BatchReport:
    folder: Path
    total: int
    generated: int  # in this call
    reused: int  # finished by an earlier (killed) call
    records: list[dict[str, Any]]


OUTPUTS = ("memoji", "pass1", "edges")


def memoji_batch(memoji: MemojiPipeline, photos: Sequence[tuple[str, Image.Image]], prompts: Sequence[str],
                 settings: MemojiSettings, folder: str | Path, *, model: str, progress: bool = True,
                 on_item: Callable[[str], None] | None = None) -> BatchReport:
    """Generate the memoji of every photo into ``folder``; a re-run after a kill finishes the rest.

    ``job.json`` fixes the job (settings, model label, photos by name and pixel digest, prompts); a folder never
    mixes two jobs. For each photo the PNGs are written atomically, *then* ``records/<name>.json`` — a photo
    counts as done only once its record exists, so a kill between the two leaves it to be redone (its orphan
    PNGs are overwritten). Finally ``manifest.csv`` lists every photo once and is verified against the files.
    ``on_item(name)`` runs after each finished photo (progress; tests inject faults with it).
    """
    if len(photos) != len(prompts):
        raise MemojiError(f"{len(photos)} photos but {len(prompts)} prompts; give one prompt per photo")
    names = [name for name, _ in photos]
    if len(set(names)) != len(names):
        raise MemojiError(f"photo names must be unique, got duplicates {sorted({n for n in names if names.count(n) > 1})}")
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    job = {"format": BATCH_FORMAT, "model": model, "settings": settings.to_dict(),
           "photos": [{"name": name, "digest": photo_digest(image), "prompt": prompt}
                      for (name, image), prompt in zip(photos, prompts)]}
    _claim(folder, job)
    done = {name for name in names if (folder / "records" / f"{name}.json").is_file()}
    bar = tqdm(total=len(names), initial=len(done), desc="memoji", disable=not progress, dynamic_ncols=True)
    generated = 0
    for (name, image), prompt in zip(photos, prompts):
        if name in done:
            continue
        output = memoji.generate(image, prompt, settings)
        record: dict[str, Any] = {"name": name, "prompt": prompt, "seed": settings.seed, "model": model,
                                  "seconds": output.seconds, "cuda_peak_mib": output.cuda_peak_mib,
                                  "width": output.final.width, "height": output.final.height}
        for kind, picture in zip(OUTPUTS, (output.final, output.first, output.edges)):
            data = png_bytes(picture)
            atomic.write_bytes(folder / kind / f"{name}.png", data)
            record[f"{kind}_sha256"] = _sha(data)
        atomic.write_json(folder / "records" / f"{name}.json", record)  # the photo is done once this exists
        generated += 1
        bar.update(1)
        if on_item is not None:
            on_item(name)
    bar.close()
    records = verify_batch(folder)
    return BatchReport(folder, len(names), generated, len(names) - generated, records)


def _claim(folder: Path, job: Mapping[str, Any]) -> None:
    path = folder / "job.json"
    if path.is_file():
        existing = json.loads(path.read_text(encoding="utf-8"))
        if existing != json.loads(json.dumps(job)):
            changed = sorted(k for k in set(existing) | set(job) if existing.get(k) != json.loads(json.dumps(job)).get(k))
            raise MemojiError(f"{folder} holds another memoji job (differs in {changed}); resume it with the same "
                              "photos and settings, or use a new folder")
        return
    atomic.write_json(path, job)


def verify_batch(folder: str | Path) -> list[dict[str, Any]]:
    """Check a finished folder (one record per photo, files match their sha256) and write ``manifest.csv``."""
    folder = Path(folder)
    job = json.loads((folder / "job.json").read_text(encoding="utf-8"))
    records, problems = [], []
    for photo in job["photos"]:
        path = folder / "records" / f"{photo['name']}.json"
        if not path.is_file():
            problems.append(f"{photo['name']}: no record (not generated yet)")
            continue
        record = json.loads(path.read_text(encoding="utf-8"))
        if record["prompt"] != photo["prompt"]:
            problems.append(f"{photo['name']}: prompt differs from job.json")
        for kind in OUTPUTS:
            file = folder / kind / f"{photo['name']}.png"
            if not file.is_file() or _sha(file.read_bytes()) != record[f"{kind}_sha256"]:
                problems.append(f"{photo['name']}: {kind} PNG missing or changed")
        records.append(record)
    wanted = {p["name"] for p in job["photos"]}
    extra = sorted({p.stem for kind in OUTPUTS for p in (folder / kind).glob("*.png")} - wanted)
    if extra:
        problems.append(f"files for photos not in the job: {extra[:5]}")
    if problems:
        raise MemojiError(f"{folder} fails verification ({len(problems)} problems): {problems[:5]}; delete the listed "
                          "records and run the batch again")
    buffer = io.StringIO()
    fields = ["name", "prompt", "seed", "model", "width", "height", *(f"{k}_sha256" for k in OUTPUTS)]
    writer = csv.DictWriter(buffer, fieldnames=fields, lineterminator="\n", extrasaction="ignore")
    writer.writeheader()
    writer.writerows(records)
    atomic.write_text(folder / "manifest.csv", buffer.getvalue())
    return records


def load_batch(folder: str | Path, kind: str = "memoji") -> list[Image.Image]:
    """The verified outputs of a finished batch, in the job's photo order."""
    if kind not in OUTPUTS:
        raise ValueError(f"kind must be one of {OUTPUTS}, got {kind!r}")
    images = []
    for record in verify_batch(folder):
        with Image.open(Path(folder) / kind / f"{record['name']}.png") as image:
            images.append(image.convert("RGB"))
    return images


__all__ = ["A1111_DEFAULT_STRENGTH", "BatchReport", "CANNY_THRESHOLDS", "EXPRESSIONS", "GENDERS", "GUIDANCE",
           "INTENDED_STRENGTH", "MemojiError", "MemojiOutput", "MemojiPipeline", "MemojiSettings", "SEED", "STEPS",
           "UPSCALE", "canny_edges", "load_batch", "memoji_batch", "memoji_prompt", "photo_digest", "prepare_photo",
           "read_photos", "to_rgb", "verify_batch"]
