"""StyleGAN2: the rosinality checkpoint layout and loader, and the ops against brute-force references."""

from __future__ import annotations

import argparse
import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from toonlab.gan.stylegan2 import (Blur, ModulatedConv2d, StyleGAN2Config, StyleGAN2Discriminator,
                                   StyleGAN2Generator, config_from_state_dict, load_rosinality, make_kernel,
                                   upfirdn2d)


def rosinality_generator_layout(size: int, style_dim: int, n_mlp: int, channel_multiplier: int) -> dict[str, tuple]:
    """Key -> shape of rosinality/stylegan2-pytorch's Generator state dict, written out from its
    model.py / convert_weight.py independently of our module (so the test can catch a naming drift)."""
    ch = {4: 512, 8: 512, 16: 512, 32: 512, 64: 256 * channel_multiplier, 128: 128 * channel_multiplier,
          256: 64 * channel_multiplier, 512: 32 * channel_multiplier, 1024: 16 * channel_multiplier}
    layout: dict[str, tuple] = {}
    for i in range(1, n_mlp + 1):
        layout[f"style.{i}.weight"] = (style_dim, style_dim)
        layout[f"style.{i}.bias"] = (style_dim,)

    def modconv(prefix: str, cin: int, cout: int, k: int, up: bool = False) -> None:
        layout[f"{prefix}.conv.weight"] = (1, cout, cin, k, k)
        layout[f"{prefix}.conv.modulation.weight"] = (cin, style_dim)
        layout[f"{prefix}.conv.modulation.bias"] = (cin,)
        if up:
            layout[f"{prefix}.conv.blur.kernel"] = (4, 4)

    layout["input.input"] = (1, ch[4], 4, 4)
    modconv("conv1", ch[4], ch[4], 3)
    layout["conv1.noise.weight"] = (1,)
    layout["conv1.activate.bias"] = (ch[4],)
    modconv("to_rgb1", ch[4], 3, 1)
    layout["to_rgb1.bias"] = (1, 3, 1, 1)
    log_size = int(math.log2(size))
    for i in range((log_size - 2) * 2 + 1):
        res = 2 ** ((i + 5) // 2)
        layout[f"noises.noise_{i}"] = (1, 1, res, res)
    cin = ch[4]
    for level in range(3, log_size + 1):
        cout, j = ch[2**level], 2 * (level - 3)
        modconv(f"convs.{j}", cin, cout, 3, up=True)
        modconv(f"convs.{j + 1}", cout, cout, 3)
        for idx in (j, j + 1):
            layout[f"convs.{idx}.noise.weight"] = (1,)
            layout[f"convs.{idx}.activate.bias"] = (cout,)
        layout[f"to_rgbs.{level - 3}.upsample.kernel"] = (4, 4)
        modconv(f"to_rgbs.{level - 3}", cout, 3, 1)
        layout[f"to_rgbs.{level - 3}.bias"] = (1, 3, 1, 1)
        cin = cout
    return layout


def rosinality_discriminator_layout(size: int, channel_multiplier: int) -> dict[str, tuple]:
    ch = {4: 512, 8: 512, 16: 512, 32: 512, 64: 256 * channel_multiplier, 128: 128 * channel_multiplier,
          256: 64 * channel_multiplier, 512: 32 * channel_multiplier, 1024: 16 * channel_multiplier}
    layout: dict[str, tuple] = {"convs.0.0.weight": (ch[size], 3, 1, 1), "convs.0.1.bias": (ch[size],)}
    cin, index = ch[size], 1
    for level in range(int(math.log2(size)), 2, -1):
        cout = ch[2 ** (level - 1)]
        layout |= {
            f"convs.{index}.conv1.0.weight": (cin, cin, 3, 3), f"convs.{index}.conv1.1.bias": (cin,),
            f"convs.{index}.conv2.0.kernel": (4, 4), f"convs.{index}.conv2.1.weight": (cout, cin, 3, 3),
            f"convs.{index}.conv2.2.bias": (cout,),
            f"convs.{index}.skip.0.kernel": (4, 4), f"convs.{index}.skip.1.weight": (cout, cin, 1, 1),
        }
        cin, index = cout, index + 1
    layout |= {"final_conv.0.weight": (ch[4], cin + 1, 3, 3), "final_conv.1.bias": (ch[4],),
               "final_linear.0.weight": (ch[4], ch[4] * 16), "final_linear.0.bias": (ch[4],),
               "final_linear.1.weight": (1, ch[4]), "final_linear.1.bias": (1,)}
    return layout


def shapes(module: torch.nn.Module) -> dict[str, tuple]:
    return {k: tuple(v.shape) for k, v in module.state_dict().items()}


@pytest.mark.parametrize("size, multiplier", [(1024, 2), (256, 1), (64, 2)])
def test_generator_matches_the_rosinality_layout(size, multiplier):
    config = StyleGAN2Config(resolution=size, channel_multiplier=multiplier)
    with torch.device("meta"):  # shapes only: no memory for the 30M parameters of config-f
        G = StyleGAN2Generator(config)
    assert shapes(G) == rosinality_generator_layout(size, 512, 8, multiplier)


def test_config_f_has_the_published_parameter_count():
    with torch.device("meta"):
        G = StyleGAN2Generator(StyleGAN2Config(resolution=1024))
    assert sum(p.numel() for p in G.parameters()) == 30_370_060  # StyleGAN2 config-f FFHQ generator


@pytest.mark.parametrize("size", [256, 64])
def test_discriminator_matches_the_rosinality_layout(size):
    with torch.device("meta"):
        D = StyleGAN2Discriminator(StyleGAN2Config(resolution=size))
    assert shapes(D) == rosinality_discriminator_layout(size, 2)


def synthetic_checkpoint(size: int = 32, style_dim: int = 16, n_mlp: int = 2) -> dict:
    """A rosinality-style checkpoint with random weights, built from the layout alone."""
    generator = torch.Generator().manual_seed(0)
    state = {key: torch.randn(*shape, generator=generator) * 0.1
             for key, shape in rosinality_generator_layout(size, style_dim, n_mlp, 2).items()}
    kernel = make_kernel([1, 3, 3, 1])
    for key in state:
        if key.endswith("blur.kernel") or key.endswith("upsample.kernel"):
            state[key] = kernel * 4  # rosinality's upsampling FIR kernels carry the factor^2 gain
    return {"g_ema": state, "latent_avg": torch.randn(style_dim, generator=generator),
            "args": argparse.Namespace(size=size, latent=style_dim, n_mlp=n_mlp)}


def test_loader_reads_a_rosinality_checkpoint_file(tmp_path):
    checkpoint = synthetic_checkpoint()
    path = tmp_path / "stylegan2-synthetic.pt"
    torch.save(checkpoint, path)
    G, latent_avg = load_rosinality(path)
    assert G.config.resolution == 32 and G.config.style_dim == 16 and G.config.n_mlp == 2
    for key, value in checkpoint["g_ema"].items():
        assert torch.equal(G.state_dict()[key], value), key
    torch.testing.assert_close(latent_avg, checkpoint["latent_avg"])
    assert not G.training
    z = torch.randn(2, 16)
    image, _ = G([z], truncation=0.7, truncation_latent=latent_avg, randomize_noise=False)
    assert image.shape == (2, 3, 32, 32) and torch.isfinite(image).all()


def test_loader_reads_safetensors_and_dicts(tmp_path):
    from safetensors.torch import save_file

    checkpoint = synthetic_checkpoint(size=16)
    save_file(checkpoint["g_ema"], str(tmp_path / "g.safetensors"))
    G, latent_avg = load_rosinality(tmp_path / "g.safetensors")
    assert latent_avg is None and G.config.resolution == 16
    G2, _ = load_rosinality(checkpoint)
    z = torch.randn(1, 16)
    torch.testing.assert_close(G([z], randomize_noise=False)[0], G2([z], randomize_noise=False)[0])


def test_loader_names_what_does_not_match(tmp_path):
    checkpoint = synthetic_checkpoint(size=16)
    del checkpoint["g_ema"]["conv1.noise.weight"]
    checkpoint["g_ema"]["extra.weight"] = torch.zeros(1)
    with pytest.raises(ValueError, match=r"missing \['conv1.noise.weight'\].*unexpected \['extra.weight'\]"):
        load_rosinality(checkpoint)
    with pytest.raises(ValueError, match="no 'g_ema' entry"):
        load_rosinality({"g": {}})
    with pytest.raises(FileNotFoundError):
        load_rosinality(tmp_path / "absent.pt")
    (tmp_path / "evil.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(ValueError, match="weights_only"):
        load_rosinality(tmp_path / "evil.pt")


def test_config_is_inferred_for_custom_width_tables():
    config = StyleGAN2Config(resolution=32, style_dim=16, n_mlp=3, channel_base=256, channel_max=16)
    inferred = config_from_state_dict(StyleGAN2Generator(config).state_dict())
    assert (inferred.resolution, inferred.style_dim, inferred.n_mlp) == (32, 16, 3)
    assert [inferred.width(r) for r in inferred.resolutions] == [config.width(r) for r in config.resolutions]


def test_ffhq_checkpoint_missing_says_what_to_download(tmp_path, monkeypatch):
    from toonlab.gan.stylegan2 import FFHQ_ENV, ffhq_checkpoint
    from toonlab.zoo import WeightsMissingError

    monkeypatch.setenv(FFHQ_ENV, str(tmp_path / "nothing.pt"))
    with pytest.raises(WeightsMissingError, match="stylegan2-ffhq-config-f.pt"):
        ffhq_checkpoint()


# -- ops against brute force ---------------------------------------------------------------------


def upfirdn2d_reference(x: np.ndarray, kernel: np.ndarray, up: int, down: int, pad: tuple[int, int]) -> np.ndarray:
    """Textbook definition, one output pixel at a time: zero-stuff, pad, true convolution, decimate."""
    h, w = x.shape
    stuffed = np.zeros((h * up, w * up))
    stuffed[::up, ::up] = x
    p0, p1 = pad
    padded = np.zeros((h * up + p0 + p1, w * up + p0 + p1))
    src = stuffed[max(-p0, 0): stuffed.shape[0] - max(-p1, 0), max(-p0, 0): stuffed.shape[1] - max(-p1, 0)]
    padded[max(p0, 0): max(p0, 0) + src.shape[0], max(p0, 0): max(p0, 0) + src.shape[1]] = src
    kh, kw = kernel.shape
    out = np.zeros((padded.shape[0] - kh + 1, padded.shape[1] - kw + 1))
    for i in range(out.shape[0]):
        for j in range(out.shape[1]):
            out[i, j] = sum(padded[i + a, j + b] * kernel[kh - 1 - a, kw - 1 - b] for a in range(kh) for b in range(kw))
    return out[::down, ::down]


@pytest.mark.parametrize("up, down, pad", [(1, 1, (1, 2)), (2, 1, (2, 1)), (1, 2, (1, 1)), (2, 1, (-1, 0))])
def test_upfirdn2d_matches_the_definition(up, down, pad):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((2, 3, 5, 5))
    kernel = rng.standard_normal((4, 4))  # asymmetric: catches a missing kernel flip
    ours = upfirdn2d(torch.from_numpy(x), torch.from_numpy(kernel), up=up, down=down, pad=pad).numpy()
    for b in range(2):
        for c in range(3):
            np.testing.assert_allclose(ours[b, c], upfirdn2d_reference(x[b, c], kernel, up, down, pad), atol=1e-10)


def test_blur_preserves_a_constant_image():
    blur = Blur([1, 3, 3, 1], pad=(2, 1))
    out = blur(torch.ones(1, 1, 8, 8))
    torch.testing.assert_close(out[..., 2:-2, 2:-2], torch.ones_like(out[..., 2:-2, 2:-2]))


def modulated_reference(conv: ModulatedConv2d, x: torch.Tensor, style: torch.Tensor) -> torch.Tensor:
    """The paper's equations per sample: s = affine(w); w'_ijk = s_i w_ijk; w''_ijk = w'_ijk / sqrt(sum w'^2 + eps)."""
    outputs = []
    s = conv.modulation(style)
    for b in range(x.shape[0]):
        weight = conv.scale * conv.weight[0] * s[b].view(1, -1, 1, 1)
        if conv.demodulate:
            weight = weight / torch.sqrt(weight.pow(2).sum(dim=(1, 2, 3), keepdim=True) + 1e-8)
        if conv.upsample:
            y = F.conv_transpose2d(x[b: b + 1], weight.transpose(0, 1), stride=2)
            outputs.append(conv.blur(y))
        else:
            outputs.append(F.conv2d(x[b: b + 1], weight, padding=conv.padding))
    return torch.cat(outputs)


@pytest.mark.parametrize("upsample, demodulate, kernel", [(False, True, 3), (True, True, 3), (False, False, 1)])
def test_modulated_conv_matches_the_per_sample_equations(upsample, demodulate, kernel):
    torch.manual_seed(0)
    conv = ModulatedConv2d(4, 5, kernel, style_dim=6, demodulate=demodulate, upsample=upsample).double()
    x, style = torch.randn(3, 4, 8, 8, dtype=torch.float64), torch.randn(3, 6, dtype=torch.float64)
    out = conv(x, style)
    assert out.shape == (3, 5, 16 if upsample else 8, 16 if upsample else 8)
    torch.testing.assert_close(out, modulated_reference(conv, x, style))


def test_demodulation_gives_unit_output_variance():
    # The paper's argument: with unit-variance inputs, demodulated outputs have unit variance.
    torch.manual_seed(0)
    conv = ModulatedConv2d(64, 64, 3, style_dim=8)
    out = conv(torch.randn(4, 64, 32, 32), torch.randn(4, 8) * 3)
    assert out[..., 1:-1, 1:-1].std().item() == pytest.approx(1.0, abs=0.05)
