"""DiffAugment against brute-force per-image references, and its gradients."""

from __future__ import annotations

import pytest
import torch

from toonlab.train.diffaugment import DiffAugment, color, cutout, diff_augment, parse_policy, translation


def images(batch: int = 3, size: int = 8, dtype=torch.float32) -> torch.Tensor:
    return torch.rand(batch, 3, size, size, generator=torch.Generator().manual_seed(0), dtype=dtype) * 2 - 1


def twin_generators(seed: int = 5) -> tuple[torch.Generator, torch.Generator]:
    return torch.Generator().manual_seed(seed), torch.Generator().manual_seed(seed)


def test_translation_matches_a_per_image_shift():
    x = images()
    g_ours, g_ref = twin_generators()
    out = translation(x, generator=g_ours)
    shift = int(8 * 0.125 + 0.5)
    dy = torch.randint(-shift, shift + 1, (3, 1, 1), generator=g_ref).flatten()
    dx = torch.randint(-shift, shift + 1, (3, 1, 1), generator=g_ref).flatten()
    for b in range(3):
        expected = torch.zeros_like(x[b])
        for i in range(8):
            for j in range(8):
                if 0 <= i - dy[b] < 8 and 0 <= j - dx[b] < 8:
                    expected[:, i, j] = x[b, :, i - dy[b], j - dx[b]]
        torch.testing.assert_close(out[b], expected, rtol=0, atol=0)


def test_cutout_zeroes_one_clipped_square():
    x = images(batch=6, size=9)
    g_ours, g_ref = twin_generators()
    out = cutout(x, generator=g_ours)
    size = int(9 * 0.5 + 0.5)
    cy = torch.randint(0, 9 + (1 - size % 2), (6, 1, 1), generator=g_ref).flatten()
    cx = torch.randint(0, 9 + (1 - size % 2), (6, 1, 1), generator=g_ref).flatten()
    for b in range(6):
        expected = x[b].clone()
        for i in range(cy[b] - size // 2, cy[b] - size // 2 + size):
            for j in range(cx[b] - size // 2, cx[b] - size // 2 + size):
                if 0 <= i < 9 and 0 <= j < 9:
                    expected[:, i, j] = 0
        torch.testing.assert_close(out[b], expected, rtol=0, atol=0)


def test_color_matches_the_three_formulas():
    x = images()
    g_ours, g_ref = twin_generators()
    out = color(x, generator=g_ours)
    b, s, c = (torch.rand(3, 1, 1, 1, generator=g_ref) for _ in range(3))
    # draws happen in order brightness, saturation, contrast
    y = x + (b - 0.5)
    y = (y - y.mean(1, keepdim=True)) * (s * 2) + y.mean(1, keepdim=True)
    y = (y - y.mean((1, 2, 3), keepdim=True)) * (c + 0.5) + y.mean((1, 2, 3), keepdim=True)
    torch.testing.assert_close(out, y)


@pytest.mark.parametrize("policy", ["color", "translation", "cutout", "color,translation,cutout"])
def test_gradients_flow_through_every_policy(policy):
    x = images(batch=2, size=8, dtype=torch.float64).requires_grad_(True)

    def augment(inp: torch.Tensor) -> torch.Tensor:  # same random draws on every call
        return diff_augment(inp, policy, generator=torch.Generator().manual_seed(11))

    assert torch.autograd.gradcheck(augment, (x,), eps=1e-6, atol=1e-5)
    augment(x).square().sum().backward()
    assert torch.isfinite(x.grad).all() and x.grad.abs().sum() > 0


def test_shapes_dtypes_and_policy_parsing():
    x = images(size=16)
    assert DiffAugment("color,translation,cutout")(x).shape == x.shape
    assert DiffAugment("")(x) is x
    assert parse_policy(["color", " cutout"]) == ("color", "cutout")
    with pytest.raises(ValueError, match="unknown DiffAugment policy"):
        parse_policy("colour")
    with pytest.raises(ValueError, match="batch of images"):
        diff_augment(torch.rand(3, 8, 8))


def test_augmentation_is_random_per_image():
    x = images(batch=1, size=16).repeat(8, 1, 1, 1)
    out = diff_augment(x, "translation,cutout", generator=torch.Generator().manual_seed(0))
    assert len({tuple(o.flatten().tolist()) for o in out}) > 1
