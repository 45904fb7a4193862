"""What users of Shap-E do to an image before lifting it: remove the background, centre the object, pad.

Shap-E was trained on renders of single objects centred on a plain background; a photo with a table and a
wall, or a figure in a corner of the frame, is out of distribution. The steps:

1. **check** — RGB is required (RGBA is composited on white: a cut-out's alpha *is* its mask); any other
   mode is refused with the conversion that would make it usable;
2. **segment** — ``grabcut`` (OpenCV's GrabCut initialised with a rectangle a few pixels inside the
   border: the source's toys are photographed on plain backgrounds, so everything at the border is
   background; no weights, runs offline), ``rembg`` (U²-Net; downloads its weights on first use, so only in
   ``full``) or ``none``;
3. **centre and pad** — crop to the mask's bounding box, scale its longest side to ``fill`` of the output,
   paste in the middle of a white square.

An empty mask (nothing segmented) is an error that names the image, never a blank input to Shap-E.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from PIL import Image

METHODS = ("grabcut", "rembg", "none")
WHITE = (255, 255, 255)


class PreprocessError(ValueError):
    """An image that cannot be prepared for lifting (wrong mode, nothing segmented)."""


def check_rgb(image: Image.Image, name: str = "image") -> Image.Image:
    """RGB as is, RGBA composited on white; anything else is refused with the fix."""
    if not isinstance(image, Image.Image):
        raise PreprocessError(f"{name}: expected a PIL image, got {type(image).__name__} "
                              "(open files with PIL.Image.open)")
    if image.mode == "RGB":
        return image
    if image.mode == "RGBA":
        background = Image.new("RGB", image.size, WHITE)
        background.paste(image, mask=image.getchannel("A"))
        return background
    raise PreprocessError(f"{name} has mode {image.mode!r}, not RGB: Shap-E's image encoder takes colour "
                          f"images. Convert it first (image.convert('RGB')) if a {image.mode} image is "
                          "what you mean to lift")


def grabcut_mask(image: Image.Image, margin: float = 0.04, iterations: int = 5, seed: int = 0) -> np.ndarray:
    """GrabCut foreground (bool H×W), initialised with a rectangle ``margin`` of the side inside the border."""
    import cv2

    rgb = np.asarray(check_rgb(image))
    h, w = rgb.shape[:2]
    dx, dy = max(1, round(margin * w)), max(1, round(margin * h))
    mask = np.zeros((h, w), np.uint8)
    background_model, foreground_model = np.zeros((1, 65), np.float64), np.zeros((1, 65), np.float64)
    cv2.setRNGSeed(seed)  # GrabCut seeds its colour models with k-means: fixed for reproducible masks
    cv2.grabCut(rgb[:, :, ::-1].copy(), mask, (dx, dy, w - 2 * dx, h - 2 * dy), background_model,
                foreground_model, iterations, cv2.GC_INIT_WITH_RECT)
    return (mask == cv2.GC_FGD) | (mask == cv2.GC_PR_FGD)


def rembg_mask(image: Image.Image) -> np.ndarray:
    """U²-Net foreground via rembg (``full`` only: it downloads its model on first use)."""
    try:
        from rembg import remove
    except ImportError as error:
        raise PreprocessError("background method 'rembg' needs the optional package: pip install rembg "
                              "(its U²-Net weights download on first use, so it runs only with internet; "
                              "use method='grabcut' offline)") from error
    return np.asarray(remove(check_rgb(image)).getchannel("A")) > 127


def segment(image: Image.Image, method: str = "grabcut") -> np.ndarray:
    if method not in METHODS:
        raise PreprocessError(f"unknown background method {method!r}; choose one of {METHODS}")
    if method == "grabcut":
        return grabcut_mask(image)
    if method == "rembg":
        return rembg_mask(image)
    return np.ones(check_rgb(image).size[::-1], dtype=bool)


def center_and_pad(image: Image.Image, mask: np.ndarray, size: int = 256, fill: float = 0.8,
                   name: str = "image") -> Image.Image:
    """The masked object on white, its longest side ``fill`` × ``size``, centred in a ``size`` square."""
    rgb = check_rgb(image, name)
    if mask.shape != rgb.size[::-1]:
        raise PreprocessError(f"{name}: mask shape {mask.shape} does not match the image {rgb.size[::-1]}")
    if not mask.any():
        raise PreprocessError(f"{name}: the mask is empty (no object found). Check that the object stands "
                              "out from the background, or try another method (rembg in full) or none")
    if not 0 < fill <= 1:
        raise PreprocessError(f"fill must be in (0, 1], got {fill}")
    rows, cols = np.nonzero(mask)
    box = (cols.min(), rows.min(), cols.max() + 1, rows.max() + 1)
    cut = np.where(mask[..., None], np.asarray(rgb), np.array(WHITE, np.uint8))
    obj = Image.fromarray(cut.astype(np.uint8)).crop(box)
    scale = fill * size / max(obj.size)
    obj = obj.resize((max(1, round(obj.width * scale)), max(1, round(obj.height * scale))), Image.LANCZOS)
    canvas = Image.new("RGB", (size, size), WHITE)
    canvas.paste(obj, ((size - obj.width) // 2, (size - obj.height) // 2))
    return canvas


@dataclass(frozen=True)
class Prepared:
    image: Image.Image
    mask: np.ndarray
    method: str


def prepare(image: Image.Image, method: str = "grabcut", size: int = 256, fill: float = 0.8,
            name: str = "image") -> Prepared:
    """Check, segment, centre and pad one image for lifting (``method="none"`` only checks, then pads to a
    square on white and resizes — never stretches a non-square photo)."""
    rgb = check_rgb(image, name)
    mask = segment(rgb, method)
    if method == "none":
        side = max(rgb.size)
        square = Image.new("RGB", (side, side), WHITE)
        square.paste(rgb, ((side - rgb.width) // 2, (side - rgb.height) // 2))
        return Prepared(square.resize((size, size), Image.LANCZOS), mask, method)
    return Prepared(center_and_pad(rgb, mask, size, fill, name), mask, method)


def mask_iou(a: np.ndarray, b: np.ndarray) -> float:
    union = np.logical_or(a, b).sum()
    return float(np.logical_and(a, b).sum() / union) if union else 1.0
