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

from conftest import FailAt
from toonlab.editing.directions import (C_MAX, ClipOptimisationConfig, EditInputError, apply_edit, check_prompt,
                                        check_strength, clip_optimisation, cosine, fixed_distance,
                                        ganspace_component_for, ganspace_direction_for, ganspace_directions,
                                        interfacegan_direction, match_norm, name_components, set_length, text_delta,
                                        w_spread)
from toonlab.editing.embeddings import NormalisedClip
from toonlab.editing.optimal_c import (OptimalCConfig, OptimalCLayer, clip_similarity, edit_similarity, line_search,
                                      optimal_c_loss, similarity_embedding)
from toonlab.gan.sampling import sample_latents
from toonlab.gan.stylegan2 import StyleGAN2Config, StyleGAN2Generator
from toonlab.inversion.generator import InversionGenerator
from toonlab.inversion.mappers import CSLAMapper, CSLAMapperConfig
from toonlab.metrics.checks import MetricInputError
from toonlab.metrics.editing import AttributeTest, directional_clip, edit_success, success_at_preservation
from toonlab.train.editing_tasks import (STREAM_SPAN, STREAMS, OptimalCTask, PromptLatents, mapper_recovery,
                                         stream_latents, stream_seed)
from toonlab.train.inversion_tasks import SeededLatents
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


def test_ganspace_picks_the_component_that_moves_the_attribute_most_not_the_first_so_named():
    names = [("glasses", 0.1), ("smiling", 0.5), ("glasses", -0.7), ("glasses", 0.3)]
    assert ganspace_component_for(names, "glasses") == 2
    components = ganspace_directions(torch.randn(50, STYLE, generator=torch.Generator().manual_seed(0)), 4)
    assert torch.equal(ganspace_direction_for(components, names, "glasses"), -components.directions[2])
    with pytest.raises(EditInputError, match="no GANSpace component"):
        ganspace_component_for(names, "bald")


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
    with pytest.raises(EditInputError, match="both"):  # the same text twice (after stripping): a zero delta
        text_delta(mapper, encode, clip.tokenizer, "a cartoon avatar", " a cartoon avatar ")


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


def test_match_norm_per_image_gives_each_image_its_own_references_length():
    references = torch.randn(3, 4, STYLE) * torch.tensor([0.5, 2.0, 7.0]).view(3, 1, 1)
    directions = torch.randn(3, 4, STYLE)
    matched = match_norm(directions, references, per_image=True)
    assert torch.allclose(matched.flatten(1).norm(dim=1), references.flatten(1).norm(dim=1), rtol=1e-5)
    for i in range(3):  # orientation kept, image by image
        assert cosine(matched[i], directions[i]) > 1 - 1e-6
    with pytest.raises(EditInputError, match="one shape"):
        match_norm(directions, references[0], per_image=True)


def test_fixed_distance_is_k_sigma_w_per_row_whatever_the_finders_length():
    w = torch.randn(5000, STYLE, generator=torch.Generator().manual_seed(0)) * 3.0
    sigma = w_spread(w)
    assert math.isclose(sigma, 3.0, rel_tol=0.05)  # RMS per-dimension std of N(0, 9)
    rows = 4
    for scale in (1e-6, 1.0, 1e3):  # a near-dead mapper's delta ends at the same length as a long one
        d = fixed_distance(torch.randn(rows, STYLE) * scale, rows, sigma, k=4.0)
        assert math.isclose(float(d.norm()), 4.0 * sigma * math.sqrt(rows), rel_tol=1e-5)
    per_image = fixed_distance(torch.randn(3, rows, STYLE) * torch.tensor([1e-3, 1.0, 9.0]).view(3, 1, 1), rows, sigma,
                               k=2.0, per_image=True)
    assert torch.allclose(per_image.flatten(1).norm(dim=1), torch.full((3,), 2.0 * sigma * math.sqrt(rows)), rtol=1e-5)
    broadcast = fixed_distance(torch.randn(STYLE).expand(rows, -1), rows, sigma, k=1.0)
    assert torch.allclose(broadcast.norm(dim=1), torch.full((rows,), sigma), rtol=1e-5)  # k sigma_W on every row
    assert torch.equal(set_length(torch.zeros(rows, STYLE), 5.0), torch.zeros(rows, STYLE))
    with pytest.raises(EditInputError, match="positive"):
        fixed_distance(torch.ones(rows, STYLE), rows, sigma, k=0.0)


def test_normalised_clip_gives_text_and_image_embeddings_one_length():
    class Raw:
        name, embed_dim, tokenizer = "raw", 6, "tok"

        def encode_image(self, images):
            return images.flatten(1)[:, :6] * 10.0

        def encode_text(self, texts):
            return torch.stack([torch.arange(1.0, 7.0) * (i + 1) * 0.01 for i in range(len(texts))])

    raw, view = Raw(), NormalisedClip(Raw(), 3.5)
    images = torch.rand(4, 3, 2, 2) + 0.1
    image, text = view.encode_image(images), view.encode_text(["a", "b"])
    assert torch.allclose(image.norm(dim=-1), torch.full((4,), 3.5)) and torch.allclose(text.norm(dim=-1), torch.full((2,), 3.5))
    assert cosine(image[0], raw.encode_image(images)[0]) > 1 - 1e-6  # direction kept, length replaced
    assert view.embed_dim == 6 and view.tokenizer == "tok" and "3.5" in view.name
    with pytest.raises(ValueError, match="positive"):
        NormalisedClip(raw, 0.0)


def test_the_chapters_seed_streams_are_disjoint():
    """Item i of a single-latent stream uses seed base + i, a batch stream one seed: no two may meet (the
    test latents were once item 3000 of the mapper's training stream)."""
    seed, n, dim = 7, 100_000, 512  # 512-d z as in the chapter (torch.randn draws short tensors differently)
    blocks = {stream: range(stream_seed(seed, stream), stream_seed(seed, stream) + n) for stream in STREAMS}
    for a in STREAMS:
        for b in STREAMS:
            if a != b:
                assert not set(blocks[a]) & {blocks[b].start}  # no stream's first seed inside another's block
                assert blocks[a].stop <= blocks[b].start or blocks[b].stop <= blocks[a].start
    test_z = sample_latents(16, dim, stream_seed(seed, "test"))
    training = stream_latents(n, dim, seed, "mapper training")
    previous_overlap = SeededLatents(n, dim, seed + 2000)[3000]  # the old layout's collision
    assert torch.equal(previous_overlap, sample_latents(16, dim, seed + 5000)[0])
    for i in (0, 1, 3000, n - 1):
        assert not (training[i] == test_z).all(1).any()
    assert not (PromptLatents(n, dim, 2, seed)[3000][0] == test_z).all(1).any()
    with pytest.raises(ValueError, match="overrun"):
        stream_latents(STREAM_SPAN, dim, seed, "test")
    with pytest.raises(ValueError, match="unknown latent stream"):
        stream_seed(seed, "elsewhere")


def test_a_mapper_that_answers_the_mean_latent_has_recovery_ratio_one():
    wplus = InversionGenerator(tiny_stylegan2(), "w+", n_mean=64)

    class Clip:
        def encode_image(self, images):
            return images.flatten(1)[:, :4]

    mean_only = lambda e: wplus.mean_latent.expand(len(e), *wplus.latent_shape)
    assert math.isclose(mapper_recovery(mean_only, wplus, Clip(), n=16, seed=0)["recovery ratio (MSE / mean-latent MSE)"],
                        1.0, rel_tol=1e-6)
    oracle_latents, _ = wplus.sample(16, stream_seed(0, "mapper recovery"))
    oracle = lambda e: oracle_latents  # knows the held-out latents: ratio 0
    assert mapper_recovery(oracle, wplus, Clip(), n=16, seed=0)["latent MSE"] == 0.0


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
    torch.manual_seed(0)
    layer = OptimalCLayer(config)
    assert sum(p.numel() for p in layer.parameters()) == config.input_dim + 1  # one Linear: a projection layer
    c = layer(torch.randn(5, 6), torch.randn(6), torch.randn(5, 3, STYLE) * 100)
    # large inputs saturate the sigmoid: in float32 c may reach the bounds themselves, never pass them
    assert c.shape == (5,) and (c >= 0).all() and (c <= C_MAX).all()
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

    crashing = optimal_c_trainer(tmp_path / "crash", 6, callbacks=[FailAt(5, RuntimeError("injected crash"))])
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
    with torch.no_grad():  # the edit rebuilt from its definition, X' = G(w + c * dW_p), not from task.edit
        rebuilt = latents + c.detach().view(-1, 1, 1) * task.directions[prompt]
        # C_I's one rule: the rendered image, mapped to [0, 1] and clamped
        expected_edited = task.clip.encode_image(((task.generator(rebuilt) + 1) / 2).clamp(0, 1))
        expected_original = task.clip.encode_image(((task.generator(latents) + 1) / 2).clamp(0, 1))
    assert torch.allclose(edited.detach(), expected_edited, atol=1e-5)
    assert torch.allclose(original, expected_original, atol=1e-5)
    manual = (0.7 - torch.nn.functional.cosine_similarity(expected_original, expected_edited, dim=-1)).pow(2).mean()
    assert torch.allclose(optimal_c_loss(original, edited), manual, atol=1e-6)
    assert ((c > 0) & (c < C_MAX)).all()


def test_clip_i_is_one_rule_in_training_the_line_search_and_the_reported_column(tmp_path):
    """A generator whose output runs far outside [-1, 1], so clamping changes C_I: the training edit, the
    line search and the chapter's "CLIP-I to original" must give the same number, the clamped one."""
    task = optimal_c_trainer(tmp_path, 1).task
    wplus = task.generator
    loud = lambda w: 4 * wplus(w)  # saturates most pixels once mapped to [0, 1]
    task.generator = loud
    z, prompt = torch.stack([PromptLatents(10, STYLE, 2)[i][0] for i in range(4)]), torch.tensor([0, 1, 0, 1])
    latents = wplus.from_z(z)
    c, original, edited = task.edit(latents, prompt)
    training = clip_similarity(original, edited.detach())
    with torch.no_grad():
        direction, c = task.directions[prompt], c.detach()
        reported = edit_similarity(task.clip, loud, latents, direction, c, similarity_embedding(task.clip, loud, latents),
                                   chunk=3)  # chunked: the same number
        shown = lambda w: task.clip.encode_image(((loud(w) + 1) / 2).clamp(0, 1))  # the rendered, shown image
        by_hand = clip_similarity(shown(latents), shown(latents + c.view(-1, 1, 1) * direction))
        unclamped = lambda w: task.clip.encode_image((loud(w) + 1) / 2)
        other_rule = clip_similarity(unclamped(latents), unclamped(latents + c.view(-1, 1, 1) * direction))
        _, searched = line_search(latents, direction[0], shown(latents), lambda w: similarity_embedding(task.clip, loud, w),
                                  [0.0, 0.5])
        at_half = edit_similarity(task.clip, loud, latents, direction[0], 0.5, shown(latents))
    assert torch.allclose(training, reported, atol=1e-5) and torch.allclose(training, by_hand, atol=1e-5)
    assert not torch.allclose(training, other_rule, atol=1e-3)  # the hand case does tell the rules apart
    assert torch.allclose(searched[:, 1], at_half, atol=1e-5)


def test_the_optimal_c_run_is_keyed_on_the_mapper_runs_identity_not_on_its_values(tmp_path):
    from types import SimpleNamespace

    from toonlab.chapters.editing import Directions, EditSpec, TrainSettings, optimal_c_key
    from toonlab.train.editing_tasks import run_identity

    def mapper_run(folder: str, step: int):
        return run_identity(SimpleNamespace(trainer=SimpleNamespace(out_dir=tmp_path / folder), result=SimpleNamespace(step=step)))

    def key(run: str, delta: torch.Tensor):
        directions = Directions({("glasses", "text delta (CSLA mapper)"): delta}, {}, {}, {}, {}, sigma_w=0.5,
                                distance_k=4.0, mapper_run=run)
        return optimal_c_key("tiny-32-0", "tiny CLIP", directions, [EditSpec("glasses", "no glasses", "glasses")],
                             TrainSettings(csla_steps=6, optimal_c_steps=6, batch_size=4), seed=0)

    delta = torch.ones(4, STYLE)
    same = key(mapper_run("csla-aaaa", 6), delta)
    assert same == key(mapper_run("csla-aaaa", 6), delta.clone())
    assert same != key(mapper_run("csla-bbbb", 6), delta)  # another mapper (other settings: another folder)
    assert same != key(mapper_run("csla-aaaa", 12), delta)  # the same run trained further
    # two mappers whose deltas share a float sum (what the key used to hash) still get two keys
    flipped = torch.ones(4, STYLE)
    flipped[0, 0] = -1.0
    assert delta.abs().sum() == flipped.abs().sum()
    assert key(mapper_run("csla-aaaa", 6), delta) != key(mapper_run("csla-cccc", 6), flipped)


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


def test_directional_clip_matches_a_hand_computed_case_and_its_sign(monkeypatch):
    import toonlab.metrics.clip_score as clip_score

    originals, edited = torch.zeros(1, 3, 4, 4), torch.ones(1, 3, 4, 4)
    # original embedding (1, 0), edit (1, 1)/sqrt 2; source text (1, 0), target (0, 1): image change
    # (1/sqrt2 - 1, 1/sqrt2), text change (-1, 1): cosine (1 - 1/sqrt2 + 1/sqrt2) / (|image change| sqrt 2)
    r = 2 ** -0.5
    monkeypatch.setattr(clip_score, "embed_images",
                        lambda clip, images: torch.tensor([[r, r]]) if images.mean() > 0.5 else torch.tensor([[1.0, 0.0]]))
    monkeypatch.setattr(clip_score, "embed_texts",
                        lambda clip, texts: torch.tensor([[1.0, 0.0] if t == "src" else [0.0, 1.0] for t in texts]))
    expected = 1 / (math.hypot(r - 1, r) * math.sqrt(2))
    assert float(directional_clip(None, originals, edited, "src", "trg")[0]) == pytest.approx(expected)  # 0.9239
    assert float(directional_clip(None, originals, edited, "trg", "src")[0]) == pytest.approx(-expected)
    assert float(directional_clip(None, edited, originals, "src", "trg")[0]) == pytest.approx(-expected)


def test_success_at_preservation_interpolates_the_sweep():
    assert success_at_preservation([0.0, 0.1, 0.3], [0.0, 0.5, 0.9], 0.2) == pytest.approx(0.7)
    assert math.isnan(success_at_preservation([0.0, 0.1], [0.0, 0.5], 0.5))


def test_success_at_preservation_reads_the_upper_envelope_of_a_curve_that_dips():
    # success 0.6 at LPIPS 0.1, then a dip to 0.2 at 0.2: with a budget of 0.2 the best global c still gives 0.6
    assert success_at_preservation([0.0, 0.1, 0.2, 0.4], [0.0, 0.6, 0.2, 1.0], 0.2) == pytest.approx(0.6)
    assert success_at_preservation([0.0, 0.1, 0.2, 0.4], [0.0, 0.6, 0.2, 1.0], 0.3) == pytest.approx(0.8)


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


def test_a_prompt_that_toonclips_vocabulary_maps_entirely_to_unk_is_refused():
    from toonlab.features.toonclip import ToonTokenizer, corpus_bpe_ids

    toon = ToonTokenizer(corpus_bpe_ids(["a cartoon avatar with glasses"]), context_length=32)
    assert check_prompt(toon, "a cartoon avatar with glasses") == "a cartoon avatar with glasses"
    assert check_prompt(toon, "a cartoon avatar with zebra stripes")  # partly known: it still encodes the known words
    with pytest.raises(EditInputError, match=r"'zebra stripes'.*every token is <unk>.*ToonCLIP"):
        check_prompt(toon, "zebra stripes")
    with pytest.raises(EditInputError, match="<unk>"):  # the same refusal before any delta is taken
        text_delta(nn.Identity(), lambda texts: torch.randn(len(texts), 4), toon, "a cartoon avatar", "zebra stripes")
    assert check_prompt(tokenizer(), "zebra stripes") == "zebra stripes"  # open_clip's full BPE knows every word


def test_an_edit_whose_target_is_its_source_prompt_is_refused_when_the_edits_are_listed():
    from types import SimpleNamespace

    from toonlab.chapters.editing import CELEBRITYLOOK_SOURCE, edit_specs

    models = SimpleNamespace(clip=SimpleNamespace(tokenizer=tokenizer()), classifier=None)
    assert [s.target for s in edit_specs(["man with glasses"], "full", models)] == ["man with glasses"]
    with pytest.raises(EditInputError, match=f"both {CELEBRITYLOOK_SOURCE!r}"):  # in full the source is 'a face'
        edit_specs([f" {CELEBRITYLOOK_SOURCE} "], "full", models)


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


# ---------------------------------------------------------------------------------------------------
# the chapter's figures, citations, timing and memory


def test_the_reference_view_lists_the_curves_the_gif_still_the_grid_and_every_edits_strip():
    import json
    from pathlib import Path

    from toonlab.chapters.editing import avatar_edits, reference_figures, strip_name

    names = reference_figures(["man with glasses"])
    assert names[:3] == ["success_vs_preservation", "sweep_gif_still", "method_prompt_grid"]
    assert strip_name("man with glasses") in names and strip_name("long hair") == "sweep_strip_long_hair"
    assert all(strip_name(edit) in names for edit in avatar_edits())  # the reference runs (cpu/gpu) edit avatars
    cells = json.loads((Path(__file__).parents[1] / "notebooks" / "06_editing.ipynb").read_text())["cells"]
    code = "\n".join("".join(c["source"]) for c in cells if c["cell_type"] == "code")
    # the notebook saves under the names the reference view asks for
    assert "figures=chapter.reference_figures(params.edits)" in code
    for saved in ('"success_vs_preservation"', '"sweep_gif_still"', '"method_prompt_grid"', "chapter.strip_name(spec.name)"):
        assert f"run.figure({saved}" in code, saved


def test_strip_grid_and_gif_still_figures_carry_the_runs_label():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from toonlab.chapters.editing import METHODS, TEXT_DELTA, EditSpec, Sweep, gif_still_figure, grid_figure, strip_figure

    strips = {("glasses", m): torch.rand(3, 2, 3, 8, 8) for m in METHODS}
    result = Sweep([], strips, torch.rand(2, 3, 8, 8), {})
    label = "ci (smoke) · tiny random StyleGAN2"
    for fig in (strip_figure(result, "glasses", [0.0, 0.4, 0.8], title=label),
                grid_figure(result, [EditSpec("glasses", "a", "b")], title=label),
                gif_still_figure(result, "glasses", [0.0, 0.4, 0.8], images=2, method=TEXT_DELTA, title=label)):
        assert label in fig._suptitle.get_text()
        plt.close(fig)


def test_the_reported_table_cites_a_source_for_every_row_and_table_1_for_the_timings():
    from toonlab.chapters.editing import reported_table

    table = reported_table()
    assert table["cited from"].str.len().gt(0).all() and table["variant"].str.len().gt(0).all()
    timings = table[table["metric"] == "seconds per edit"]
    assert sorted(timings["reported by source"]) == [0.075, 98.0]
    assert timings["cited from"].str.contains("Patashnik et al. 2021").all() and timings["cited from"].str.contains("Table 1").all()
    assert set(timings["variant"]) == {"latent optimisation", "latent mapper"}
    quoted = table[table["metric"] != "seconds per edit"]
    assert quoted["cited from"].str.contains("as quoted in issue 15").all()  # no invented table numbers


def test_the_clock_synchronises_cuda_only(monkeypatch):
    from toonlab.chapters.editing import clock

    calls = []
    monkeypatch.setattr(torch.cuda, "synchronize", lambda device=None: calls.append(str(device)))
    clock("cpu")
    clock(torch.device("cpu"))
    assert calls == []
    clock("cuda:0")
    assert calls == ["cuda:0"]


def test_boundary_labels_in_chunks_equal_the_labels_of_all_images_at_once(monkeypatch):
    import toonlab.chapters.editing as chapter
    from toonlab.gan.sampling import sample_latents

    generator = chapter.LoadedGenerator(tiny_stylegan2(), "tiny", "tiny")
    # a per-image judge (like the toon classifier and CLIP zero-shot): the image's mean brightness
    monkeypatch.setattr(chapter, "labels_of", lambda spec, models, images: images.mean(dim=(1, 2, 3)) > 0.5)
    specs = [chapter.EditSpec("bright", "dark", "bright")]
    w = generator.w.from_z(sample_latents(10, STYLE, 7))
    assert torch.equal(w, generator.w.sample(10, 7)[0])  # the latents find_directions used to draw with their images
    whole = chapter.label_latents(generator, None, specs, w, chunk=100)["bright"]
    chunked = chapter.label_latents(generator, None, specs, w, chunk=3)["bright"]
    assert torch.equal(whole, chunked)
    _, images = generator.w.sample(10, 7)
    assert torch.equal(whole, images.mean(dim=(1, 2, 3)) > 0.5)
    with pytest.raises(ValueError, match="chunk"):
        chapter.label_latents(generator, None, specs, w, chunk=0)


def test_the_sweep_keeps_downsampled_strips_of_the_gif_latents_only():
    from toonlab.chapters.editing import strip_frames

    edited = torch.rand(6, 3, 16, 16)
    kept = strip_frames(edited, keep=2, max_px=8)
    assert kept.shape == (2, 3, 8, 8)
    assert torch.allclose(kept, torch.nn.functional.avg_pool2d(edited[:2], 2), atol=1e-6)  # area downsampling
    assert torch.equal(strip_frames(edited, keep=4, max_px=32), edited[:4])  # small images: kept as they are
