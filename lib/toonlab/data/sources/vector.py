"""SVG rasterisation with resvg (a Rust renderer: fast, and identical output for identical input)."""

from __future__ import annotations

import io

import resvg_py
from PIL import Image

from toonlab.data.errors import CorruptItemError


def render_svg(svg: str, width: int | None, height: int | None, name: str = "svg") -> Image.Image:
    """Rasterise SVG markup to an RGBA image; a size of ``None`` keeps the drawing's aspect ratio."""
    try:
        # System fonts are skipped so a drawing renders the same on every machine.
        png = resvg_py.svg_to_bytes(svg_string=svg, width=width, height=height, skip_system_fonts=True)
    except (ValueError, RuntimeError) as error:
        raise CorruptItemError(name, f"resvg cannot render it ({error})") from error
    image = Image.open(io.BytesIO(bytes(png)))
    image.load()
    return image
