"""Chapter 05's inversion networks, training and metrics, on tiny random generators.

Known answers (every method recovers the latents of generated images better than the mean latent), the
mappers' shapes and residuals as in the sources, ToyHollyWood's ``clip_grad`` switch checked on
``.grad``, exact resume after SIGKILL, and the bad inputs (a generator export of another architecture or
resolution, a missing export, images of the wrong size or mode).

Run as a script (``python tests/test_inversion.py OUT TASK KILL_AT``) it trains TASK and SIGKILLs itself at
step KILL_AT: the fault-injection test kills a real process mid-run.
"""

from __future__ import annotations

import math
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import TensorDataset

from conftest import FailAt
from toonlab.gan.fastgan import FastGANConfig, FastGANGenerator
from toonlab.gan.stylegan2 import StyleGAN2Config, StyleGAN2Generator
from toonlab.inversion.encoders import (PSPEncoder, PSPEncoderConfig, ResNetConfig, SimCLR, SimCLRConfig, nt_xent,
                                        pyramid_rows)
from toonlab.inversion.generator import InversionGenerator, LatentSpaceError
from toonlab.inversion.losses import reconstruction_terms, toyhollywood_terms
from toonlab.inversion.mappers import (CSLAMapper, CSLAMapperConfig, PopYouMapper, PopYouMapperConfig,
                                       ToyHollyWoodMapper, ToyHollyWoodMapperConfig)
from toonlab.inversion.optimize import OptimizeConfig, learning_rate, optimize_latents
from toonlab.inversion.pipelines import (CSLAInverter, EncoderInverter, MeanLatent, OptimizationInverter,
                                         PopYouInverter, ToyHollyWoodInverter)
from toonlab.metrics.inversion import (attribute_agreement, face_identity, latent_error,
                                       paired_clip_i, pixel_mse)
from toonlab.train import checkpoint as ckpt
from toonlab.train.checkpoint import save_weights
from toonlab.train.inversion_tasks import (CSLATask, EncoderTask, GeneratorExportError, PopYouTask, SeededLatents,
                                           SimCLRTask, ToyHollyWoodTask, fit, load_generator_export)

# Tiny random generators whose latents the image pins down: few latent dimensions, many channels. (With
# 16-d styles and 16 channels a random StyleGAN2 barely depends on some directions of w, and even
# optimisation in W+ ends farther from the known latent than the mean is.)
STYLE = 4  # StyleGAN2: 4-d styles, 32 channels, 16 px (6 W+ rows)
WIDTHS = (8, 16, 16, 32)  # encoder ResNet stages
SIMCLR_WIDTHS = (8, 16, 16, STYLE)  # SimCLR's features feed the style vectoriser: as wide as a style


def tiny_stylegan2(resolution: int = 16, seed: int = 0) -> StyleGAN2Generator:
    torch.manual_seed(seed)
    return StyleGAN2Generator(StyleGAN2Config(resolution=resolution, style_dim=STYLE, n_mlp=2, channel_base=512,
                                              channel_max=32)).eval()


def tiny_fastgan(seed: int = 0) -> FastGANGenerator:
    torch.manual_seed(seed)
    return FastGANGenerator(FastGANConfig(resolution=64, latent_dim=4, ngf=4, ndf=4)).eval()


def pixel_distance(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """A stand-in perceptual distance for the tests: per-image mean absolute difference."""
    return (x - y).abs().flatten(1).mean(1)


class TinyClip:
    """A fixed random projection of the 8x8-pooled image as a differentiable "CLIP" (the DifferentiableClip
    interface): informative like an embedding (a random projection keeps distances), and costs nothing."""

    def __init__(self, dim: int = 24, seed: int = 0) -> None:
        torch.manual_seed(seed)
        self.net = nn.Sequential(nn.AdaptiveAvgPool2d(8), nn.Flatten(), nn.Linear(192, dim)).requires_grad_(False)
        self.embed_dim = dim

    def encode_image(self, images: torch.Tensor) -> torch.Tensor:
        return self.net(images * 2 - 1)

    def encode_text(self, texts):
        return torch.stack([torch.randn(self.embed_dim, generator=torch.Generator().manual_seed(len(t))) for t in texts])


def generated_dataset(space: InversionGenerator, n: int, seed: int,
                      positive: bool = False) -> tuple[torch.Tensor, torch.Tensor, TensorDataset]:
    """``n`` generated images and their latents (``positive``: |z|, see :func:`recovery`) as a training set."""
    latents, images = space.sample(n, seed)
    if positive:
        latents = latents.abs()
        with torch.no_grad():
            images = ((space(latents) + 1) / 2).clamp(0, 1)
    return latents, images, TensorDataset(images, torch.zeros(n, dtype=torch.long))


# ---------------------------------------------------------------------------------------------------
# the mappers: shapes and residuals as in the sources


def count_linears(module: nn.Module) -> list[tuple[int, int]]:
    return [(m.in_features, m.out_features) for m in module.modules() if isinstance(m, nn.Linear)]


def zero_(linears) -> None:
    for linear in linears:
        nn.init.zeros_(linear.weight)
        nn.init.zeros_(linear.bias)


def test_popyou_mapper_is_three_gelu_layers_a_residual_and_a_gelu_head():
    mapper = PopYouMapper(PopYouMapperConfig())
    assert count_linears(mapper) == [(768, 768)] * 3 + [(768, 256)]
    assert sum(isinstance(m, nn.GELU) for m in mapper.modules()) == 4
    e = torch.randn(5, 768)
    assert mapper(e).shape == (5, 256)
    zero_(m for m in mapper.mapper if isinstance(m, nn.Linear))  # mapper(e) = GELU(0) = 0 -> head(e)
    assert torch.equal(mapper(e), mapper.head(e))
    assert (mapper(e) >= -0.1701).all()  # the GELU head cannot reach the negative half of z


def test_toyhollywood_mapper_adds_its_four_layers_to_the_features():
    mapper = ToyHollyWoodMapper(ToyHollyWoodMapperConfig())
    assert count_linears(mapper) == [(512, 512)] * 4
    s = torch.randn(3, 512)
    assert mapper(s).shape == (3, 512)
    assert torch.allclose(mapper(s) - s, mapper.mapper(s), atol=1e-6)
    zero_(m for m in mapper.mapper if isinstance(m, nn.Linear))
    assert torch.equal(mapper(s), s)


def test_csla_mapper_is_mean_w_plus_an_offset_from_the_centred_clip_embedding():
    mapper = CSLAMapper(CSLAMapperConfig())
    assert count_linears(mapper) == [(768, 768)] * 6 + [(768, 23 * 512)]
    mean_w, mean_clip = torch.randn(23, 512), torch.randn(768)
    mapper.set_centres(mean_w, mean_clip)
    clip = torch.randn(2, 768)
    assert mapper(clip).shape == (2, 23, 512)
    assert torch.allclose(mapper(mean_clip[None]) - mean_w, mapper.mapper(torch.zeros(1, 768)).view(1, 23, 512), atol=1e-5)
    zero_([mapper.mapper[1]])  # the last Linear: GELU(0) = 0 -> W+ = mean_w
    assert torch.equal(mapper(clip), mean_w.expand(2, 23, 512))
    with pytest.raises(ValueError, match=r"\(23, 512\)"):
        mapper.set_centres(torch.zeros(18, 512), mean_clip)


def test_mappers_name_the_embedding_size_they_take():
    with pytest.raises(ValueError, match="768-d"):
        PopYouMapper(PopYouMapperConfig())(torch.randn(2, 512))
    with pytest.raises(ValueError, match="512-d"):
        ToyHollyWoodMapper(ToyHollyWoodMapperConfig())(torch.randn(2, 768))
    with pytest.raises(ValueError, match="768-d CLIP"):
        CSLAMapper(CSLAMapperConfig())(torch.randn(2, 32))


def test_psp_encoder_maps_to_every_w_plus_row_from_the_pyramid():
    assert pyramid_rows(18) == (3, 4)  # pSp's coarse / middle split for 1024 px
    encoder = PSPEncoder(PSPEncoderConfig(64, (10, STYLE), ResNetConfig(WIDTHS)))
    assert len(encoder.styles) == 10 and encoder.levels[:2] == [2, 2] and encoder.levels[-1] == 0
    mean = torch.randn(10, STYLE)
    encoder.set_mean_latent(mean)
    assert encoder(torch.rand(3, 3, 64, 64)).shape == (3, 10, STYLE)
    vector = PSPEncoder(PSPEncoderConfig(64, (STYLE,), ResNetConfig(WIDTHS)))
    assert vector(torch.rand(2, 3, 64, 64)).shape == (2, STYLE)
    assert ResNetConfig().widths == (64, 128, 256, 512) and ResNetConfig().blocks == (2, 2, 2, 2)  # ResNet-18


def test_nt_xent_matches_a_brute_force_computation():
    torch.manual_seed(0)
    a, b, t = torch.randn(4, 6), torch.randn(4, 6), 0.5
    z = F.normalize(torch.cat([a, b]), dim=1)
    losses = []
    for i in range(8):
        positive = (i + 4) % 8
        denominator = sum(math.exp(float(z[i] @ z[k]) / t) for k in range(8) if k != i)
        losses.append(-math.log(math.exp(float(z[i] @ z[positive]) / t) / denominator))
    assert nt_xent(a, b, t).item() == pytest.approx(sum(losses) / 8, rel=1e-5)


# ---------------------------------------------------------------------------------------------------
# ToyHollyWood's clip_grad switch


@pytest.mark.parametrize("clip_grad", [False, True])
def test_clip_grad_switch_decides_whether_the_clip_terms_train_the_mapper(clip_grad):
    space = InversionGenerator(tiny_stylegan2(), "z")
    clip, mapper = TinyClip(), ToyHollyWoodMapper(ToyHollyWoodMapperConfig(STYLE))
    features, target = torch.randn(4, STYLE), torch.rand(4, 3, 16, 16) * 2 - 1
    generated = space(mapper(features))
    terms = toyhollywood_terms(generated, target, clip.encode_image, torch.zeros(4, 3), torch.zeros(4, 3),
                               pixel_distance, clip_grad=clip_grad)
    clip_loss = terms["clip_mse"] + terms["clip_cos"]
    assert clip_loss.requires_grad is clip_grad
    if clip_grad:
        clip_loss.backward()
        grads = [p.grad for p in mapper.parameters()]
        assert all(g is not None for g in grads) and sum(g.abs().sum() for g in grads) > 0
    else:  # as released: the CLIP terms are constants; only the other terms reach the mapper
        (terms["mse"] + clip_loss).backward()
        with_clip = [p.grad.clone() for p in mapper.parameters()]
        mapper.zero_grad()
        terms = toyhollywood_terms(space(mapper(features)), target, clip.encode_image, torch.zeros(4, 3),
                                   torch.zeros(4, 3), pixel_distance, clip_grad=False)
        terms["mse"].backward()
        assert all(torch.equal(a, p.grad) for a, p in zip(with_clip, mapper.parameters()))


def test_the_toyhollywood_task_trains_differently_with_the_fix(tmp_path):
    space = InversionGenerator(tiny_stylegan2(), "z")
    _, _, data = generated_dataset(space, 16, seed=1)
    weights = {}
    for clip_grad in (False, True):
        torch.manual_seed(0)
        simclr = SimCLR(SimCLRConfig(ResNetConfig(SIMCLR_WIDTHS), STYLE, STYLE))
        mapper = ToyHollyWoodMapper(ToyHollyWoodMapperConfig(STYLE))
        task = ToyHollyWoodTask(mapper, simclr, space, TinyClip(), pixel_distance, clip_grad=clip_grad, lr=1e-2)
        result = fit(task, data, tmp_path / str(clip_grad), steps=3, batch_size=4, seed=0, log_every=1, progress=False)
        weights[clip_grad] = [p.detach().clone() for p in result.trainer.unwrap("mapper").parameters()]
    assert any(not torch.equal(a, b) for a, b in zip(weights[False], weights[True]))


# ---------------------------------------------------------------------------------------------------
# known answers: every method beats the mean latent


def recovery(inverter, space: InversionGenerator, seed: int = 99, n: int = 16,
             positive: bool = False) -> tuple[float, float]:
    """(method's latent error, mean latent's) on ``n`` generated images. ``positive`` draws |z| instead of z:
    PopYou's GELU head and ToyHollyWood's s + mapper(s) (post-ReLU SimCLR features) only reach about the
    positive orthant of z, so their known answers are drawn where the sources' mappers can answer."""
    true, images = space.sample(n, seed)
    if positive:
        true = true.abs()
        images = ((space(true) + 1) / 2).clamp(0, 1)
    true, predicted = space.identifiable(true), space.identifiable(inverter.latents(images))
    baseline = space.identifiable_mean.expand_as(true)
    return float(latent_error(predicted, true).mean()), float(latent_error(baseline, true).mean())


def mse_loss(generated, target):
    return {"mse": (generated - target).pow(2).flatten(1).mean(1)}


@pytest.mark.parametrize("space_name, factor", [("w", 0.25), ("w+", 1.0)])
def test_optimisation_recovers_known_latents_better_than_the_mean(space_name, factor):
    """W pins the latent down; W+ (6 rows of freedom) fits the image with latents off the known one, yet
    still nearer than the mean."""
    space = InversionGenerator(tiny_stylegan2(), space_name)
    inverter = OptimizationInverter(space, mse_loss, OptimizeConfig(steps=150, lr=0.1))
    error, baseline = recovery(inverter, space)
    assert error < factor * baseline, (error, baseline)
    assert inverter.history[-1] < inverter.history[0]


def test_optimisation_treats_every_image_of_a_batch_on_its_own():
    space = InversionGenerator(tiny_stylegan2(), "w")
    _, images = space.sample(2, 3)
    config = OptimizeConfig(steps=5, lr=0.05)
    together, _ = optimize_latents(space, images, mse_loss, config)
    alone, _ = optimize_latents(space, images[1:], mse_loss, config)
    assert torch.allclose(together[1:], alone, atol=1e-6)


def test_learning_rate_ramps_up_and_down_as_the_projector():
    config = OptimizeConfig(steps=100, lr=0.1)
    assert learning_rate(0.0, config) == 0 and learning_rate(0.5, config) == pytest.approx(0.1)
    assert learning_rate(0.9, config) < 0.1 and learning_rate(1.0, config) == pytest.approx(0.0, abs=1e-12)


def trained_on_generated(task, data, tmp_path, steps, batch_size=8):
    return fit(task, data, tmp_path, steps=steps, batch_size=batch_size, seed=0, log_every=10, progress=False)


def test_encoder_and_hybrid_recover_known_latents_better_than_the_mean(tmp_path):
    space = InversionGenerator(tiny_stylegan2(), "w+")
    _, _, data = generated_dataset(space, 512, seed=1)
    torch.manual_seed(0)
    encoder = PSPEncoder(PSPEncoderConfig(16, space.latent_shape, ResNetConfig(WIDTHS)))
    encoder.set_mean_latent(space.mean_latent)
    loss = lambda g, t: reconstruction_terms(g, t, pixel_distance)  # noqa: E731
    trained_on_generated(EncoderTask(encoder, space, pixel_distance, lr=3e-3), data, tmp_path, steps=300)
    inverter = EncoderInverter(encoder, space)
    error, baseline = recovery(inverter, space)
    assert error < baseline, (error, baseline)
    hybrid = OptimizationInverter(space, loss, OptimizeConfig(steps=30, lr=0.05), init=inverter)
    hybrid_error, _ = recovery(hybrid, space)
    assert hybrid_error < baseline, (hybrid_error, baseline)


def test_csla_mapper_recovers_known_latents_better_than_the_mean(tmp_path):
    space = InversionGenerator(tiny_stylegan2(), "w+")
    clip = TinyClip()
    torch.manual_seed(0)
    mapper = CSLAMapper(CSLAMapperConfig(clip.embed_dim, *space.latent_shape))
    _, images = space.sample(256, 5)
    mapper.set_centres(space.mean_latent, clip.encode_image(images).mean(0))
    # CSLA's own Adam 3e-5 needs far more steps than a unit test has: 3e-3 here
    trained_on_generated(CSLATask(mapper, space, clip, lr=3e-3), SeededLatents(10_000, STYLE, 7), tmp_path, steps=200,
                         batch_size=16)
    error, baseline = recovery(CSLAInverter(clip, mapper, space), space)
    assert error < baseline, (error, baseline)


def test_toyhollywood_mapper_recovers_known_latents_better_than_the_mean(tmp_path):
    space = InversionGenerator(tiny_stylegan2(), "z")
    _, _, data = generated_dataset(space, 512, seed=1, positive=True)
    torch.manual_seed(0)
    simclr = SimCLR(SimCLRConfig(ResNetConfig(SIMCLR_WIDTHS), STYLE, STYLE))
    trained_on_generated(SimCLRTask(simclr, lr=0.05), data, tmp_path / "simclr", steps=50)
    mapper = ToyHollyWoodMapper(ToyHollyWoodMapperConfig(STYLE))
    task = ToyHollyWoodTask(mapper, simclr, space, TinyClip(), pixel_distance, clip_grad=True, lr=3e-3)
    trained_on_generated(task, data, tmp_path / "mapper", steps=300)
    error, baseline = recovery(ToyHollyWoodInverter(simclr, mapper, space), space, positive=True)
    assert error < baseline, (error, baseline)


def test_popyou_mapper_recovers_known_latents_better_than_the_mean(tmp_path):
    space = InversionGenerator(tiny_fastgan(), "z")
    _, _, data = generated_dataset(space, 512, seed=1, positive=True)
    clip = TinyClip()
    torch.manual_seed(0)
    mapper = PopYouMapper(PopYouMapperConfig(clip.embed_dim, 4))
    trained_on_generated(PopYouTask(mapper, space, clip, pixel_distance, lr=3e-3), data, tmp_path, steps=300)
    inverter = PopYouInverter(clip, mapper, space)
    error, baseline = recovery(inverter, space, positive=True)
    assert error < baseline, (error, baseline)
    assert inverter.from_text(["a b", "a bc"]).shape == (2, 3, 64, 64)  # text -> image through the same mapper


# ---------------------------------------------------------------------------------------------------
# exact resume after SIGKILL


def resume_task(name: str):
    """A task and its data, rebuilt identically in the child and the parent."""
    space = InversionGenerator(tiny_stylegan2(), "w+" if name == "csla" else "z")
    torch.manual_seed(0)
    if name == "simclr":  # augmentations draw from the RNG: the strongest resume check
        _, _, data = generated_dataset(space, 16, seed=1)
        return SimCLRTask(SimCLR(SimCLRConfig(ResNetConfig(SIMCLR_WIDTHS), STYLE, STYLE)), lr=0.05), data
    clip = TinyClip()
    return CSLATask(CSLAMapper(CSLAMapperConfig(clip.embed_dim, *space.latent_shape)), space, clip, lr=1e-3), \
        SeededLatents(1000, STYLE, 3)


def train_resumable(out: Path, name: str, callbacks=()):
    from toonlab.train import Trainer, TrainConfig

    task, data = resume_task(name)
    config = TrainConfig(steps=8, batch_size=4, seed=0, log_every=2, checkpoint_every=4, progress=False)
    trainer = Trainer(task, data, config, out, callbacks=callbacks)
    return trainer, trainer.fit()


@pytest.mark.parametrize("name", ["simclr", "csla"])
def test_resume_after_sigkill_is_exact(name, tmp_path):
    straight, straight_result = train_resumable(tmp_path / "straight", name)
    killed = tmp_path / "killed"
    done = subprocess.run([sys.executable, __file__, str(killed), name, "6"], capture_output=True, text=True,
                          timeout=300, env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert done.returncode == -signal.SIGKILL, done.stderr[-2000:]
    assert [s for s, _ in ckpt.list_checkpoints(killed / "checkpoints")] == [4]
    resumed, result = train_resumable(killed, name)
    assert result.resumed_from == 4
    assert result.history.series == straight_result.history.series
    model = "simclr" if name == "simclr" else "mapper"
    for (key, a), b in zip(straight.unwrap(model).state_dict().items(), resumed.unwrap(model).state_dict().values()):
        assert torch.equal(a, b), key


# ---------------------------------------------------------------------------------------------------
# bad input


def export(tmp_path: Path, generator: nn.Module, kind: str, name: str = "generator.safetensors") -> Path:
    import dataclasses

    return save_weights(tmp_path / name, generator, {"kind": kind, "model": dataclasses.asdict(generator.config)})


def test_a_generator_export_of_another_architecture_or_resolution_is_refused(tmp_path):
    path = export(tmp_path, tiny_stylegan2(), "stylegan2")
    generator, meta = load_generator_export(path, kind="stylegan2", resolution=16)
    assert isinstance(generator, StyleGAN2Generator) and meta["kind"] == "stylegan2"
    with pytest.raises(GeneratorExportError, match=r"stylegan2 generator at 16 px.*fastgan generator at 16 px") as error:
        load_generator_export(path, kind="fastgan", resolution=16)
    assert str(path) in str(error.value)
    with pytest.raises(GeneratorExportError, match=r"at 16 px, but a stylegan2 generator at 64 px was expected"):
        load_generator_export(path, kind="stylegan2", resolution=64)


def test_an_fp16_export_loads_as_the_fp32_generator(tmp_path):
    """Chapter 03 commits its cpu generators in fp16 (config gains ``dtype``); they load into fp32 networks."""
    import dataclasses

    generator = tiny_stylegan2()
    path = save_weights(tmp_path / "g16.safetensors", tiny_stylegan2().half(),
                        {"kind": "stylegan2", "model": dataclasses.asdict(generator.config), "dtype": "float16"})
    loaded, _ = load_generator_export(path, kind="stylegan2", resolution=16)
    assert all(p.dtype == torch.float32 for p in loaded.parameters())
    for (key, a), b in zip(generator.state_dict().items(), loaded.state_dict().values()):
        assert torch.equal(a.half().float(), b), key


def test_a_missing_or_broken_export_says_how_to_create_it(tmp_path):
    missing = tmp_path / "nope.safetensors"
    with pytest.raises(GeneratorExportError, match=r"nope.safetensors is missing.*`python -m toonlab.book run"):
        load_generator_export(missing, kind="fastgan", resolution=64,
                              command="python -m toonlab.book run --profile cpu --chapters 03")
    broken = tmp_path / "broken.safetensors"
    broken.write_bytes(b"not a safetensors file")
    with pytest.raises(GeneratorExportError, match="broken.safetensors is not a readable"):
        load_generator_export(broken, kind="fastgan", resolution=64)


def test_the_registered_source_is_chapter_03s_committed_generator():
    """Chapter 05's ``registered`` generator is chapter 03's committed export, loaded (sha256 and size checked)
    by chapter 03's own loader, not a copy of it."""
    from toonlab.chapters.inversion import REGISTERED, load_generator
    from toonlab.train.gan_runs import CommittedGeneratorError, load_committed_generator

    loaded = load_generator("fastgan", "registered", resolution=64, profile="ci", data="unused", seed=0)
    expected, meta = load_committed_generator(REGISTERED["fastgan"])
    assert loaded.identity == f"{REGISTERED['fastgan']}-{meta['sha256'][:12]}"
    assert REGISTERED["fastgan"] in loaded.label and loaded.resolution == 64
    for (key, a), b in zip(expected.state_dict().items(), loaded.network.state_dict().values()):
        assert torch.equal(a, b), key
    with pytest.raises(CommittedGeneratorError, match=r"is a fastgan at 64 px, but a fastgan at 128 px was asked for"):
        load_generator("fastgan", "registered", resolution=128, profile="ci", data="unused", seed=0)


def test_images_of_the_wrong_size_or_mode_are_refused_not_resized():
    space = InversionGenerator(tiny_stylegan2(), "w")
    with pytest.raises(LatentSpaceError, match=r"\(32, 32\) px but the stylegan2 generator makes 16x16"):
        space.check_targets(torch.rand(2, 3, 32, 32))
    with pytest.raises(LatentSpaceError, match="1 channels.*RGB"):
        space.check_targets(torch.rand(2, 1, 16, 16))
    with pytest.raises(LatentSpaceError, match=r"floats in \[0, 1\]"):
        space.check_targets(torch.randint(0, 255, (2, 3, 16, 16), dtype=torch.uint8))
    with pytest.raises(LatentSpaceError, match="latent spaces"):
        InversionGenerator(tiny_fastgan(), "w+")
    with pytest.raises(LatentSpaceError, match="latents have shape"):
        space(torch.zeros(2, 6, STYLE))
    with pytest.raises(LatentSpaceError):
        MeanLatent(space).latents(torch.rand(2, 3, 64, 64))


def test_a_task_refuses_a_generator_in_the_wrong_space():
    space = InversionGenerator(tiny_stylegan2(), "w")
    with pytest.raises(ValueError, match="W\\+"):
        CSLATask(CSLAMapper(CSLAMapperConfig(24, 6, STYLE)), space, TinyClip())
    with pytest.raises(ValueError, match="FastGAN's z"):
        PopYouTask(PopYouMapper(PopYouMapperConfig(24, 4)), space, TinyClip(), pixel_distance)


# ---------------------------------------------------------------------------------------------------
# metrics


def test_reconstruction_metrics_against_brute_force():
    torch.manual_seed(0)
    x, y = torch.rand(3, 3, 8, 8), torch.rand(3, 3, 8, 8)
    expected = [sum((float(a) - float(b)) ** 2 for a, b in zip(x[i].flatten(), y[i].flatten())) / x[i].numel()
                for i in range(3)]
    assert pixel_mse(x, y).tolist() == pytest.approx(expected, rel=1e-5)
    assert latent_error(torch.ones(2, 3), torch.zeros(2, 3)).tolist() == [1.0, 1.0]


def test_attribute_agreement_and_clip_i_are_one_for_identical_images():
    from toonlab import zoo
    from toonlab.metrics.toon_features import load_toon_features

    images = torch.rand(4, 3, 64, 64)
    classifier = load_toon_features()
    agreement = attribute_agreement(classifier, images, images.clone(), ["glasses", "mouth"])
    assert agreement == {"glasses": 1.0, "mouth": 1.0, "mean": 1.0}
    clip = zoo.load("clip", "ci")
    assert paired_clip_i(clip, images, images.clone()).tolist() == pytest.approx([1.0] * 4, abs=1e-5)


def test_face_identity_without_dlib_names_the_install_command(monkeypatch):
    from toonlab.metrics.face_identity import FaceIdentityUnavailable, load_face_models

    load_face_models.cache_clear()
    monkeypatch.setitem(sys.modules, "dlib", None)  # import dlib -> ImportError
    try:
        with pytest.raises(FaceIdentityUnavailable, match=r"pip install dlib-bin face-recognition-models"):
            face_identity(torch.rand(1, 3, 8, 8), torch.rand(1, 3, 8, 8))
    finally:
        load_face_models.cache_clear()


def test_face_identity_of_a_face_with_itself_is_zero():
    pytest.importorskip("dlib", reason="optional: pip install 'toonlab[faces]'")
    from skimage import data

    from toonlab.metrics.face_identity import FaceIdentityUnavailable, load_face_models

    try:
        models = load_face_models()
    except FaceIdentityUnavailable as error:
        pytest.skip(str(error))
    face = torch.from_numpy(data.astronaut()[:256, 96:352]).permute(2, 0, 1)[None].float() / 255
    result = face_identity(face, face.clone(), models)
    assert result["pairs_with_faces"] == 1 and result["face_distance"] == pytest.approx(0.0, abs=1e-6)
    assert result["same_person"] == 1.0
    noise = torch.rand(1, 3, 256, 256, generator=torch.Generator().manual_seed(0))
    assert face_identity(face, noise, models)["pairs_with_faces"] == 0  # no face in noise: not counted


def test_the_chapter_split_never_trains_on_held_out_images():
    from toonlab.chapters.inversion import fingerprint, split

    images = torch.arange(12.0).view(12, 1, 1, 1).expand(12, 3, 2, 2) / 12
    data = TensorDataset(images, torch.zeros(12, dtype=torch.long))
    train, test = split(data, n_train=6, n_test=3, extra_test=2)
    assert list(train.indices) == [3, 4, 5, 6, 7, 8]
    assert (test[:, 0, 0, 0] * 12).round().tolist() == [0, 1, 2, 9, 10]
    other, _ = split(data, n_train=6, n_test=4)
    assert fingerprint(train) != fingerprint(other)  # other images: another run folder
    with pytest.raises(ValueError, match="at least one more"):
        split(data, n_train=6, n_test=12)


if __name__ == "__main__":  # the fault-injection child: train, SIGKILL itself at step argv[3]
    torch.set_num_threads(1)
    train_resumable(Path(sys.argv[1]), sys.argv[2], callbacks=[FailAt(int(sys.argv[3]), sigkill=True)])


def test_the_reconstruction_table_carries_the_run_label_once(tmp_path):
    """The chapter's table has no profile column of its own: ``run.table`` adds the label, once."""
    from types import SimpleNamespace

    from toonlab.chapters.inversion import Evaluation, results_table
    from toonlab.results import ChapterRun

    rows = [{"method": "mean latent", "space": "w", "mse": 0.1, "perceptual": 0.2, "attributes": 0.5, "clip_i": 0.7,
             "s/image": 0.01, "trainable parameters": 0, "train s (this run)": None}]
    models = SimpleNamespace(labels={"lpips": "LPIPS-toon", "clip": "ToonCLIP"})
    table = results_table(Evaluation(rows, {}, torch.zeros(1, 3, 16, 16)), models)
    assert list(table.columns) == ["method", "space", "MSE", "LPIPS-toon", "attribute agreement",
                                   "CLIP-I to input (ToonCLIP)", "s/image", "trainable parameters",
                                   "train s (this run)"]
    run = ChapterRun("05_inversion", {"profile": "cpu"}, weights="committed cpu generators", root=tmp_path)
    shown = run.table("reconstruction_stylegan2", table)
    assert list(shown.columns) == [run.label, *table.columns]
    assert shown[run.label].tolist() == ["cpu"]
