"""Chapter 06's edit directions, optimal-c layer, training and metrics, on tiny random models.

The planted-direction test: W of a tiny random StyleGAN2, plus a planted factor along a known unit vector
r (the dominant source of variance), and an attribute defined by a linear readout, r·w > 0. Every finder
must recover r with cosine > 0.9 from what it is given: InterFaceGAN the labelled latents, GANSpace the
latents and an attribute scorer, the text delta a mapper and a text encoder aligned with the image
embedding, StyleCLIP's optimisation a differentiable image embedding and the target text's embedding.
Then: the text delta's antisymmetry, c = 0 giving the original image bit for bit, the optimal-c loss on
a hand-computed case, exact resume of the optimal-c training after a crash, and the bad inputs.
"""

from __future__ import annotations

import math

import open_clip
import pytest
import torch
from torch import nn

from toonlab.editing.directions import (C_MAX, ClipOptimisationConfig, EditInputError, apply_edit, check_prompt,
                                        check_strength, clip_optimisation, cosine, ganspace_direction_for,
                                        ganspace_directions, interfacegan_direction, match_norm, name_components,
                                        text_delta)
from toonlab.editing.optimal_c import OptimalCConfig, OptimalCLayer, clip_similarity, line_search, optimal_c_loss
from toonlab.gan.stylegan2 import StyleGAN2Config, StyleGAN2Generator
from toonlab.inversion.generator import InversionGenerator
from toonlab.inversion.mappers import CSLAMapper, CSLAMapperConfig
from toonlab.metrics.checks import MetricInputError
from toonlab.metrics.editing import AttributeTest, directional_clip, edit_success, success_at_preservation
from toonlab.train import Callback
from toonlab.train.editing_tasks import OptimalCTask, PromptLatents
from toonlab.train.loop import TrainConfig, Trainer

STYLE = 8


def tiny_stylegan2(seed: int = 0) -> StyleGAN2Generator:
    torch.manual_seed(seed)
    return StyleGAN2Generator(StyleGAN2Config(resolution=16, style_dim=STYLE, n_mlp=2, channel_base=512,
                                              channel_max=16)).eval()


def tokenizer():
    return open_clip.tokenizer.SimpleTokenizer(context_length=77)


# ---------------------------------------------------------------------------------------------------
# the planted direction


@pytest.fixture(scope="module")
def planted():
    """Centred W of a tiny random StyleGAN2 (N, D) plus a planted factor along r, and the readout labels."""
    generator = tiny_stylegan2()
    w = InversionGenerator(generator, "w", n_mean=64).from_z(torch.randn(400, STYLE, generator=torch.Generator().manual_seed(1)))
    w = w - w.mean(0)
    r = torch.nn.functional.normalize(torch.randn(STYLE, generator=torch.Generator().manual_seed(2)), dim=0)
    spread = w.std(0).max()
    factor = torch.randn(len(w), generator=torch.Generator().manual_seed(3))
    latents = w + 4 * spread * factor[:, None] * r
    return latents, r, latents @ r > 0


def test_interfacegan_recovers_the_planted_direction(planted):
    latents, r, labels = planted
    assert cosine(interfacegan_direction(latents, labels), r) > 0.9


def test_ganspace_recovers_and_names_the_planted_direction(planted):
    latents, r, _ = planted
    other = torch.nn.functional.normalize(torch.randn(STYLE, generator=torch.Generator().manual_seed(9)), dim=0)
    components = ganspace_directions(latents, n_components=4)
    names = name_components(components, latents[:32], lambda w: {"planted": w @ r, "other": w @ other})
    assert names[0][0] == "planted"  # the dominant component is named after the attribute it moves
    assert cosine(ganspace_direction_for(components, names, "planted"), r) > 0.9


def aligned_text_encoder(projection: torch.Tensor, latents: torch.Tensor, labels: torch.Tensor):
    """A "CLIP" whose image embedding is ``P w`` (P with orthonormal columns) and whose text embedding of the
    target / source prompt is the mean image embedding of the latents with / without the attribute — the
    alignment CLIP learns, made exact."""
    embed = latents @ projection.T
    table = {"with the attribute": embed[labels].mean(0), "without the attribute": embed[~labels].mean(0)}
    return lambda texts: torch.stack([table[t] for t in texts])


def test_text_delta_recovers_the_planted_direction(planted):
    latents, r, labels = planted
    projection, _ = torch.linalg.qr(torch.randn(24, STYLE, generator=torch.Generator().manual_seed(4)))
    embeddings = latents @ projection.T
    mapper = nn.Linear(24, STYLE, bias=True)  # the mapper: least squares from embeddings back to W
    solution = torch.linalg.lstsq(torch.cat([embeddings, torch.ones(len(latents), 1)], 1), latents).solution
    with torch.no_grad():
        mapper.weight.copy_(solution[:-1].T)
        mapper.bias.copy_(solution[-1])
    delta = text_delta(mapper, aligned_text_encoder(projection, latents, labels), tokenizer(),
                       "without the attribute", "with the attribute")
    assert cosine(delta, r) > 0.9


def test_clip_optimisation_recovers_the_planted_direction(planted):
    latents, r, _ = planted
    projection, _ = torch.linalg.qr(torch.randn(24, STYLE, generator=torch.Generator().manual_seed(5)))
    start = latents[:64]
    optimised = clip_optimisation(start, lambda w: w @ projection.T, projection @ r,
                                  ClipOptimisationConfig(steps=40, lr=0.1, l2_lambda=0.008))
    assert cosine((optimised - start).mean(0), r) > 0.9
    assert not torch.equal(optimised, start)


# ---------------------------------------------------------------------------------------------------
# the edit


def test_text_delta_is_antisymmetric():
    from toonlab.zoo.clip import TinyClipConfig, tiny_clip

    clip = tiny_clip(TinyClipConfig(), seed=0)
    encode = lambda texts: clip.model.encode_text(clip.tokenizer(list(texts))).float()
    torch.manual_seed(0)
    mapper = CSLAMapper(CSLAMapperConfig(clip_dim=32, n_latent=4, style_dim=STYLE, layers=2))
    forward = text_delta(mapper, encode, clip.tokenizer, "a cartoon avatar with no glasses", "a cartoon avatar with glasses")
    backward = text_delta(mapper, encode, clip.tokenizer, "a cartoon avatar with glasses", "a cartoon avatar with no glasses")
    assert forward.shape == (4, STYLE) and forward.abs().sum() > 0
    assert torch.equal(backward, -forward)


def test_c_zero_returns_the_original_image_exactly():
    wplus = InversionGenerator(tiny_stylegan2(), "w+", n_mean=64)
    latents, _ = wplus.sample(3, seed=7)
    direction = torch.randn(wplus.latent_shape)
    with torch.no_grad():
        original = wplus(latents)
        assert torch.equal(wplus(apply_edit(latents, direction, 0.0)), original)
        per_image = apply_edit(latents, direction, torch.tensor([0.0, 0.5, 0.0]))
        edited = wplus(per_image)
    assert torch.equal(per_image[[0, 2]], latents[[0, 2]]) and torch.equal(edited[0], original[0])
    assert not torch.equal(edited[1], original[1])
    assert torch.allclose(apply_edit(latents, direction, 0.5), latents + 0.5 * direction)


def test_match_norm_gives_every_direction_the_text_deltas_length():
    reference = torch.randn(4, STYLE)
    assert math.isclose(match_norm(torch.randn(4, STYLE), reference).norm(), reference.norm(), rel_tol=1e-5)
    per_image = match_norm(torch.randn(3, 4, STYLE), reference)
    assert torch.allclose(per_image.flatten(1).norm(dim=1), reference.norm().expand(3), rtol=1e-5)


# ---------------------------------------------------------------------------------------------------
# the optimal-c layer


def test_optimal_c_loss_matches_the_formula_on_a_hand_computed_case():
    original = torch.tensor([[1.0, 0.0], [1.0, 0.0], [0.0, 2.0]])
    edited = torch.tensor([[0.6, 0.8], [3.0, 0.0], [1.0, 0.0]])  # cosines 0.6, 1.0, 0.0
    assert torch.allclose(clip_similarity(original, edited), torch.tensor([0.6, 1.0, 0.0]))
    expected = ((0.7 - 0.6) ** 2 + (0.7 - 1.0) ** 2 + (0.7 - 0.0) ** 2) / 3  # mse(C, C_I) with C = 0.7
    assert math.isclose(float(optimal_c_loss(original, edited)), expected, rel_tol=1e-6)
    assert math.isclose(float(optimal_c_loss(original, edited, target=1.0)), (0.16 + 0 + 1) / 3, rel_tol=1e-6)


def test_optimal_c_layer_answers_inside_the_sources_range():
    config = OptimalCConfig(clip_dim=6, n_latent=3, style_dim=STYLE)
    layer = OptimalCLayer(config)
    assert sum(p.numel() for p in layer.parameters()) == config.input_dim + 1  # one Linear: a projection layer
    c = layer(torch.randn(5, 6), torch.randn(6), torch.randn(5, 3, STYLE) * 100)
    assert c.shape == (5,) and (c > 0).all() and (c < C_MAX).all()
    nn.init.zeros_(layer.project.weight)
    assert torch.allclose(layer(torch.randn(2, 6), torch.randn(6), torch.randn(2, 3, STYLE)), torch.full((2,), C_MAX / 2))


def test_line_search_picks_the_c_whose_similarity_is_nearest_the_target():
    direction = torch.tensor([[0.0, 1.0]])
    # the "image embedding" of a latent is the latent itself: similarity to [1, 0] after w + c d is cos(atan(c / a))
    start = torch.tensor([[[1.0, 0.0]], [[0.25, 0.0]]])
    grid = [0.0, 0.2, 0.4, 0.6, 0.8]
    best, similarities = line_search(start, direction, start.flatten(1), lambda w: w.flatten(1), grid)
    expected = torch.stack([torch.tensor([a / math.hypot(a, c) for c in grid]) for a in (1.0, 0.25)])
    assert torch.allclose(similarities, expected, atol=1e-6)
    assert best.tolist() == pytest.approx([0.8, 0.2])  # a = 1: 0.78 at c 0.8 is nearest 0.7; a = 0.25: 0.78 at c 0.2


class TinyClip:
    """A fixed random projection of the 8x8-pooled image as a differentiable CLIP stand-in."""

    def __init__(self, dim: int = 12, seed: int = 0) -> None:
        torch.manual_seed(seed)
        self.net = nn.Sequential(nn.AdaptiveAvgPool2d(8), nn.Flatten(), nn.Linear(192, dim)).requires_grad_(False)
        self.embed_dim = dim

    def encode_image(self, images: torch.Tensor) -> torch.Tensor:
        return self.net(images * 2 - 1)


class CrashAt(Callback):
    every = 1

    def __init__(self, step: int) -> None:
        self.step = step

    def __call__(self, trainer, step):
        if step == self.step:
            raise RuntimeError("injected crash")


def optimal_c_trainer(out, steps: int, callbacks=()):
    wplus = InversionGenerator(tiny_stylegan2(), "w+", n_mean=64)
    clip = TinyClip()
    torch.manual_seed(0)
    directions = torch.randn(2, *wplus.latent_shape)
    text_directions = torch.randn(2, clip.embed_dim)
    layer = OptimalCLayer(OptimalCConfig(clip.embed_dim, *wplus.latent_shape))
    layer.set_mean_latent(wplus.mean_latent)
    task = OptimalCTask(layer, wplus, clip, directions, text_directions, lr=1e-2)
    config = TrainConfig(steps=steps, batch_size=4, seed=0, log_every=1, checkpoint_every=2, progress=False)
    return Trainer(task, PromptLatents(1000, STYLE, 2, seed=5), config, out, callbacks=callbacks)


def test_optimal_c_training_logs_finite_losses_and_resumes_exactly_after_a_crash(tmp_path):
    straight = optimal_c_trainer(tmp_path / "straight", 6)
    result = straight.fit()
    losses = result.history.series["mse_clip_similarity"][1]
    assert len(losses) == 6 and all(math.isfinite(v) for v in losses)

    crashing = optimal_c_trainer(tmp_path / "crash", 6, callbacks=[CrashAt(5)])
    with pytest.raises(RuntimeError, match="injected crash"):
        crashing.fit()  # dies after step 5; the newest checkpoint is step 4
    resumed = optimal_c_trainer(tmp_path / "crash", 6)
    again = resumed.fit()
    assert again.resumed_from == 4
    assert again.history.series == result.history.series
    for name, value in straight.unwrap("layer").state_dict().items():
        assert torch.equal(value, resumed.unwrap("layer").state_dict()[name]), name


def test_optimal_c_task_loss_is_the_stated_formula_on_its_own_edit(tmp_path):
    trainer = optimal_c_trainer(tmp_path, 1)
    task = trainer.task
    z, prompt = torch.stack([PromptLatents(10, STYLE, 2)[i][0] for i in range(4)]), torch.tensor([0, 1, 0, 1])
    latents = task.generator.from_z(z)
    c, original, edited = task.edit(latents, prompt)
    manual = (0.7 - torch.nn.functional.cosine_similarity(original, edited, dim=-1)).pow(2).mean()
    assert torch.allclose(optimal_c_loss(original, edited), manual)
    assert ((c > 0) & (c < C_MAX)).all()


# ---------------------------------------------------------------------------------------------------
# metrics


def test_edit_success_counts_only_images_that_lacked_the_attribute():
    before = torch.tensor([False, False, True, False])
    after = torch.tensor([True, False, True, True])
    assert edit_success(before, after) == {"success": 2 / 3, "eligible": 3, "present_after": 0.75}
    assert math.isnan(edit_success(torch.tensor([True]), torch.tensor([True]))["success"])


def test_directional_clip_is_zero_for_an_unchanged_image_and_bounded():
    from toonlab.zoo.clip import TinyClipConfig, tiny_clip

    clip = tiny_clip(TinyClipConfig(), seed=0)
    images = torch.rand(3, 3, 32, 32, generator=torch.Generator().manual_seed(0))
    assert torch.equal(directional_clip(clip, images, images, "a", "b"), torch.zeros(3))
    scores = directional_clip(clip, images, images.flip(-1), "a cartoon avatar", "a cartoon avatar with glasses")
    assert ((scores >= -1) & (scores <= 1)).all()


def test_success_at_preservation_interpolates_the_sweep():
    assert success_at_preservation([0.0, 0.1, 0.3], [0.0, 0.5, 0.9], 0.2) == pytest.approx(0.7)
    assert math.isnan(success_at_preservation([0.0, 0.1], [0.0, 0.5], 0.5))


# ---------------------------------------------------------------------------------------------------
# bad input


@pytest.mark.parametrize("text", ["", "   "])
def test_an_empty_prompt_is_refused(text):
    with pytest.raises(EditInputError, match="empty prompt"):
        check_prompt(tokenizer(), text)


def test_a_prompt_longer_than_the_context_is_refused():
    with pytest.raises(EditInputError, match=r"needs \d+ tokens .* reads 77"):
        check_prompt(tokenizer(), "a cartoon avatar with round glasses " * 20)
    assert check_prompt(tokenizer(), "  a cartoon avatar with glasses ") == "a cartoon avatar with glasses"


@pytest.mark.parametrize("c", [-0.1, 0.81, 2.0, float("nan"), [0.2, 0.9]])
def test_c_outside_the_range_is_refused(c):
    with pytest.raises(EditInputError, match=r"outside \[0, 0.8\]"):
        check_strength(torch.tensor(c) if isinstance(c, list) else c)
    with pytest.raises(EditInputError, match="outside"):
        apply_edit(torch.zeros(2, 3), torch.ones(3), torch.tensor(c) if isinstance(c, list) else c)


def test_an_attribute_the_classifier_does_not_know_is_refused():
    from toonlab.metrics.toon_features import load_toon_features

    classifier = load_toon_features()
    with pytest.raises(MetricInputError, match="does not have; its heads are"):
        AttributeTest("freckles", "freckles", ("YES",)).check(classifier)
    with pytest.raises(MetricInputError, match="not classes of head 'glasses'"):
        AttributeTest("monocle", "glasses", ("MONOCLE",)).check(classifier)
    AttributeTest("glasses", "glasses", ("ROUND",)).check(classifier)


def test_an_unknown_edit_name_is_refused():
    from toonlab.chapters.editing import edit_specs

    with pytest.raises(EditInputError, match="unknown edit.*freckles.*can check"):
        edit_specs(["glasses", "freckles"], "cpu", models=None)


def test_interfacegan_needs_both_classes():
    with pytest.raises(EditInputError, match="with and without"):
        interfacegan_direction(torch.randn(10, 4), torch.ones(10, dtype=torch.bool))


def test_the_sweep_gif_goes_there_and_back_and_shows_a_still_where_it_cannot_animate(tmp_path):
    from PIL import Image

    from toonlab.chapters.editing import TEXT_DELTA, GifView, Sweep, write_gif

    strips = torch.rand(5, 3, 3, 8, 8, generator=torch.Generator().manual_seed(0))  # 5 values of c, 3 latents
    path = write_gif(Sweep([], {("glasses", TEXT_DELTA): strips}, strips[0], {}), "glasses", tmp_path / "sweep.gif",
                     images=2, size=16)
    with Image.open(path) as gif:
        assert gif.n_frames == 8 and gif.size == (32, 16)  # 0 .. 4 and back to 1: 5 + 3 frames, 2 latents wide
    bundle = GifView(path, "sweep")._repr_mimebundle_()
    assert bundle["text/html"].startswith('<img src="data:image/gif;base64,') and bundle["image/png"]
    assert [p.name for p in tmp_path.iterdir()] == ["sweep.gif"]  # written atomically, nothing left beside it


def test_optimal_c_training_moves_c_towards_the_target_similarity(tmp_path):
    """On the tiny generator an untrained layer answers c ~ 0.4, whose edits keep more CLIP similarity than
    C = 0.7: training must raise c and lower the loss."""
    result = optimal_c_trainer(tmp_path, 60).fit()
    losses = result.history.series["mse_clip_similarity"][1]
    mean_c = result.history.series["mean_c"][1]
    assert sum(losses[-20:]) < sum(losses[:20])
    assert sum(mean_c[-10:]) / 10 > sum(mean_c[:10]) / 10 + 0.05
