"""Turning any decoded picture into the book's standard image: RGB, white background, a square of side R."""

from __future__ import annotations

import io
import warnings

from PIL import Image, ImageFile

from toonlab.data.errors import CorruptItemError

# A truncated file must fail loudly, not decode into grey padding.
ImageFile.LOAD_TRUNCATED_IMAGES = False
WHITE = (255, 255, 255)


def decode(data: bytes, name: str) -> Image.Image:
    """Decode image bytes completely (so truncation is caught here), or raise :class:`CorruptItemError`."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data))
            image.load()
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombWarning, Image.DecompressionBombError) as error:
        raise CorruptItemError(name, f"cannot decode image ({type(error).__name__}: {error})") from error
    return image


def to_rgb_on_white(image: Image.Image) -> Image.Image:
    """RGB with any transparency composited over white (emoji and avatars are transparent drawings)."""
    if image.mode == "P" and "transparency" in image.info:
        image = image.convert("RGBA")
    if image.mode in ("RGBA", "LA", "PA", "RGBa", "La"):
        rgba = image.convert("RGBA")
        canvas = Image.new("RGBA", rgba.size, WHITE + (255,))
        canvas.alpha_composite(rgba)
        return canvas.convert("RGB")
    if image.mode in ("I;16", "I", "F"):
        raise ValueError(f"unsupported high-bit-depth mode {image.mode}; convert the file to 8-bit RGB")
    return image.convert("RGB")


def fit_square(image: Image.Image, resolution: int, fit: str = "pad") -> Image.Image:
    """Resize to ``resolution`` x ``resolution``.

    ``pad`` scales the long side to R and centres the picture on white (nothing of a drawing is lost);
    ``crop`` scales the short side to R and takes the centre (photos, like torchvision's Resize+CenterCrop).
    Composite over white *before* resizing, or transparent edges turn dark.
    """
    if resolution < 1:
        raise ValueError(f"resolution must be a positive number of pixels, got {resolution}")
    if fit not in ("pad", "crop"):
        raise ValueError(f"fit must be 'pad' or 'crop', got {fit!r}")
    image = to_rgb_on_white(image)
    width, height = image.size
    scale = resolution / (max(width, height) if fit == "pad" else min(width, height))
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    if size != image.size:
        image = image.resize(size, Image.Resampling.LANCZOS)
    if image.size == (resolution, resolution):
        return image
    if fit == "pad":
        canvas = Image.new("RGB", (resolution, resolution), WHITE)
        canvas.paste(image, ((resolution - size[0]) // 2, (resolution - size[1]) // 2))
        return canvas
    left, top = (size[0] - resolution) // 2, (size[1] - resolution) // 2
    return image.crop((left, top, left + resolution, top + resolution))


def encode_png(image: Image.Image) -> bytes:
    """Lossless, deterministic PNG bytes (no timestamps, fixed compression level)."""
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", compress_level=6)
    return buffer.getvalue()
