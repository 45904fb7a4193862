"""Layer 3 (networks; the DDPM task on the shared loop in ``training``): diffusion models. Chapter 04 composes
them in :mod:`toonlab.chapters.diffusion`.

- :mod:`~toonlab.diffusion.ddpm` — DDPM from scratch (diffusers UNet2DModel + DDPMScheduler), T=300 / T=1000,
  DDPM and DDIM sampling
- :mod:`~toonlab.diffusion.training` — the DDPM task on the shared training loop, EMA, sample grids
- :mod:`~toonlab.diffusion.prompts` — the Comics prompts and the PopYou template
- :mod:`~toonlab.diffusion.generate` — resumable synthetic data-set generation with a manifest
- :mod:`~toonlab.diffusion.cost` — images/s and peak memory of samplers and generators

Importing this package imports nothing heavy; import the submodule you need.
"""
