"""Accept only real images: an image content type, a full Pillow decode, an allowed format, sane size."""

from __future__ import annotations

import io
import warnings
from dataclasses import dataclass

import imagehash
from PIL import Image, ImageFile, UnidentifiedImageError

from toonlab.data.images import to_rgb_on_white
from toonlab.data.manifest import sha256_bytes

ImageFile.LOAD_TRUNCATED_IMAGES = False  # a truncated JPEG must fail, not decode with grey padding
EXTENSIONS = {"JPEG": "jpg", "PNG": "png", "WEBP": "webp", "GIF": "gif", "BMP": "bmp"}


class RejectedImage(ValueError):
    def __init__(self, cause: str, detail: str) -> None:
        super().__init__(f"{cause}: {detail}")
        self.cause = cause
        self.detail = detail


@dataclass(frozen=True)
class ImageInfo:
    format: str
    extension: str
    width: int
    height: int
    sha256: str
    phash: str  # 64-bit perceptual hash as 16 hex digits


def inspect_image(data: bytes, content_type: str, formats: tuple[str, ...], max_pixels: int) -> ImageInfo:
    """Check that ``data`` is a complete image of an allowed format; raise :class:`RejectedImage` if not."""
    mime = content_type.split(";")[0].strip().lower()
    if not mime.startswith("image/"):
        raise RejectedImage("not_image", f"content type {content_type or 'missing'!r}")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data)) as probe:
                fmt = probe.format or "?"
                width, height = probe.size
                if width * height > max_pixels:
                    raise RejectedImage("oversized", f"{width}x{height} pixels > {max_pixels}")
                probe.verify()  # structure and checksums (PNG CRCs)
            # verify() leaves the file unusable; a full decode catches truncation that verify misses.
            with Image.open(io.BytesIO(data)) as image:
                image.load()
                # Hashed as the loaders see it: transparency over white (also avoids Pillow's palette warning).
                phash = str(imagehash.phash(to_rgb_on_white(image)))
    except RejectedImage:
        raise
    except UnidentifiedImageError as error:
        raise RejectedImage("not_image", f"{mime} body is not a decodable image") from error
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as error:
        raise RejectedImage("oversized", str(error)) from error
    except (OSError, SyntaxError, ValueError, EOFError) as error:
        raise RejectedImage("truncated", f"{type(error).__name__}: {error}") from error
    if fmt not in formats:
        raise RejectedImage("format", f"{fmt} is not one of {list(formats)}")
    return ImageInfo(fmt, EXTENSIONS.get(fmt, fmt.lower()), width, height, sha256_bytes(data), phash)
