"""toonlab — a reproducible study of stylized-character generation.

The package reads bottom-up (see DESIGN.md, "Package layering"):

1. foundation: :mod:`toonlab.paths`, :mod:`toonlab.params`, :mod:`toonlab.results`, :mod:`toonlab.zoo`
2. :mod:`toonlab.data`
3. networks (:mod:`toonlab.gan`, :mod:`toonlab.diffusion`, :mod:`toonlab.features`), 4. training
   (:mod:`toonlab.train`), 5. :mod:`toonlab.metrics` (and :mod:`toonlab.cluster`, the clustering benchmark)
6. :mod:`toonlab.chapters` — one module per chapter notebook, the steps that notebook calls
7. :mod:`toonlab.book` — the papermill runner and the book build

Importing the package imports nothing heavy; import the submodule you need.
"""

__version__ = "0.1.0"
