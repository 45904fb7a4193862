"""GAN losses and regularisers, each named after the paper that uses it.

Discriminators return raw logits everywhere; sigmoids live inside the losses.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

# -- DCGAN (Radford et al. 2015): binary cross-entropy ------------------------------------------------


def bce_discriminator(real_logits: torch.Tensor, fake_logits: torch.Tensor) -> torch.Tensor:
    """BCE(D(x), 1) + BCE(D(G(z)), 0)."""
    return (F.binary_cross_entropy_with_logits(real_logits, torch.ones_like(real_logits))
            + F.binary_cross_entropy_with_logits(fake_logits, torch.zeros_like(fake_logits)))


def bce_generator(fake_logits: torch.Tensor) -> torch.Tensor:
    """The non-saturating generator loss BCE(D(G(z)), 1) that DCGAN trains with."""
    return F.binary_cross_entropy_with_logits(fake_logits, torch.ones_like(fake_logits))


# -- FastGAN (Liu et al. 2021): hinge with a random margin ---------------------------------------------


def random_margin_hinge_real(logits: torch.Tensor) -> torch.Tensor:
    """relu(m - D(x)) with a margin m ~ U(0.8, 1.0) per logit, as the official FastGAN code does
    (a noisy hinge: the discriminator is never certain enough to stop learning)."""
    return F.relu(torch.rand_like(logits) * 0.2 + 0.8 - logits).mean()


def random_margin_hinge_fake(logits: torch.Tensor) -> torch.Tensor:
    return F.relu(torch.rand_like(logits) * 0.2 + 0.8 + logits).mean()


def hinge_generator(fake_logits: torch.Tensor) -> torch.Tensor:
    return -fake_logits.mean()


def hinge_discriminator(real_logits: torch.Tensor, fake_logits: torch.Tensor) -> torch.Tensor:
    """relu(1 - D(x)) + relu(1 + D(G(z))) (Lim & Ye 2017): the fixed-margin hinge of lucidrains'
    stylegan2-pytorch and lightweight-gan, which ToyHollyWood trained with."""
    return F.relu(1 - real_logits).mean() + F.relu(1 + fake_logits).mean()


def gradient_penalty(real_logits: torch.Tensor | list[torch.Tensor], real_images: torch.Tensor) -> torch.Tensor:
    """The WGAN-GP form (Gulrajani et al. 2017) taken at the real images, as lucidrains' two libraries
    apply it: mean over the batch of (||d D(x) / d x|| - 1)^2, the gradients of several outputs summed.

    ``real_images`` must have ``requires_grad`` set before ``real_logits`` were computed.
    """
    if not real_images.requires_grad:
        raise ValueError("gradient_penalty needs real_images.requires_grad_(True) before the discriminator sees them")
    outputs = real_logits if isinstance(real_logits, (list, tuple)) else [real_logits]
    grads = torch.autograd.grad([o.sum() for o in outputs], real_images, create_graph=True)[0]
    return (grads.flatten(1).norm(2, dim=1) - 1).pow(2).mean()


def squared_gradient_norms(logits: torch.Tensor | list[torch.Tensor],
                           inputs: torch.Tensor | list[torch.Tensor]) -> torch.Tensor:
    """Per sample, ||d D(x) / d x||^2 (the gradients of several outputs summed; several ``inputs`` of the
    same samples, e.g. FastGAN's big and small fake images, count as one x). Shape (batch,).

    lucidrains' pinned libraries penalise these zero-centred, on the real *and* the fake images:
    lightweight-gan 1.2.1 ``gp_weight * mean(||g||^2)`` over the real and fake rows together,
    stylegan2-pytorch 1.9.0 ``10 * mean(||g_real||^2) + 10 * mean(||g_fake||^2)``.
    """
    outputs = logits if isinstance(logits, (list, tuple)) else [logits]
    inputs = list(inputs) if isinstance(inputs, (list, tuple)) else [inputs]
    if not all(x.requires_grad for x in inputs):
        raise ValueError("squared_gradient_norms needs requires_grad_(True) on the inputs before D sees them")
    grads = torch.autograd.grad([o.sum() for o in outputs], inputs, create_graph=True)
    return sum(g.flatten(1).pow(2).sum(1) for g in grads)


# -- StyleGAN2 (Karras et al. 2020): logistic loss, R1, path length ------------------------------------


def logistic_discriminator(real_logits: torch.Tensor, fake_logits: torch.Tensor) -> torch.Tensor:
    """softplus(D(G(z))) + softplus(-D(x)): the logistic loss of StyleGAN / StyleGAN2."""
    return F.softplus(fake_logits).mean() + F.softplus(-real_logits).mean()


def logistic_generator(fake_logits: torch.Tensor) -> torch.Tensor:
    """Non-saturating: softplus(-D(G(z)))."""
    return F.softplus(-fake_logits).mean()


def r1_penalty(real_logits: torch.Tensor, real_images: torch.Tensor) -> torch.Tensor:
    """R1 (Mescheder et al. 2018): mean over the batch of ||d D(x) / d x||^2 on real images.

    ``real_images`` must have ``requires_grad`` set before ``real_logits`` were computed.
    """
    if not real_images.requires_grad:
        raise ValueError("r1_penalty needs real_images.requires_grad_(True) before the discriminator sees them")
    (grad,) = torch.autograd.grad(real_logits.sum(), real_images, create_graph=True)
    return grad.pow(2).flatten(1).sum(1).mean()


def path_length_penalty(images: torch.Tensor, latents: torch.Tensor, mean_path_length: torch.Tensor,
                        decay: float = 0.01) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """StyleGAN2's path-length regulariser: keep ||J_w^T y|| constant for random image-space directions y.

    ``latents`` are the (B, n_latent, w_dim) styles the images were made from (with ``requires_grad``).
    Returns ``(penalty, new_mean_path_length, path_lengths)``; the running mean is a state the task
    checkpoints.
    """
    noise = torch.randn_like(images) / math.sqrt(images.shape[2] * images.shape[3])
    (grad,) = torch.autograd.grad((images * noise).sum(), latents, create_graph=True)
    path_lengths = grad.pow(2).sum(2).mean(1).sqrt()
    new_mean = mean_path_length + decay * (path_lengths.detach().mean() - mean_path_length)
    penalty = (path_lengths - new_mean).pow(2).mean()
    return penalty, new_mean.detach(), path_lengths.detach()
