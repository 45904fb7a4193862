"""ToonCLIP: vocabulary, forward pass, masked InfoNCE, seeded resumable training, sha-checked loading,
zoo resolution per profile, and the committed weights."""

from __future__ import annotations

import json

import pytest
import torch

from toonlab.features.toonclip import (
    PAD,
    SOT,
    UNK,
    ToonClipConfig,
    ToonClipError,
    ToonTokenizer,
    build_toonclip,
    contrastive_loss,
    corpus_bpe_ids,
    false_negatives,
    load_toonclip,
)

TINY_MODEL = {"embed_dim": 16, "image_size": 16, "patch_size": 8, "vision_width": 16, "vision_layers": 1,
              "vision_head_width": 8, "text_width": 16, "text_heads": 2, "text_layers": 1, "context_length": 16}


def tiny_tokenizer() -> ToonTokenizer:
    return ToonTokenizer(corpus_bpe_ids(["a cartoon avatar with glasses", "no glasses"]), context_length=12)


def test_vocabulary_keeps_the_corpus_and_maps_other_words_to_unk():
    tokenizer = tiny_tokenizer()
    tokens = tokenizer(["a cartoon avatar with glasses", "a cartoon zebra"])
    assert tokens.shape == (2, 12) and tokens[:, 0].tolist() == [SOT, SOT]
    assert tokenizer.eot == tokenizer.vocab_size - 1, "<end> must be the largest id (open_clip pools at argmax)"
    known = tokens[0, 1:6]
    assert (known > UNK).all() and tokens[0, 6] == tokenizer.eot and (tokens[0, 7:] == PAD).all()
    assert UNK in tokens[1].tolist() and tokenizer.unknown_fraction(["a cartoon zebra"]) > 0
    assert tokenizer.unknown_fraction(["no glasses with a cartoon avatar"]) == 0
    long = tokenizer(" ".join(["glasses"] * 40))
    assert long[0, -1] == tokenizer.eot, "a truncated caption still ends with <end>"
    with pytest.raises(ToonClipError, match="empty"):
        ToonTokenizer([], 12)


def test_prompts_are_in_the_committed_vocabulary():
    from toonlab.data.captions import COARSE_PHRASES, FINE_SLOTS, prompts
    from toonlab.features.toonclip import load_committed
    from toonlab.metrics.toonclip_eval import ZERO_SHOT_HEADS

    tokenizer = load_committed().tokenizer  # the vocabulary the committed weights were trained with
    values = {**{slot: sorted(set(table.values())) for slot, table in FINE_SLOTS.items()},
              **{slot: sorted(table) for slot, table in COARSE_PHRASES.items()}}
    texts = [p for slot, _ in ZERO_SHOT_HEADS.values() for value in values[slot] for p in prompts(slot, value)]
    assert len(texts) > 100 and tokenizer.unknown_fraction(texts) == 0


def test_every_caption_word_is_in_the_vocabulary():
    from toonlab.data.captions import avatar_caption, caption_corpus, emoji_caption
    from toonlab.data.sources.avatars import draw_attributes

    emoji = {"name": "smiling cat face", "category": "Animals & Nature", "skin_tone": "medium",
             "keywords": ["smiley cat"]}
    tokenizer = ToonTokenizer(corpus_bpe_ids(caption_corpus([emoji])), 48)
    texts = [avatar_caption(draw_attributes(0, i), 0, i, v).text for i in range(60) for v in range(8)]
    texts += [emoji_caption(emoji, 0, 0, v).text for v in range(20)]
    assert tokenizer.unknown_fraction(texts) == 0
    assert max(len(tokenizer.bpe.encode(t)) for t in texts) + 2 <= 48, "captions must fit the context"


def test_tiny_toonclip_forward():
    tokenizer = tiny_tokenizer()
    config = ToonClipConfig(**TINY_MODEL, bpe_ids=tokenizer.bpe_ids)
    torch.manual_seed(0)
    model = build_toonclip(config)
    assert model.token_embedding.num_embeddings == tokenizer.vocab_size == config.vocab_size
    images, tokens = torch.rand(3, 3, 16, 16), tokenizer(["a cartoon avatar", "no glasses", "glasses"], 16)
    image_features, text_features, scale = model(images, tokens)
    assert image_features.shape == text_features.shape == (3, 16) and scale.item() == pytest.approx(1 / 0.07, rel=1e-4)
    assert json.loads(json.dumps(config.to_dict())) == config.to_dict()
    assert ToonClipConfig.from_dict(config.to_dict()) == config
    with pytest.raises(ToonClipError, match="unknown fields"):
        ToonClipConfig.from_dict({**config.to_dict(), "wings": 2})


def test_loss_is_clip_loss_and_masked_pairs_are_not_negatives():
    from open_clip.loss import ClipLoss

    torch.manual_seed(0)
    a, b, scale = torch.randn(5, 8), torch.randn(5, 8), torch.tensor(10.0)
    na, nb = torch.nn.functional.normalize(a, dim=-1), torch.nn.functional.normalize(b, dim=-1)
    assert contrastive_loss(a, b, scale).item() == pytest.approx(ClipLoss()(na, nb, scale).item(), rel=1e-5)
    # the false-negative mask from integer-coded facts: -1 = caption says nothing
    captions = torch.tensor([[0, 1], [0, -1], [1, -1]])
    images = torch.tensor([[0, 1], [0, 2], [1, -2]])
    assert false_negatives(captions, images).tolist() == [[True, True, False], [False, True, False],
                                                          [False, False, True]]


def test_mask_removes_exactly_the_flagged_logits():
    torch.manual_seed(1)
    a, b, scale = torch.randn(4, 6), torch.randn(4, 6), torch.tensor(5.0)
    same = torch.zeros(4, 4, dtype=torch.bool)
    same[2, 3] = True
    logits = scale * torch.nn.functional.normalize(a, dim=-1) @ torch.nn.functional.normalize(b, dim=-1).T
    keep_row = [j for j in range(4) if j != 3]
    keep_col = [i for i in range(4) if i != 2]
    image_to_text = [torch.nn.functional.cross_entropy(logits[i, keep_row if i == 2 else slice(None)][None],
                                                       torch.tensor([keep_row.index(i) if i == 2 else i]))
                     for i in range(4)]
    text_to_image = [torch.nn.functional.cross_entropy(logits[keep_col if j == 3 else slice(None), j][None],
                                                       torch.tensor([keep_col.index(j) if j == 3 else j]))
                     for j in range(4)]
    expected = 0.5 * (torch.stack(image_to_text).mean() + torch.stack(text_to_image).mean())
    assert contrastive_loss(a, b, scale, same).item() == pytest.approx(expected.item(), rel=1e-5)
    same[1, 1] = True  # the diagonal is always the positive
    assert torch.isfinite(contrastive_loss(a, b, scale, same))


# ---------------------------------------------------------------------------------------------------
# training: seeded, resumable after a kill, writes fp16 weights + record; loading checks the sha256


def tiny_training(**overrides):
    from toonlab.metrics.train_toonclip import ToonClipTrainingConfig

    values = dict(steps=4, batch_size=8, warmup_steps=1, avatars_train=12, avatars_heldout=8, emoji=False,
                  variants=2, checkpoint_every=2, model=dict(TINY_MODEL, context_length=48))
    values.update(overrides)
    return ToonClipTrainingConfig(**values)


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    from toonlab.metrics.train_toonclip import train

    folder = tmp_path_factory.mktemp("toonclip")
    record = train(tiny_training(), folder / "w.safetensors", folder / "w.json", folder / "work", progress=False)
    return folder, record


def test_training_writes_small_fp16_weights_and_a_record(trained):
    folder, record = trained
    assert record["sha256"] and record["bytes"] == (folder / "w.safetensors").stat().st_size
    training = record["training"]
    assert training["cpu_time_s"] >= 0 and training["wall_time_s"] >= 0 and len(training["sessions"]) == 1
    assert training["device"] == "cpu"  # the accelerator's device, not a constant
    assert not list(folder.glob("*.new")), "no temporary weights or record are left behind"
    loaded = load_toonclip(folder / "w.safetensors", record["sha256"])
    assert next(loaded.model.parameters()).dtype == torch.float32 and not any(
        p.requires_grad for p in loaded.model.parameters())
    from safetensors import safe_open

    with safe_open(str(folder / "w.safetensors"), "pt") as handle:
        assert all(handle.get_tensor(k).dtype == torch.float16 for k in handle.keys())
    heldout = record["heldout"]
    assert heldout["retrieval"]["avatars"]["pairs"] == 8
    for entry in heldout["zero_shot"].values():
        assert 0 <= entry["accuracy"] <= 1 and 0 < entry["chance (majority class)"] <= 1


def test_two_step_training_is_deterministic(tmp_path):
    from toonlab.metrics.train_toonclip import train

    config = tiny_training(steps=2)
    one = train(config, tmp_path / "a.safetensors", tmp_path / "a.json", tmp_path / "a", False, evaluate=False)
    two = train(config, tmp_path / "b.safetensors", tmp_path / "b.json", tmp_path / "b", False, evaluate=False)
    assert one["sha256"] == two["sha256"], "the same seed must give the same weights"
    other = train(tiny_training(steps=2, seed=1), tmp_path / "c.safetensors", tmp_path / "c.json", tmp_path / "c",
                  False, evaluate=False)
    assert other["sha256"] != one["sha256"]


def test_a_killed_run_resumes_to_the_same_weights(trained, tmp_path, monkeypatch):
    from toonlab.metrics import train_toonclip

    folder, record = trained
    original = train_toonclip.ToonClipTask.train_step

    def dies_at_step_3(self, batch, step, accelerator):
        if step == 3:
            raise KeyboardInterrupt("killed")
        return original(self, batch, step, accelerator)

    monkeypatch.setattr(train_toonclip.ToonClipTask, "train_step", dies_at_step_3)
    with pytest.raises(KeyboardInterrupt):
        train_toonclip.train(tiny_training(), tmp_path / "w.safetensors", tmp_path / "w.json", tmp_path / "work",
                             progress=False, evaluate=False)
    assert not (tmp_path / "w.safetensors").exists(), "a killed run writes no weights"
    monkeypatch.setattr(train_toonclip.ToonClipTask, "train_step", original)
    resumed = train_toonclip.train(tiny_training(), tmp_path / "w.safetensors", tmp_path / "w.json",
                                   tmp_path / "work", progress=False, evaluate=False)
    assert resumed["training"]["resumed_from_step"] == 2
    assert resumed["sha256"] == record["sha256"], "resuming after a kill must give the uninterrupted weights"
    sessions = resumed["training"]["sessions"]
    assert len(sessions) == 2, "the killed session's time (to its last checkpoint) is counted too"
    assert resumed["training"]["cpu_time_s"] == pytest.approx(sum(x["cpu_s"] for x in sessions), abs=0.2)


def test_a_failed_evaluation_leaves_the_committed_pair_untouched(tmp_path, monkeypatch):
    from toonlab.metrics import toonclip_eval, train_toonclip

    weights, record = tmp_path / "toonclip.safetensors", tmp_path / "toonclip.json"
    weights.write_bytes(b"old weights")
    record.write_text('{"sha256": "old"}')

    def broken(*args, **kwargs):
        raise RuntimeError("evaluation failed")

    monkeypatch.setattr(toonclip_eval, "evaluate_heldout", broken)
    with pytest.raises(RuntimeError, match="evaluation failed"):
        train_toonclip.train(tiny_training(steps=2), weights, record, tmp_path / "work", progress=False)
    assert weights.read_bytes() == b"old weights" and record.read_text() == '{"sha256": "old"}'
    assert sorted(p.name for p in tmp_path.iterdir()) == ["toonclip.json", "toonclip.safetensors", "work"]


def test_emoji_are_held_out_by_base_emoji_with_all_their_tones():
    from toonlab.metrics.train_toonclip import emoji_base, emoji_record, heldout_emoji_bases

    waving = [{"unified": "1f44b"}, *({"unified": f"1f44b-{tone}"} for tone in ("1f3fb", "1f3fd", "1f3ff"))]
    assert {emoji_base(a) for a in waving} == {"1f44b"}
    assert emoji_base({"unified": "1f469-1f3fe-200d-1f52c"}) == "1f469-200d-1f52c"
    bases = [f"{i:05x}" for i in range(40) for _ in range(3)]  # 40 emoji, 3 tones each
    held = heldout_emoji_bases(bases, 0.1, seed=0)
    assert len(held) == 4 and held == heldout_emoji_bases(list(reversed(bases)), 0.1, seed=0)
    assert held != heldout_emoji_bases(bases, 0.1, seed=1)
    with pytest.raises(ValueError, match="unified"):
        emoji_base({"name": "waving hand"})
    record = emoji_record({"name": "waving hand", "short_name": "wave", "skin_tone": "1f3fd",
                           "unified": "1f44b-1f3fd"})
    assert record == {"name": "waving hand", "skin_tone": "medium", "keywords": ["wave"]}, "no category"


def test_changed_or_missing_weights_are_refused_naming_the_file(trained, tmp_path):
    folder, record = trained
    tampered = tmp_path / "toonclip.safetensors"
    data = bytearray((folder / "w.safetensors").read_bytes())
    data[-1] ^= 0xFF
    tampered.write_bytes(bytes(data))
    with pytest.raises(ToonClipError, match=r"toonclip\.safetensors has sha256 .* registry"):
        load_toonclip(tampered, record["sha256"])
    with pytest.raises(ToonClipError, match="missing"):
        load_toonclip(tmp_path / "none.safetensors", record["sha256"])


def test_committed_toonclip_is_refused_when_the_registry_sha_differs(repo, monkeypatch):
    from toonlab.data import registry
    from toonlab.features.toonclip import load_committed

    real = registry.weights_spec("toonclip")
    monkeypatch.setattr(registry, "weights_spec",
                        lambda name, root=None: registry.WeightsSpec(name, real.file, "0" * 64, real.command))
    with pytest.raises(ToonClipError, match=r"has sha256 .*registry.*says 0000.*"
                                            r"git checkout -- data/weights/toonclip\.safetensors"):
        load_committed()


# ---------------------------------------------------------------------------------------------------
# registry and zoo


def test_registry_holds_the_sha256_of_committed_weights(repo):
    from toonlab.data.errors import DataSourceError
    from toonlab.data.registry import load_registry, weights_spec
    from toonlab.data.manifest import sha256_file

    for name in ("toon_features", "toonclip"):
        spec = weights_spec(name)
        assert spec.file.is_file() and sha256_file(spec.file) == spec.sha256, name
        record = json.loads(spec.file.with_suffix(".json").read_text())
        assert record["sha256"] == spec.sha256, f"{name}: record and registry disagree"
    assert "weights" not in load_registry(), "the weights section is not a data source"
    with pytest.raises(DataSourceError, match="no weights entry 'vgg'"):
        weights_spec("vgg")


def test_zoo_resolves_clip_per_profile():
    from toonlab import zoo
    from toonlab.params import PROFILES

    assert "gpu" in zoo.OFFLINE_PROFILES and "ci" not in zoo.OFFLINE_PROFILES and "full" not in zoo.OFFLINE_PROFILES
    assert set(zoo.OFFLINE_PROFILES) <= {"cpu", "gpu"} and set(zoo.OFFLINE_PROFILES) <= set(PROFILES)
    for profile in zoo.OFFLINE_PROFILES:
        for role in ("clip", "clip_b32"):
            assert zoo.describe(role, profile).startswith("ToonCLIP (trained here on avatars/emoji)")
    assert "tiny random" in zoo.describe("clip", "ci")
    assert zoo.describe("clip", "full").startswith("open_clip ViT-L-14")
    assert "ToonCLIP" not in zoo.describe("sd15", "gpu")


def test_offline_clip_is_the_committed_toonclip_and_clip_scores_accept_it():
    from toonlab import zoo
    from toonlab.metrics.clip_score import clip_i, clip_t

    bundle = zoo.load("clip", zoo.OFFLINE_PROFILES[0])
    assert bundle.name.startswith("ToonCLIP (trained here on avatars/emoji)") and bundle.image_size == 64
    images = torch.rand(2, 3, 40, 40)
    score = clip_t(bundle, images, ["a cartoon avatar with glasses", "a cartoon avatar with no glasses"])
    assert score.n == 2 and -1 <= score.mean <= 1
    assert clip_i(bundle, images, images[:1]).n == 2


def test_committed_toonclip_is_small_and_its_record_has_the_heldout_scores(repo):
    from toonlab.features.toonclip import load_committed
    from toonlab.metrics.toonclip_eval import retrieval_table, zero_shot_table

    weights = repo / "data/weights/toonclip.safetensors"
    assert weights.stat().st_size <= 10 * 2**20
    loaded = load_committed()  # checks the sha256 against the registry
    assert loaded.config.image_size == 64
    table = zero_shot_table()
    assert {"ToonCLIP zero-shot", "chance (majority class)", "toon classifier (supervised)", "usable"} <= set(table)
    assert len(table) == 10
    retrieval = retrieval_table()
    avatars = retrieval[retrieval["pairs"].str.startswith("avatars")]
    assert (avatars["chance R@1"] == 0.001).all() and len(avatars) == 2
    # the bars: retrieval at least 10x chance; the glasses and hair-length heads above chance
    assert (avatars["R@1"] >= 10 * avatars["chance R@1"]).all()
    heads = table.set_index("head")
    for head in ("glasses (with / without)", "hair length (long / short / hat / bald)"):
        assert heads.loc[head, "ToonCLIP zero-shot"] > heads.loc[head, "chance (majority class)"] + 0.05, head


def test_committed_toonclip_reproduces_its_recorded_retrieval(repo):
    from toonlab import data
    from toonlab.data.captions import avatar_caption
    from toonlab.features.toonclip import load_committed
    from toonlab.metrics.toonclip_eval import encode_images, encode_texts, retrieval, retrieval_examples_figure

    loaded = load_committed()
    record = json.loads((repo / "data/weights/toonclip.json").read_text())
    seed = record["training"]["seed"] + 1
    heldout = data.load_images("avatars", 64, limit=1000, seed=seed, progress=False)
    images = torch.stack([heldout.uint8(i) for i in range(len(heldout))])
    captions = [avatar_caption(a, seed, i, 0).text for i, a in enumerate(heldout.attributes)]
    scores = retrieval(encode_images(loaded.model, images), encode_texts(loaded.model, loaded.tokenizer, captions),
                       captions)
    recorded = record["heldout"]["retrieval"]["avatars"]
    for key in ("image->text R@1", "text->image R@1", "image->text R@5"):
        assert scores[key] == pytest.approx(recorded[key], abs=0.01), key
    figure = retrieval_examples_figure(loaded, images[:50], captions[:50], [0, 1], k=3)
    assert len(figure.axes) == 6


def test_retrieval_recall_matches_a_brute_force_count():
    from toonlab.metrics.toonclip_eval import retrieval

    torch.manual_seed(0)
    images = torch.nn.functional.normalize(torch.randn(30, 8), dim=-1)
    texts = torch.nn.functional.normalize(images + 0.8 * torch.randn(30, 8), dim=-1)
    captions = [f"caption {i}" for i in range(30)]
    captions[7] = captions[3]  # two avatars with one caption: either image is a hit for it
    scores = retrieval(images, texts, captions)
    similarity = images @ texts.T
    for name, matrix in (("image->text", similarity), ("text->image", similarity.T)):
        for k in (1, 5):
            hits = sum(any(captions[j] == captions[i] for j in matrix[i].argsort(descending=True)[:k].tolist())
                       for i in range(30))
            assert scores[f"{name} R@{k}"] == pytest.approx(hits / 30, abs=1e-4)
    assert scores["chance R@1"] == pytest.approx(1 / 30, abs=1e-4) and scores["distinct captions"] == 29
    perfect = retrieval(images, images, [f"c{i}" for i in range(30)])
    assert perfect["image->text R@1"] == perfect["text->image R@1"] == 1.0
    with pytest.raises(ValueError, match="pair them"):
        retrieval(images, texts[:5], captions)


class _TextHashModel:
    """A stand-in text tower: each text gets a fixed random unit vector (from its sha256)."""

    def encode_text(self, texts):
        import hashlib

        rows = []
        for text in texts:
            seed = int.from_bytes(hashlib.sha256(text.encode()).digest()[:4], "little")
            rows.append(torch.randn(64, generator=torch.Generator().manual_seed(seed)))
        return torch.stack(rows)


def test_zero_shot_scores_by_phrase_for_toonclip_and_the_classifier():
    """SUNGLASSES and SUNGLASSES_2 read "sunglasses": one class, predictable, for both columns."""
    from toonlab.data.captions import GLASSES, avatar_facts, fact_value, prompts
    from toonlab.data.sources.avatars import draw_attributes
    from toonlab.metrics.toonclip_eval import classifier_accuracy, encode_texts, zero_shot

    model, tokenizer = _TextHashModel(), (lambda texts: texts)
    names = sorted(GLASSES)
    facts = [avatar_facts({**draw_attributes(0, i), "glasses": name}) for i, name in enumerate(names)]
    # a perfect image tower: each image embeds exactly as its value's averaged prompts
    images = torch.stack([torch.nn.functional.normalize(
        encode_texts(model, tokenizer, prompts("glasses", f["glasses"])).mean(0), dim=0) for f in facts])
    entry = zero_shot(model, tokenizer, images, facts, "glasses")
    distinct = len({fact_value("glasses", name) for name in names})
    assert entry["classes"] == distinct < len(names), "identical prompts must be one class"
    assert entry["accuracy"] == 1.0, "every class, SUNGLASSES_2 included, must be predictable"
    truth = [f["glasses"] for f in facts]
    assert classifier_accuracy("glasses", names, truth) == 1.0
    swapped = ["SUNGLASSES_2" if n == "SUNGLASSES" else "SUNGLASSES" if n == "SUNGLASSES_2" else n for n in names]
    assert classifier_accuracy("glasses", swapped, truth) == 1.0, "the twin value is the same phrase: right"
    wrong = ["ROUND" if n == "SUNGLASSES" else n for n in names]
    assert classifier_accuracy("glasses", wrong, truth) == pytest.approx((len(names) - 1) / len(names))
    assert classifier_accuracy("glasses_kind", ["SUNGLASSES_2"], ["glasses"]) == 1.0
