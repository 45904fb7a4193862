"""Layer 6: one module per chapter notebook, holding the steps that notebook calls.

Where a chapter's method lives is fixed by its name: chapter ``NN_name`` (``notebooks/NN_name.ipynb``) has
its steps in ``toonlab/chapters/<name>.py`` —

=====================  =====================================
notebook               chapter module
=====================  =====================================
``01_data``            :mod:`toonlab.chapters.dataset` (not ``data``: that is the data package)
``02_clustering``      :mod:`toonlab.chapters.clustering`
``03_gan``             :mod:`toonlab.chapters.gan`
``04_diffusion``       :mod:`toonlab.chapters.diffusion`
``05_inversion`` ...   ``inversion``, ``editing``, ``memoji``, ``fewshot``, ``shape3d``
=====================  =====================================

The convention (``tests/test_conventions.py`` checks it):

* the module's docstring says what the chapter does and lists, in order, the steps the notebook calls;
* it defines ``CHAPTER = "NN_name"``, the notebook's stem (results go to ``results/<profile>/NN_name/``);
* the notebook imports it as ``from toonlab.chapters import <name> as chapter``, and from toonlab nothing
  else but :mod:`toonlab.params` and :mod:`toonlab.results` — every other step goes through ``chapter``
  (re-exporting a domain function here is fine where it is a step of the chapter);
* it only composes layers 1–5 (data, networks, training, metrics): model, training and metric code stay in
  their domain packages, where later chapters can reuse them. A chapter module imports no other chapter
  module, and nothing below this layer imports one.

Importing this package imports no chapter: import the one you need.
"""
