"""GAN losses, regularisers and latent utilities against closed forms."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from toonlab.gan import losses, sampling
from toonlab.gan.stylegan2 import MixingNoise


def test_bce_losses_match_the_sigmoid_form():
    real, fake = torch.tensor([2.0, -1.0]), torch.tensor([0.5, -3.0])
    expected_d = -(torch.log(torch.sigmoid(real)).mean() + torch.log(1 - torch.sigmoid(fake)).mean())
    torch.testing.assert_close(losses.bce_discriminator(real, fake), expected_d)
    torch.testing.assert_close(losses.bce_generator(fake), -torch.log(torch.sigmoid(fake)).mean())


def test_random_margin_hinge_stays_between_the_fixed_margin_hinges():
    logits = torch.linspace(-2, 2, 101)
    torch.manual_seed(0)
    real = losses.random_margin_hinge_real(logits)
    assert F.relu(0.8 - logits).mean() <= real <= F.relu(1.0 - logits).mean()
    fake = losses.random_margin_hinge_fake(logits)
    assert F.relu(0.8 + logits).mean() <= fake <= F.relu(1.0 + logits).mean()
    torch.testing.assert_close(losses.hinge_generator(logits), -logits.mean())


def test_logistic_losses():
    real, fake = torch.tensor([1.0, 2.0]), torch.tensor([-1.0, 0.0])
    torch.testing.assert_close(losses.logistic_discriminator(real, fake),
                               F.softplus(fake).mean() + F.softplus(-real).mean())
    torch.testing.assert_close(losses.logistic_generator(fake), F.softplus(-fake).mean())


def test_r1_of_a_linear_critic_is_the_squared_weight_norm():
    weight = torch.randn(3 * 4 * 4)
    images = torch.randn(5, 3, 4, 4, requires_grad=True)
    logits = images.flatten(1) @ weight
    torch.testing.assert_close(losses.r1_penalty(logits, images), weight.pow(2).sum())
    with pytest.raises(ValueError, match="requires_grad"):
        losses.r1_penalty(logits, images.detach())


def test_fixed_margin_hinge():
    real, fake = torch.tensor([2.0, 0.5]), torch.tensor([-3.0, 0.0])
    torch.testing.assert_close(losses.hinge_discriminator(real, fake), torch.tensor((0 + 0.5) / 2 + (0 + 1) / 2))


def test_gradient_penalty_of_a_linear_critic():
    """D(x) = <w, x>: the gradient is w for every image, so the penalty is (||w|| - 1)^2; two outputs add."""
    w = torch.tensor([[[[3.0, 0.0], [0.0, 4.0]]]])  # ||w|| = 5
    x = torch.randn(3, 1, 2, 2, requires_grad=True)
    logits = (x * w).flatten(1).sum(1)
    torch.testing.assert_close(losses.gradient_penalty(logits, x), torch.tensor(16.0))
    torch.testing.assert_close(losses.gradient_penalty([logits, 0 * logits], x), torch.tensor(16.0))
    with pytest.raises(ValueError, match="requires_grad"):
        losses.gradient_penalty(logits.detach(), x.detach())


def test_path_length_matches_an_explicit_jacobian():
    torch.manual_seed(0)
    n_latent, w_dim, size = 3, 4, 5
    A = torch.randn(n_latent * w_dim, 3 * size * size, dtype=torch.float64)
    latents = torch.randn(2, n_latent, w_dim, dtype=torch.float64, requires_grad=True)
    images = (latents.flatten(1) @ A).view(2, 3, size, size)
    torch.manual_seed(1)
    penalty, new_mean, lengths = losses.path_length_penalty(images, latents, torch.tensor(0.5, dtype=torch.float64))
    torch.manual_seed(1)
    y = torch.randn(2, 3, size, size, dtype=torch.float64) / math.sqrt(size * size)
    grads = (A @ y.flatten(1).T).T.view(2, n_latent, w_dim)  # J^T y for a linear generator
    expected = grads.pow(2).sum(2).mean(1).sqrt()
    torch.testing.assert_close(lengths, expected)
    mean = 0.5 + 0.01 * (expected.mean() - 0.5)
    torch.testing.assert_close(new_mean, mean)
    torch.testing.assert_close(penalty, (expected - mean).pow(2).mean())


def test_mixing_noise_draws_one_or_two_latents():
    torch.manual_seed(0)
    counts = [len(MixingNoise(0.5)(3, 4)) for _ in range(200)]
    assert set(counts) == {1, 2} and 60 < counts.count(2) < 140
    assert all(len(MixingNoise(0.0)(3, 4)) == 1 for _ in range(10))


def test_truncated_normal_respects_the_threshold_and_the_seed():
    z = sampling.truncated_normal(500, 8, threshold=0.5, seed=3)
    assert z.abs().max() <= 0.5
    assert torch.equal(z, sampling.truncated_normal(500, 8, threshold=0.5, seed=3))
    with pytest.raises(ValueError, match="threshold"):
        sampling.truncated_normal(1, 1, threshold=0, seed=0)


def test_truncate_formula_and_bounds():
    w, avg = torch.randn(4, 8), torch.randn(1, 8)
    torch.testing.assert_close(sampling.truncate(w, avg, 0.6), avg + 0.6 * (w - avg))
    torch.testing.assert_close(sampling.truncate(w, avg, 1.0), w)
    with pytest.raises(ValueError, match="psi"):
        sampling.truncate(w, avg, 1.5)


def test_slerp_ends_and_stays_on_the_sphere():
    a, b = torch.randn(2, 16), torch.randn(2, 16)
    torch.testing.assert_close(sampling.slerp(a, b, 0.0), a, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(sampling.slerp(a, b, 1.0), b, atol=1e-5, rtol=1e-5)
    unit_a, unit_b = a / a.norm(dim=-1, keepdim=True), b / b.norm(dim=-1, keepdim=True)
    mid = sampling.slerp(unit_a, unit_b, 0.5)
    torch.testing.assert_close(mid.norm(dim=-1), torch.ones(2))
    # the midpoint makes equal angles with both ends
    torch.testing.assert_close((mid * unit_a).sum(-1), (mid * unit_b).sum(-1))
    path = sampling.interpolation_path(a[0], b[0], steps=5)
    assert path.shape == (5, 16)
    torch.testing.assert_close(sampling.interpolation_path(a[0], b[0], 3, spherical=False)[1], (a[0] + b[0]) / 2)
    with pytest.raises(ValueError, match="2 steps"):
        sampling.interpolation_path(a[0], b[0], steps=1)


def test_sample_latents_does_not_touch_the_global_generator():
    torch.manual_seed(0)
    expected = torch.rand(1)
    torch.manual_seed(0)
    z = sampling.sample_latents(4, 8, seed=1)
    assert torch.equal(torch.rand(1), expected)
    assert torch.equal(z, sampling.sample_latents(4, 8, seed=1))


def test_squared_gradient_norms_of_a_linear_critic_count_every_input_of_a_sample():
    """D(x) = <w, x>: ||grad||^2 = ||w||^2 = 25 per image, zero-centred as lucidrains' libraries; a sample
    given as two tensors (FastGAN's big and small fakes) adds both parts' squared norms."""
    w = torch.tensor([[[[3.0, 0.0], [0.0, 4.0]]]])
    x = torch.randn(3, 1, 2, 2, requires_grad=True)
    small = torch.randn(3, 1, 1, 1, requires_grad=True)
    logits = (x * w).flatten(1).sum(1)
    torch.testing.assert_close(losses.squared_gradient_norms(logits, x), torch.full((3,), 25.0))
    torch.testing.assert_close(losses.squared_gradient_norms(logits + 2 * small.flatten(), [x, small]),
                               torch.full((3,), 29.0))
    with pytest.raises(ValueError, match="requires_grad"):
        losses.squared_gradient_norms(logits.detach(), x.detach())
