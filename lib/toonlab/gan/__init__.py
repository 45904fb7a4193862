"""Layer 3: the GAN family (networks, losses, latents). No training loop and no I/O here; training lives in
:mod:`toonlab.train.gan_tasks`, presets of the source projects in :mod:`toonlab.gan.presets`.

* :mod:`~toonlab.gan.dcgan` — DCGAN, the Comics few-shot baseline
* :mod:`~toonlab.gan.fastgan` — FastGAN (PopYou, ToyHollyWood)
* :mod:`~toonlab.gan.stylegan2` — StyleGAN2 in the rosinality checkpoint layout (ToyHollyWood; e4e/pSp FFHQ)
"""

from toonlab.gan.dcgan import DCGANConfig, DCGANDiscriminator, DCGANGenerator
from toonlab.gan.fastgan import FastGANConfig, FastGANDiscriminator, FastGANGenerator
from toonlab.gan.stylegan2 import StyleGAN2Config, StyleGAN2Discriminator, StyleGAN2Generator, load_rosinality

__all__ = [
    "DCGANConfig", "DCGANDiscriminator", "DCGANGenerator", "FastGANConfig", "FastGANDiscriminator",
    "FastGANGenerator", "StyleGAN2Config", "StyleGAN2Discriminator", "StyleGAN2Generator", "generate",
    "load_rosinality",
]


def generate(generator, z, psi: float = 1.0, w_avg=None):
    """Images in [-1, 1] at the generator's full resolution, whichever of the three it is.

    ``psi`` < 1 applies StyleGAN2's w-space truncation; for DCGAN/FastGAN truncate z instead
    (:func:`toonlab.gan.sampling.truncated_normal`).
    """
    if isinstance(generator, StyleGAN2Generator):
        return generator.generate(z, psi=psi, w_avg=w_avg)
    if psi != 1.0:
        raise ValueError(f"{type(generator).__name__} has no w space: sample z with sampling.truncated_normal instead")
    out = generator(z)
    return out[0] if isinstance(out, tuple) else out
