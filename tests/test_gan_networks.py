"""Shapes, ranges and structure of the three GAN families at two resolutions each."""

from __future__ import annotations

import pytest
import torch

from toonlab.gan import (DCGANConfig, DCGANDiscriminator, DCGANGenerator, FastGANConfig, FastGANDiscriminator,
                         FastGANGenerator, StyleGAN2Config, StyleGAN2Discriminator, StyleGAN2Generator, generate)


def n_params(module: torch.nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


@pytest.mark.parametrize("resolution", [32, 64])
def test_dcgan_shapes(resolution):
    config = DCGANConfig(resolution=resolution, latent_dim=16, base_channels=8)
    G, D = DCGANGenerator(config), DCGANDiscriminator(config)
    images = G(torch.randn(3, 16))
    assert images.shape == (3, 3, resolution, resolution)
    assert images.abs().max() <= 1
    assert D(images).shape == (3,)


def test_dcgan_64_has_the_papers_layer_sizes():
    # The reference DCGAN (nz=100, ngf=ndf=64, 64 px, as in the PyTorch DCGAN tutorial the Comics
    # notebook followed) has exactly these parameter counts.
    config = DCGANConfig()
    assert n_params(DCGANGenerator(config)) == 3_576_704
    assert n_params(DCGANDiscriminator(config)) == 2_765_568


def test_dcgan_rejects_bad_config_and_input():
    with pytest.raises(ValueError, match="power of two"):
        DCGANConfig(resolution=48)
    D = DCGANDiscriminator(DCGANConfig(resolution=32, base_channels=4))
    with pytest.raises(ValueError, match="32 px"):
        D(torch.randn(1, 3, 64, 64))


@pytest.mark.parametrize("resolution", [64, 128])
def test_fastgan_shapes(resolution):
    config = FastGANConfig(resolution=resolution, latent_dim=16, ngf=8, ndf=8)
    G, D = FastGANGenerator(config), FastGANDiscriminator(config)
    big, small = G(torch.randn(2, 16))
    assert big.shape == (2, 3, resolution, resolution)
    assert small.shape == (2, 3, resolution // 2, resolution // 2)
    assert big.abs().max() <= 1 and small.abs().max() <= 1
    out = D((big, small))
    assert out.logits.shape == (2, 50) and out.reconstructions is None  # two 5x5 logit maps
    out = D(big, part=3)
    assert [r.shape for r in out.reconstructions] == [(2, 3, resolution // 2, resolution // 2)] * 3


def test_fastgan_structure_follows_the_paper():
    G = FastGANGenerator(FastGANConfig(resolution=1024))
    # SLE: 4->64, 8->128, 16->256, 32->512 (official); the 1024 map is not excited.
    assert sorted(int(k) for k in G.sle) == [64, 128, 256, 512]
    assert G.sle["128"].gate[1].in_channels == 512 and G.sle["128"].gate[1].out_channels == 64
    # compound blocks (two convs + noise) at 8, 32, 128, 512
    compound = sorted(int(k) for k, block in G.blocks.items() if len(block) > 4)
    assert compound == [8, 32, 128, 512]
    D = FastGANDiscriminator(FastGANConfig(resolution=1024))
    assert sorted(int(k) for k in D.sle) == [8, 16, 32]
    small = FastGANGenerator(FastGANConfig(resolution=64, ngf=8))
    assert sorted(int(k) for k in small.sle) == [64]


def test_fastgan_generator_is_random_through_noise_injection_only_when_trained():
    torch.manual_seed(0)
    G = FastGANGenerator(FastGANConfig(resolution=64, latent_dim=16, ngf=8)).eval()
    z = torch.randn(2, 16)
    # noise weights start at 0: the same z gives the same image
    torch.testing.assert_close(G(z)[0], G(z)[0])
    for module in G.modules():
        if module.__class__.__name__ == "NoiseInjection":
            module.weight.data.fill_(1.0)
    assert not torch.allclose(G(z)[0], G(z)[0])


def test_fastgan_rejects_bad_config_and_input():
    with pytest.raises(ValueError, match="resolution"):
        FastGANConfig(resolution=32)
    with pytest.raises(ValueError, match="0 channels"):
        FastGANConfig(resolution=1024, ngf=4)
    G = FastGANGenerator(FastGANConfig(resolution=64, latent_dim=16, ngf=8))
    with pytest.raises(ValueError, match=r"\(B, 16\)"):
        G(torch.randn(2, 8))
    D = FastGANDiscriminator(FastGANConfig(resolution=64, ndf=8))
    with pytest.raises(ValueError, match="part"):
        D(torch.randn(2, 3, 64, 64), part=4)


def tiny_stylegan2(resolution: int) -> StyleGAN2Config:
    return StyleGAN2Config(resolution=resolution, style_dim=16, n_mlp=2, channel_base=256, channel_max=16)


@pytest.mark.parametrize("resolution", [16, 32])
def test_stylegan2_shapes(resolution):
    config = tiny_stylegan2(resolution)
    G, D = StyleGAN2Generator(config), StyleGAN2Discriminator(config)
    image, latent = G([torch.randn(4, 16)], return_latents=True)
    assert image.shape == (4, 3, resolution, resolution)
    assert latent.shape == (4, config.n_latent, 16)
    assert D(image).shape == (4, 1)
    assert D(image[:3]).shape == (3, 1)  # a batch that 4 does not divide still works


def test_stylegan2_style_mixing_switches_styles_at_the_inject_index():
    G = StyleGAN2Generator(tiny_stylegan2(16))
    z1, z2 = torch.randn(2, 16), torch.randn(2, 16)
    _, latent = G([z1, z2], inject_index=2, return_latents=True)
    w1, w2 = G.get_latent(z1), G.get_latent(z2)
    torch.testing.assert_close(latent[:, :2], w1[:, None].expand(-1, 2, -1))
    torch.testing.assert_close(latent[:, 2:], w2[:, None].expand(-1, latent.shape[1] - 2, -1))


def test_stylegan2_truncation_and_fixed_noise():
    torch.manual_seed(0)
    G = StyleGAN2Generator(tiny_stylegan2(16)).eval()
    z = torch.randn(2, 16)
    w_avg = G.mean_latent(256)
    a, _ = G([z], randomize_noise=False)
    b, _ = G([z], randomize_noise=False)
    torch.testing.assert_close(a, b)
    at_mean, _ = G([z], truncation=0.0, truncation_latent=w_avg, randomize_noise=False)
    centre, _ = G([w_avg.expand(2, -1)], input_is_latent=True, randomize_noise=False)
    torch.testing.assert_close(at_mean, centre)
    with pytest.raises(ValueError, match="truncation_latent"):
        G([z], truncation=0.5)
    with pytest.raises(TypeError, match="list of style batches"):
        G(z)


def test_generate_dispatches_over_the_three_families():
    z16 = torch.randn(2, 16)
    dcgan = DCGANGenerator(DCGANConfig(resolution=32, latent_dim=16, base_channels=4))
    fastgan = FastGANGenerator(FastGANConfig(resolution=64, latent_dim=16, ngf=8))
    stylegan = StyleGAN2Generator(tiny_stylegan2(16))
    assert generate(dcgan, z16).shape == (2, 3, 32, 32)
    assert generate(fastgan, z16).shape == (2, 3, 64, 64)
    assert generate(stylegan, z16, psi=0.7).shape == (2, 3, 16, 16)
    with pytest.raises(ValueError, match="truncated_normal"):
        generate(fastgan, z16, psi=0.7)
