"""Layer 3: inversion networks — from an image (or a text) to a GAN latent (chapter 05).

No training loop and no file I/O here: training lives in :mod:`toonlab.train.inversion_tasks`, the
metrics in :mod:`toonlab.metrics.inversion`.

* :mod:`~toonlab.inversion.generator` — a frozen generator seen through one interface: its latent spaces
  (FastGAN z; StyleGAN2 w / W+), their mean, and images from a latent;
* :mod:`~toonlab.inversion.mappers` — the three source mappers: PopYou (CLIP -> z), ToyHollyWood
  (SimCLR -> style-vectoriser input), CelebrityLook/CSLA (CLIP -> W+);
* :mod:`~toonlab.inversion.encoders` — a small configurable ResNet, SimCLR (projection head, NT-Xent) and
  a pSp-style feature-pyramid encoder into W+ (or z);
* :mod:`~toonlab.inversion.clip_encoder` — CLIP as a differentiable image/text encoder on tensors;
* :mod:`~toonlab.inversion.losses` — the sources' losses (PopYou, ToyHollyWood with its ``clip_grad``
  switch, CSLA) and the reconstruction loss shared by the encoder and the optimisation;
* :mod:`~toonlab.inversion.optimize` — per-image latent optimisation and the hybrid (encoder start).
"""

from toonlab.inversion.generator import InversionGenerator, LatentSpaceError
from toonlab.inversion.mappers import (CSLAMapper, CSLAMapperConfig, PopYouMapper, PopYouMapperConfig,
                                       ToyHollyWoodMapper, ToyHollyWoodMapperConfig)

__all__ = ["CSLAMapper", "CSLAMapperConfig", "InversionGenerator", "LatentSpaceError", "PopYouMapper",
           "PopYouMapperConfig", "ToyHollyWoodMapper", "ToyHollyWoodMapperConfig"]
