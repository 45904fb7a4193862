"""Layer 3 (networks; the DDPM task on the shared loop in ``training``): diffusion models. Chapter 04 composes
them in :mod:`toonlab.chapters.diffusion`.

- :mod:`~toonlab.diffusion.ddpm` — DDPM from scratch (diffusers UNet2DModel + DDPMScheduler), T=300 / T=1000,
  DDPM and DDIM sampling
- :mod:`~toonlab.diffusion.training` — the DDPM task on the shared training loop, EMA, sample grids
- :mod:`~toonlab.diffusion.prompts` — the Comics prompts and the PopYou template
- :mod:`~toonlab.diffusion.generate` — resumable synthetic data-set generation with a manifest
- :mod:`~toonlab.diffusion.cost` — images/s and peak memory of samplers and generators
- :mod:`~toonlab.diffusion.lora` — LoRA on SD 1.x / SDXL with peft: diffusers-format files with their base
  recorded, loading with a base check, the kohya/A1111 export (the trainer is :mod:`toonlab.train.lora`)
- :mod:`~toonlab.diffusion.memoji` — MyMemoji's two-pass SDXL + ControlNet canny + LoRA pipeline, batch mode

Importing this package imports nothing heavy; import the submodule you need.
"""
