"""Toon features: the network, the multi-task loss, seeded training that resumes, the sha256-checked
committed weights, FD-toon labelling and attribute accuracy."""

from __future__ import annotations

import json
import shutil

import pytest
import torch
import torch.nn.functional as F

from toonlab.metrics.checks import MetricInputError
from toonlab.metrics.toon_features import (
    EMOJI_HEAD,
    IGNORE,
    RECORD_FILE,
    WEIGHTS_FILE,
    ToonConfig,
    ToonFeaturesError,
    ToonNet,
    attribute_accuracy,
    load_toon_features,
    predict,
    read_record,
    toon_extractor,
)
from toonlab.metrics.train_toon_features import ToonTrainingConfig, multitask_loss, train

HEADS = {"shape": ["circle", "square"], "colour": ["red", "green", "blue"]}


def tiny_net(seed: int = 0) -> ToonNet:
    torch.manual_seed(seed)
    return ToonNet(ToonConfig(resolution=32, channels=(8, 16), heads=HEADS)).eval()


def test_network_resizes_any_input_and_returns_features_and_logits():
    net = tiny_net()
    for size in (32, 20, 77):
        features = net(torch.rand(3, 3, size, size))
        assert features.shape == (3, 16)
    logits = net.logits(torch.rand(2, 3, 32, 32))
    assert {k: v.shape for k, v in logits.items()} == {"shape": (2, 2), "colour": (2, 3)}
    config = ToonConfig.from_dict(json.loads(json.dumps(net.config.to_dict())))
    assert config == net.config
    with pytest.raises(ValueError, match="at least one label space"):
        ToonNet(ToonConfig(heads={}))
    incomplete = {k: v for k, v in net.config.to_dict().items() if k != "channels"}
    with pytest.raises(ToonFeaturesError, match="channels"):
        ToonConfig.from_dict(incomplete)


def test_multitask_loss_uses_only_the_heads_that_apply():
    torch.manual_seed(0)
    logits = {"shape": torch.randn(4, 2), "colour": torch.randn(4, 3)}
    targets = torch.tensor([[0, IGNORE], [1, IGNORE], [IGNORE, 2], [IGNORE, 0]])
    expected = (F.cross_entropy(logits["shape"][:2], targets[:2, 0])
                + F.cross_entropy(logits["colour"][2:], targets[2:, 1]))
    assert multitask_loss(logits, targets, ["shape", "colour"]).item() == pytest.approx(expected.item())
    only_shape = targets.clone()
    only_shape[:, 1] = IGNORE
    assert multitask_loss(logits, only_shape, ["shape", "colour"]).item() == pytest.approx(
        F.cross_entropy(logits["shape"][:2], targets[:2, 0]).item())


def test_extractor_is_labelled_fd_toon_and_feeds_the_distance():
    from toonlab.metrics.fid import distribution_distance

    extractor = toon_extractor(tiny_net())
    assert extractor.distance_name == "FD-toon" and extractor.kid_name == "KID-toon"
    assert "this book" in extractor.comparable_to
    generator = torch.Generator().manual_seed(0)
    result = distribution_distance(torch.rand(20, 3, 40, 40, generator=generator),
                                   torch.rand(20, 3, 40, 40, generator=generator), extractor, progress=False)
    assert result.distance_name == "FD-toon" and result.value > 0 and "FID" not in result.describe()


def test_attribute_accuracy_checks_its_targets():
    net = tiny_net()
    images = torch.rand(4, 3, 32, 32)
    predicted = predict(net, images)
    assert set(predicted) == set(HEADS) and all(len(v) == 4 for v in predicted.values())
    accuracy = attribute_accuracy(net, images, {"colour": predicted["colour"]})
    assert accuracy == {"colour": 1.0}
    flipped = ["circle" if p == "square" else "square" for p in predicted["shape"]]
    assert attribute_accuracy(net, images, {"shape": flipped}) == {"shape": 0.0}
    with pytest.raises(MetricInputError, match="unknown head"):
        attribute_accuracy(net, images, {"hat": ["x"] * 4})
    with pytest.raises(MetricInputError, match="one per image"):
        attribute_accuracy(net, images, {"colour": ["red"]})
    with pytest.raises(MetricInputError, match="not classes"):
        attribute_accuracy(net, images, {"colour": ["purple"] * 4})
    with pytest.raises(MetricInputError, match=r"\[0, 1\]"):
        predict(net, images * 3)


# ---------------------------------------------------------------------------------------------------
# training: seeded, resumable, writes weights + record; loading checks the sha256


TINY = ToonTrainingConfig(steps=4, batch_size=8, warmup_steps=2, channels=(8, 16), avatars_train=24,
                          avatars_heldout=8)


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    folder = tmp_path_factory.mktemp("toon")
    record = train(TINY, folder / "w.safetensors", folder / "w.json", folder / "work", progress=False)
    return folder, record


def test_training_writes_weights_and_a_matching_record(trained):
    folder, record = trained
    assert record["sha256"] and record["bytes"] == (folder / "w.safetensors").stat().st_size
    assert EMOJI_HEAD in record["heldout_accuracy"] and "mouth" in record["heldout_accuracy"]
    for entry in record["heldout_accuracy"].values():
        assert 0.0 <= entry["accuracy"] <= 1.0 and entry["images"] > 0
    model = load_toon_features(folder / "w.safetensors", folder / "w.json")
    assert model.config.channels == (8, 16) and not any(p.requires_grad for p in model.parameters())
    assert model.toonlab_weights.startswith("toon_features sha256:")


def test_training_is_deterministic_and_resumes(trained, tmp_path):
    folder, record = trained
    again = train(TINY, tmp_path / "w.safetensors", tmp_path / "w.json", tmp_path / "work", progress=False)
    assert again["sha256"] == record["sha256"], "a fixed seed must give the same weights"
    # a finished run resumes at its last step and changes nothing
    shutil.copytree(folder / "work", tmp_path / "resume")
    resumed = train(TINY, tmp_path / "r.safetensors", tmp_path / "r.json", tmp_path / "resume", progress=False)
    assert resumed["training"]["resumed_from_step"] == TINY.steps and resumed["sha256"] == record["sha256"]


def test_changed_or_missing_weights_are_refused(trained, tmp_path):
    folder, _ = trained
    tampered = tmp_path / "w.safetensors"
    data = bytearray((folder / "w.safetensors").read_bytes())
    data[-1] ^= 0xFF
    tampered.write_bytes(bytes(data))
    with pytest.raises(ToonFeaturesError, match="sha256"):
        load_toon_features(tampered, folder / "w.json")
    with pytest.raises(ToonFeaturesError, match="missing"):
        load_toon_features(tmp_path / "none.safetensors", folder / "w.json")
    with pytest.raises(ToonFeaturesError, match="missing"):
        read_record(tmp_path / "none.json")


# ---------------------------------------------------------------------------------------------------
# the committed network


def test_committed_weights_are_small_verified_and_better_than_chance(repo):
    weights, record = repo / WEIGHTS_FILE, read_record(repo / RECORD_FILE)
    assert weights.stat().st_size <= 5 * 2**20 and record["bytes"] == weights.stat().st_size
    model = load_toon_features()  # checks the sha256
    accuracy = record["heldout_accuracy"]
    assert set(accuracy) == set(model.config.heads)
    for head in (EMOJI_HEAD, "mouth", "glasses", "skin"):
        assert accuracy[head]["accuracy"] > accuracy[head]["chance (majority class)"] + 0.1, head


def test_committed_network_reads_held_out_avatars(repo):
    from toonlab import data

    avatars = data.load_images("avatars", 64, limit=16, seed=1, progress=False)
    model = load_toon_features()
    skins = [a["skin"] for a in avatars.attributes]
    accuracy = attribute_accuracy(model, avatars.tensors(), {"skin": skins})["skin"]
    assert accuracy >= 0.5  # 7 skin tones: chance is ~0.14


def test_heldout_table_flags_heads_near_chance(tmp_path):
    import json

    from toonlab.metrics.toon_features import heldout_table

    record = tmp_path / "record.json"
    record.write_text(json.dumps({"heldout_accuracy": {
        "skin": {"accuracy": 0.97, "chance (majority class)": 0.15, "images": 600},
        "eyebrows": {"accuracy": 0.078, "chance (majority class)": 0.07, "images": 600}}}))
    table = heldout_table(record)
    assert dict(zip(table["head"], table["usable"])) == {"eyebrows": False, "skin": True}
    committed = heldout_table()  # the record that ships with the repository
    assert len(committed) >= 10 and committed["usable"].any()
