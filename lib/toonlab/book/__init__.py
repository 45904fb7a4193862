"""Layer 7: turning chapter notebooks into the book.

- :mod:`toonlab.book.chapters` finds the chapter notebooks and fingerprints what each depends on;
- :mod:`toonlab.book.runner` executes them with papermill for a profile, skipping unchanged ones;
- :mod:`toonlab.book.build` runs Jupyter Book (HTML, LaTeX, PDF);
- :mod:`toonlab.book.scaffold` creates a new chapter notebook with the standard first cells.

Command line: ``python -m toonlab.book {run,build,latex,pdf,new} --help``. This layer imports no model code.
"""
