"""Precise BN for sampling: statistics that match the weights, on a copy, with nothing else touched."""

from __future__ import annotations

import pytest
import torch

from toonlab.gan import DCGANConfig, DCGANGenerator, StyleGAN2Config, StyleGAN2Generator
from toonlab.gan.precise_bn import batch_norms, recalibrated, render, sampling_mode
from toonlab.gan.sampling import sample_latents


def tiny_dcgan() -> DCGANGenerator:
    torch.manual_seed(0)
    return DCGANGenerator(DCGANConfig(resolution=32, latent_dim=16, base_channels=8))


def test_fresh_generator_samples_are_flat_in_eval_mode_but_not_after_recalibration():
    """The failure it fixes: N(0, 0.02) weights and running variances of 1 give grey squares."""
    G = tiny_dcgan().eval()
    z = sample_latents(8, G.latent_dim, seed=1)
    with torch.no_grad():
        flat = G(z)
    assert flat.std() < 0.01
    assert render(G, z).std() > 10 * ((flat + 1) / 2).std()


def test_statistics_are_the_exact_average_of_the_calibration_batch():
    G = tiny_dcgan()
    z = sample_latents(64, G.latent_dim, seed=5)
    with torch.no_grad():
        batch_stats = G.train()(z)  # train mode: normalised by this batch's own statistics
    copy = recalibrated(G, n=64, batch_size=64, seed=5)
    with torch.no_grad():
        # eval mode divides by the unbiased variance (n / (n - 1) larger), hence the tolerance
        torch.testing.assert_close(copy(z), batch_stats, atol=2e-2, rtol=0)


def test_the_training_model_and_the_global_rng_are_untouched():
    G = tiny_dcgan().train()
    buffers = {name: b.clone() for name, b in G.named_buffers()}
    rng = torch.get_rng_state()
    with sampling_mode(G, n=32, batch_size=16) as copy:
        assert copy is not G and not copy.training
    assert G.training
    assert all(torch.equal(b, buffers[name]) for name, b in G.named_buffers())
    assert torch.equal(torch.get_rng_state(), rng)
    assert all(a.momentum == b.momentum for a, b in zip(batch_norms(G), batch_norms(copy)))


def test_generators_without_batchnorm_sample_in_eval_mode_as_they_are():
    G = StyleGAN2Generator(StyleGAN2Config(resolution=16, style_dim=16, n_mlp=2, channel_base=256, channel_max=16))
    G.train()
    with sampling_mode(G) as same:
        assert same is G and not G.training
    assert G.training


def test_bad_calibration_sizes_are_named():
    with pytest.raises(ValueError, match="precise BN"):
        recalibrated(tiny_dcgan(), n=0)
