"""Layer 7: turning chapter notebooks into the book.

- :mod:`toonlab.book.chapters` finds the chapter notebooks and fingerprints what each depends on;
- :mod:`toonlab.book.imports` reads a chapter's import graph from source (the fingerprint's lib files, the
  packages whose versions go into the cache key);
- :mod:`toonlab.book.runner` executes them with papermill for a profile, skipping unchanged ones;
- :mod:`toonlab.book.build` runs Jupyter Book (HTML, LaTeX, and the report PDF with code cells hidden);
- :mod:`toonlab.book.report_tables`, :mod:`toonlab.book.html_assets`: small Sphinx extensions for the
  report's tables and the HTML pages' scripts;
- :mod:`toonlab.book.browser` opens the built HTML in headless Chromium and checks what readers see;
- :mod:`toonlab.book.repository` reads the repository URL from ``_config.yml`` (badges, bootstrap, Pages);
- :mod:`toonlab.book.scaffold` creates a new chapter notebook with the standard first cells.

Command line: ``python -m toonlab.book {run,build,latex,pdf,check,sync,new} --help``. This layer imports
no model code.
"""
