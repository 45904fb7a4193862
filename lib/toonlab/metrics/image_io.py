"""Reading image folders for the feature metrics: decoded in batches by a thread pool, one batch ahead.

pytorch-fid decodes one image at a time in a DataLoader worker process. Here PIL decodes in threads (its
decoders release the GIL) while the network works on the previous batch, so decoding costs almost no wall
time. The pixels are the same as pytorch-fid's: ``PIL.Image.open(path).convert("RGB")`` then ``/ 255``.
An optional resize uses PIL bicubic, and every reported number says so.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from toonlab.metrics.checks import MetricInputError

# The extensions pytorch-fid accepts, so both read the same files from a folder.
IMAGE_EXTENSIONS = frozenset({"bmp", "jpg", "jpeg", "pgm", "png", "ppm", "tif", "tiff", "webp"})
RESIZE_METHOD = "PIL bicubic"


def list_images(folder: str | Path) -> list[Path]:
    """The image files directly inside ``folder`` (pytorch-fid's rule: by extension, not recursive), sorted."""
    folder = Path(folder)
    if not folder.is_dir():
        raise MetricInputError(f"image folder {folder} does not exist or is not a directory")
    files = sorted(path for ext in IMAGE_EXTENSIONS for path in folder.glob(f"*.{ext}"))
    if not files:
        raise MetricInputError(f"no images in {folder} (looked for *.{{{','.join(sorted(IMAGE_EXTENSIONS))}}})")
    return files


def describe_resize(resolution: int | None) -> str:
    return "native size" if resolution is None else f"{RESIZE_METHOD} to {resolution}x{resolution}"


def load_rgb(path: str | Path, resolution: int | None = None) -> np.ndarray:
    """One image as uint8 (H, W, 3); resized with PIL bicubic when ``resolution`` is given."""
    with Image.open(path) as image:
        image = image.convert("RGB")
        if resolution is not None and image.size != (resolution, resolution):
            image = image.resize((resolution, resolution), Image.Resampling.BICUBIC)
        return np.asarray(image, dtype=np.uint8)


def _stack(arrays: list[np.ndarray], paths: Sequence[Path]) -> torch.Tensor:
    shapes = {array.shape for array in arrays}
    if len(shapes) > 1:
        raise MetricInputError(f"images of different sizes {sorted(shapes)} in one batch (e.g. {paths[0]}); "
                               f"pass resolution=<pixels> to resize them all with {RESIZE_METHOD}")
    return torch.from_numpy(np.stack(arrays)).permute(0, 3, 1, 2).contiguous()


def iter_image_batches(paths: Sequence[str | Path], batch_size: int = 50, resolution: int | None = None,
                       workers: int = 2) -> Iterator[torch.Tensor]:
    """uint8 batches (B, 3, H, W) in ``paths`` order; the next batch decodes while the caller uses this one."""
    if batch_size < 1:
        raise MetricInputError(f"batch_size must be >= 1, got {batch_size}")
    paths = [Path(p) for p in paths]
    if not paths:
        raise MetricInputError("no image paths given")
    chunks = [paths[i:i + batch_size] for i in range(0, len(paths), batch_size)]
    with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:

        def submit(chunk: list[Path]) -> list[Future]:
            return [pool.submit(load_rgb, path, resolution) for path in chunk]

        pending = submit(chunks[0])
        for index, chunk in enumerate(chunks):
            arrays = [future.result() for future in pending]
            if index + 1 < len(chunks):  # bounded prefetch: at most two batches in memory
                pending = submit(chunks[index + 1])
            yield _stack(arrays, chunk)


def files_digest(paths: Sequence[str | Path]) -> str:
    """A content hash of a set of files (names and bytes), for cache keys when no data manifest is at hand."""
    digest = hashlib.sha256()
    for path in sorted(Path(p) for p in paths):
        digest.update(path.name.encode())
        digest.update(b"\0")
        file_digest = hashlib.sha256()
        with open(path, "rb") as handle:
            while block := handle.read(1 << 20):
                file_digest.update(block)
        digest.update(file_digest.digest())
    return digest.hexdigest()[:16]
