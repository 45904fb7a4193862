"""DreamBooth metrics (CLIP-I, CLIP-T, DINO) and the DINO builder: tiny ViT in ci, real loader, fast failure."""

from __future__ import annotations

import time

import pytest
import torch

from toonlab.metrics.dreambooth import dino_score, dino_transform, dreambooth_scores, embed_dino


@pytest.fixture(scope="module")
def tiny_dino():
    from toonlab.zoo.dino import build_dino

    return build_dino("ci", seed=0)


def test_tiny_dino_is_the_same_timm_family_with_dinos_preprocessing(tiny_dino):
    from timm.models.vision_transformer import VisionTransformer

    assert isinstance(tiny_dino, VisionTransformer) and not tiny_dino.training
    assert tiny_dino.patch_embed.patch_size == (16, 16) and tiny_dino.global_pool == "token"
    assert tiny_dino.num_classes == 0
    transform = dino_transform(tiny_dino)
    from PIL import Image

    assert transform(Image.new("RGB", (300, 200))).shape == (3, 224, 224)
    assert "seed=0" in tiny_dino.toonlab_weights


def test_dino_score_of_an_image_with_itself_is_one_and_is_seeded(tiny_dino):
    from toonlab.zoo.dino import build_dino

    generator = torch.Generator().manual_seed(0)
    images = torch.rand(2, 3, 64, 64, generator=generator)
    assert dino_score(tiny_dino, images[:1], images[:1]).mean == pytest.approx(1.0, abs=1e-5)
    pair = dino_score(tiny_dino, images[:1], images[1:])
    assert -1.0 <= pair.mean <= 1.0 and pair.n == 1
    embeddings = embed_dino(tiny_dino, images)
    assert torch.allclose(embeddings.norm(dim=1), torch.ones(2))
    assert torch.equal(embed_dino(build_dino("ci", seed=0), images), embeddings)
    assert not torch.equal(embed_dino(build_dino("ci", seed=1), images), embeddings)


def test_dreambooth_scores_report_all_three(tiny_dino):
    from toonlab.zoo.clip import tiny_clip

    generator = torch.Generator().manual_seed(1)
    generated, references = torch.rand(3, 3, 48, 48, generator=generator), torch.rand(2, 3, 48, 48, generator=generator)
    prompts = ["a picture of UnicornGirl"] * 3
    scores = dreambooth_scores(generated, references, prompts, clip=tiny_clip(seed=0), dino=tiny_dino)
    assert set(scores) == {"CLIP-I", "CLIP-T", "DINO"}
    assert scores["CLIP-I"].n == 6 and scores["DINO"].n == 6 and scores["CLIP-T"].n == 3
    assert all(-1.0 <= score.mean <= 1.0 for score in scores.values())


def test_full_dino_without_weights_fails_fast_with_instructions(tmp_path, monkeypatch):
    from toonlab.zoo.dino import DINO_HUB_ID, WEIGHTS_ENV, build_dino
    from toonlab.zoo.errors import WeightsMissingError

    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hf"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.delenv(WEIGHTS_ENV, raising=False)
    start = time.perf_counter()
    with pytest.raises(WeightsMissingError, match=DINO_HUB_ID):
        build_dino("full")
    assert time.perf_counter() - start < 5
    monkeypatch.setenv(WEIGHTS_ENV, str(tmp_path / "nothing.safetensors"))
    with pytest.raises(WeightsMissingError, match="does not name a file"):
        build_dino("gpu")


def test_full_dino_loads_a_local_weights_file_through_timm(tmp_path, monkeypatch):
    """The real loading path, fed a stand-in file with ViT-S/16 shapes (random values)."""
    import timm
    from safetensors.torch import save_file

    from toonlab.zoo.dino import DINO_MODEL, WEIGHTS_ENV, build_dino

    torch.manual_seed(3)
    stand_in = timm.create_model(DINO_MODEL, pretrained=False, num_classes=0)
    path = tmp_path / "model.safetensors"
    save_file({k: v.contiguous() for k, v in stand_in.state_dict().items()}, str(path))
    monkeypatch.setenv(WEIGHTS_ENV, str(path))
    model = build_dino("full")
    assert model.toonlab_weights == DINO_MODEL and model.embed_dim == 384
    for (name, loaded), original in zip(model.state_dict().items(), stand_in.state_dict().values()):
        assert torch.equal(loaded, original), name
