"""toonlab — a reproducible study of stylized-character generation.

The package reads bottom-up (see DESIGN.md, "Package layering"):

1. foundation: :mod:`toonlab.paths`, :mod:`toonlab.params`, :mod:`toonlab.results`, :mod:`toonlab.zoo`
2. :mod:`toonlab.data`
3. networks, 4. training, 5. :mod:`toonlab.metrics`, 6. chapter modules
7. :mod:`toonlab.book` — the papermill runner and the book build

Importing the package imports nothing heavy; import the submodule you need.
"""

__version__ = "0.1.0"
