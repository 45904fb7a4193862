"""The model zoo: tiny stand-ins build and run; missing pretrained weights fail at once, clearly."""

from __future__ import annotations

import time

import pytest
import torch

from toonlab import zoo
from toonlab.zoo import hub


def test_tiny_clip_encodes_images_and_real_tokens():
    clip = zoo.load("clip", "ci", seed=0)
    from PIL import Image

    image = clip.preprocess(Image.new("RGB", (50, 40), (200, 30, 30))).unsqueeze(0)
    tokens = clip.tokenizer(["funko pop figure of Alan Turing in a white background"])
    assert image.shape == (1, 3, clip.image_size, clip.image_size) and tokens.shape == (1, 77)
    assert tokens[0, 0].item() == 49406  # <start_of_text> from open_clip's real BPE
    with torch.no_grad():
        img_emb, txt_emb = clip.model.encode_image(image), clip.model.encode_text(tokens)
    assert img_emb.shape == txt_emb.shape == (1, clip.embed_dim) and torch.isfinite(img_emb).all()
    # a fixed seed gives the same random model
    again = zoo.load("clip", "ci", seed=0)
    assert torch.equal(next(again.model.parameters()), next(clip.model.parameters()))


def test_clip_tokenizer_derived_from_open_clip_bpe_matches_open_clip():
    from open_clip.tokenizer import SimpleTokenizer

    from toonlab.zoo.tokenizer import clip_tokenizer

    hf, oc = clip_tokenizer(), SimpleTokenizer()
    for text in ["a cartoon of girl in a blue unicorn onesie, short pink hair and bangs", "emoji, male, smiling, glasses",
                 "Ünïcödé and 😀 — punctuation!?"]:
        ours = hf(text).input_ids
        theirs = oc(text)[0].tolist()
        assert ours == theirs[: theirs.index(49407) + 1]
    assert len(hf) == 49408


@pytest.mark.parametrize("role", ["sd15", "sdxl"])
def test_tiny_diffusion_pipelines_generate_deterministically(role):
    pipe = zoo.load(role, "ci", seed=0)
    assert pipe.tokenizer.model_max_length == 77 and len(pipe.tokenizer) == 49408

    def generate():
        return pipe("funko pop figure of a cat", num_inference_steps=2, height=64, width=64, output_type="np",
                    generator=torch.Generator().manual_seed(0)).images

    images = generate()
    assert images.shape == (1, 64, 64, 3) and 0 <= images.min() and images.max() <= 1
    assert (generate() == images).all()


def test_describe_labels_the_profile():
    assert "tiny random" in zoo.describe("clip", "ci") and "ViT-L-14" in zoo.describe("clip", "ci")
    assert zoo.describe("clip", "full").startswith("open_clip ViT-L-14 laion2b_s32b_b82k")
    with pytest.raises(KeyError, match="unknown model role 'clap'"):
        zoo.describe("clap", "ci")
    with pytest.raises(ValueError, match="unknown profile"):
        zoo.load("clip", "colab")


@pytest.mark.parametrize("role", ["clip", "sd15", "sdxl"])
def test_missing_weights_offline_fail_at_once_with_instructions(role, tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "empty-cache"))
    monkeypatch.setattr("huggingface_hub.constants.HF_HUB_CACHE", str(tmp_path / "empty-cache"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    start = time.perf_counter()
    with pytest.raises(zoo.WeightsMissingError) as error:
        zoo.load(role, "full")
    assert time.perf_counter() - start < 10
    message = str(error.value)
    assert "huggingface-cli download" in message and "HF_HUB_OFFLINE is set" in message
    assert "profile='ci'" in message


def test_unreachable_hub_is_detected_without_hanging(tmp_path, monkeypatch):
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.setattr("huggingface_hub.constants.HF_HUB_CACHE", str(tmp_path / "empty-cache"))
    monkeypatch.setattr(hub, "reachable", lambda *a, **k: False)  # as on the offline build machines
    with pytest.raises(zoo.WeightsMissingError, match="unreachable"):
        hub.hf_snapshot("laion/CLIP-ViT-L-14-laion2B-s32B-b82K", what="CLIP")
    # the probe itself answers quickly for a closed port
    start = time.perf_counter()
    assert hub.reachable("127.0.0.1", port=9, timeout=1.0) is False
    assert time.perf_counter() - start < 3


def test_cached_snapshot_is_used_without_network(tmp_path, monkeypatch):
    """A populated cache is found with local_files_only: no probe, no download."""
    from huggingface_hub import constants

    cache = tmp_path / "hub"
    repo = cache / "models--org--tiny"
    snapshot = repo / "snapshots" / ("a" * 40)
    snapshot.mkdir(parents=True)
    (snapshot / "config.json").write_text("{}")
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text("a" * 40)
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(cache))
    monkeypatch.setattr(hub, "reachable", lambda *a, **k: pytest.fail("must not probe the network"))
    found = hub.hf_snapshot("org/tiny")
    assert found.resolve() == snapshot.resolve()


def test_url_file_missing_offline(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(zoo.WeightsMissingError, match="place it at"):
        hub.url_file("https://example.org/w.pth", tmp_path / "w.pth", what="Inception")
    (tmp_path / "w.pth").write_bytes(b"x")
    assert hub.url_file("https://example.org/w.pth", tmp_path / "w.pth") == tmp_path / "w.pth"


def test_hub_patterns_fetch_only_what_a_pipeline_loads():
    """SD 1.5's repository listing: the diffusers components stay, the single-file checkpoints, fp16/EMA
    variants and the safety checker (tens of GB) are left on the hub."""
    from huggingface_hub.utils import filter_repo_objects

    from toonlab.zoo.diffusion import SD_FILES, SDXL_FILES

    listing = ["model_index.json", "v1-5-pruned.safetensors", "v1-5-pruned-emaonly.safetensors", "v1-5-pruned.ckpt",
               "scheduler/scheduler_config.json", "tokenizer/vocab.json", "tokenizer/merges.txt",
               "feature_extractor/preprocessor_config.json", "safety_checker/config.json",
               "safety_checker/model.safetensors", "text_encoder/config.json", "text_encoder/model.safetensors",
               "text_encoder/model.fp16.safetensors", "unet/config.json", "unet/diffusion_pytorch_model.safetensors",
               "unet/diffusion_pytorch_model.fp16.safetensors", "unet/diffusion_pytorch_model.non_ema.safetensors",
               "vae/config.json", "vae/diffusion_pytorch_model.safetensors", "text_encoder_2/model.safetensors"]
    kept = set(filter_repo_objects(listing, allow_patterns=SD_FILES))
    assert kept == {"model_index.json", "scheduler/scheduler_config.json", "tokenizer/vocab.json",
                    "tokenizer/merges.txt", "feature_extractor/preprocessor_config.json", "text_encoder/config.json",
                    "text_encoder/model.safetensors", "unet/config.json", "unet/diffusion_pytorch_model.safetensors",
                    "vae/config.json", "vae/diffusion_pytorch_model.safetensors"}
    assert "text_encoder_2/model.safetensors" in set(filter_repo_objects(listing, allow_patterns=SDXL_FILES))


def test_offline_fix_names_the_files_to_download(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr("huggingface_hub.constants.HF_HUB_CACHE", str(tmp_path / "empty-cache"))
    with pytest.raises(zoo.WeightsMissingError, match=r"--include 'unet/config\.json'"):
        hub.hf_snapshot("org/sd", allow_patterns=["unet/config.json"], what="SD")
