"""The memoji pipeline: one seed gives the same pixels, every variant changes what it should, bad photos
(grey, transparent, tiny, no face) are handled, a folder batch survives a kill without duplicates or gaps,
and a missing ControlNet offline says what to download."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from PIL import Image

from toonlab.diffusion.lora import LoRASpec, add_lora, base_signature, save_lora
from toonlab.diffusion.memoji import (MemojiError, MemojiPipeline, MemojiSettings, canny_edges, load_batch,
                                      memoji_batch, memoji_prompt, prepare_photo, read_photos, verify_batch)
from toonlab.zoo.diffusion import tiny_sd_pipeline, tiny_sdxl_controlnet, tiny_sdxl_pipeline

SETTINGS = MemojiSettings(size=32, steps=3, strength=0.75, refine_strength=0.75)  # 2 DDIM steps per pass


def _photo(seed: int = 0, size: int = 48) -> Image.Image:
    rng = np.random.default_rng(seed)
    array = np.zeros((size, size, 3), np.uint8)
    array[size // 4: 3 * size // 4, size // 4: 3 * size // 4] = rng.integers(100, 255, 3)  # a square: edges
    return Image.fromarray(array + rng.integers(0, 20, array.shape, dtype=np.uint8))


@pytest.fixture(scope="module")
def lora_file(tmp_path_factory):
    pipe = tiny_sdxl_pipeline()
    signature = base_signature(pipe, "tiny sdxl")
    add_lora(pipe, LoRASpec(rank=4))
    with torch.no_grad():
        for name, parameter in pipe.unet.named_parameters():
            if "lora_B" in name:  # a LoRA that does something (B starts at zero)
                parameter.normal_(std=0.05, generator=torch.Generator().manual_seed(0))
    return save_lora(tmp_path_factory.mktemp("lora") / "memoji.safetensors", pipe, signature)


@pytest.fixture(scope="module")
def memoji(lora_file):
    return MemojiPipeline(tiny_sdxl_pipeline(), tiny_sdxl_controlnet(), lora_file, base_name="tiny sdxl")


def _pixels(image: Image.Image) -> np.ndarray:
    return np.asarray(image, dtype=np.float64)


def test_one_seed_gives_the_same_memoji_and_the_refine_pass_upscales(memoji):
    prompt = memoji_prompt("female", "smiling", True)
    first, second = memoji.generate(_photo(), prompt, SETTINGS), memoji.generate(_photo(), prompt, SETTINGS)
    assert np.array_equal(_pixels(first.final), _pixels(second.final))
    assert first.final.size == (48, 48) and first.first.size == (32, 32)  # 1.5x
    assert set(first.seconds) == {"canny", "pass1", "refine"}
    other_seed = memoji.generate(_photo(), prompt, SETTINGS.with_(seed=1))
    assert not np.array_equal(_pixels(other_seed.final), _pixels(first.final))


@pytest.mark.parametrize("change", [{"lora": False}, {"controlnet": False}, {"controlnet_weight": 0.3},
                                    {"canny_low": 5, "canny_high": 20}, {"strength": 0.34}])
def test_every_variant_changes_pass_one(memoji, change):
    reference = memoji.generate(_photo(), "emoji, male, Neutral", SETTINGS.with_(refine=False))
    varied = memoji.generate(_photo(), "emoji, male, Neutral", SETTINGS.with_(refine=False, **change))
    assert np.abs(_pixels(varied.final) - _pixels(reference.final)).max() > 0


def test_canny_uses_the_thresholds():
    photo = Image.fromarray(np.asarray(_photo(size=64)))
    loose, strict = np.asarray(canny_edges(photo, 5, 20)), np.asarray(canny_edges(photo, 70, 230))
    assert loose.shape == (64, 64, 3) and set(np.unique(loose)) <= {0, 255}
    assert (loose > 0).sum() > (strict > 0).sum() > 0
    with pytest.raises(MemojiError, match="low <= high"):
        canny_edges(photo, 200, 100)


def test_grey_transparent_and_tiny_photos(memoji):
    rgb = _photo()
    grey = rgb.convert("L")
    assert prepare_photo(grey, 32).mode == "RGB"
    rgba = Image.new("RGBA", (40, 30), (0, 0, 255, 0))  # transparent: composited on white, centre-cropped
    prepared = prepare_photo(rgba, 32)
    assert prepared.size == (32, 32) and np.asarray(prepared).min() == 255
    sixteen_bit = Image.fromarray(np.asarray(grey, dtype=np.uint16) * 256)  # 16-bit grey (mode I;16)
    assert prepare_photo(sixteen_bit, 32).mode == "RGB"
    assert memoji.generate(grey, "emoji, male, Neutral", SETTINGS).final.size == (48, 48)
    with pytest.raises(MemojiError, match="at least 16 px"):
        prepare_photo(Image.new("RGB", (8, 40)), 32)
    with pytest.raises(MemojiError, match="PIL image"):
        prepare_photo(np.zeros((32, 32, 3)), 32)


def test_bad_settings_and_prompts_are_named(memoji):
    with pytest.raises(MemojiError, match="expression"):
        memoji_prompt("male", "happy", False)
    with pytest.raises(MemojiError, match="prompt is empty"):
        memoji.generate(_photo(), " ", SETTINGS)
    with pytest.raises(MemojiError, match="multiple of 4"):
        memoji.generate(_photo(), "emoji", SETTINGS.with_(size=30))
    with pytest.raises(MemojiError, match="no denoising step"):
        MemojiSettings(steps=2, strength=0.3)
    no_lora = MemojiPipeline(tiny_sdxl_pipeline(), None)
    with pytest.raises(MemojiError, match="without one; pass lora"):
        no_lora.generate(_photo(), "emoji", SETTINGS.with_(controlnet=False))
    with pytest.raises(MemojiError, match="uses ControlNet but the pipeline was built without one"):
        no_lora.generate(_photo(), "emoji", SETTINGS.with_(lora=False))
    with pytest.raises(MemojiError, match="needs an SDXL base"):
        MemojiPipeline(tiny_sd_pipeline())


def test_a_lora_for_another_base_is_refused(lora_file):
    from toonlab.diffusion.lora import LoRABaseMismatchError
    from toonlab.zoo.diffusion import TinySDConfig

    with pytest.raises(LoRABaseMismatchError, match="tiny sdxl.*but the pipeline is"):
        MemojiPipeline(tiny_sdxl_pipeline(TinySDConfig(unet_channels=(16, 32))), None, lora_file)


def _folder(tmp_path, n=3):
    folder = tmp_path / "photos"
    folder.mkdir()
    for i in range(n):
        image = _photo(i)
        (image.convert("L") if i == 1 else image).save(folder / f"p{i}.png")
    (folder / "notes.txt").write_text("not a photo")
    return folder


def test_batch_resumes_after_a_kill_without_duplicates_or_gaps(memoji, tmp_path):
    photos = read_photos(_folder(tmp_path))
    prompts = ["emoji, male, smiling", "emoji, female, Angry", "emoji, male, Neutral, glasses"]
    straight = memoji_batch(memoji, photos, prompts, SETTINGS, tmp_path / "straight", model="tiny", progress=False)
    assert (straight.generated, straight.reused) == (3, 0)

    def kill_after_first(name):
        raise KeyboardInterrupt(f"killed after {name}")

    with pytest.raises(KeyboardInterrupt):
        memoji_batch(memoji, photos, prompts, SETTINGS, tmp_path / "killed", model="tiny", progress=False,
                     on_item=kill_after_first)
    # a kill between a photo's PNGs and its record leaves an orphan PNG: it is redone, not trusted
    (tmp_path / "killed" / "memoji" / "p1.png").write_bytes(b"half-written")
    resumed = memoji_batch(memoji, photos, prompts, SETTINGS, tmp_path / "killed", model="tiny", progress=False)
    assert (resumed.generated, resumed.reused) == (2, 1)
    for kind in ("memoji", "pass1", "edges"):
        for a, b in zip(load_batch(straight.folder, kind), load_batch(resumed.folder, kind)):
            assert np.array_equal(_pixels(a), _pixels(b))
    manifest = (resumed.folder / "manifest.csv").read_text().splitlines()
    assert len(manifest) == 4 and sorted(line.split(",")[0] for line in manifest[1:]) == ["p0", "p1", "p2"]
    again = memoji_batch(memoji, photos, prompts, SETTINGS, tmp_path / "killed", model="tiny", progress=False)
    assert again.generated == 0


def test_batch_refuses_another_job_and_detects_changed_files(memoji, tmp_path):
    photos = read_photos(_folder(tmp_path, 2))
    prompts = ["emoji, male, smiling", "emoji, female, Angry"]
    report = memoji_batch(memoji, photos, prompts, SETTINGS, tmp_path / "out", model="tiny", progress=False)
    with pytest.raises(MemojiError, match="another memoji job.*settings"):
        memoji_batch(memoji, photos, prompts, SETTINGS.with_(seed=3), tmp_path / "out", model="tiny", progress=False)
    (report.folder / "memoji" / "p0.png").write_bytes(b"changed")
    with pytest.raises(MemojiError, match="p0: memoji PNG missing or changed"):
        verify_batch(report.folder)
    with pytest.raises(MemojiError, match="2 photos but 1 prompts"):
        memoji_batch(memoji, photos, prompts[:1], SETTINGS, tmp_path / "x", model="tiny", progress=False)
    record = json.loads((report.folder / "records" / "p1.json").read_text())
    assert record["seed"] == SETTINGS.seed and set(record["seconds"]) == {"canny", "pass1", "refine"}


def test_no_photos_or_unreadable_photos_are_named(tmp_path):
    with pytest.raises(MemojiError, match="no photos"):
        read_photos(tmp_path)
    (tmp_path / "broken.png").write_bytes(b"not a png")
    with pytest.raises(MemojiError, match="broken.png is not a readable image"):
        read_photos(tmp_path)


def test_a_missing_controlnet_offline_says_what_to_download(monkeypatch, tmp_path):
    from toonlab import zoo

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path))
    for profile in ("gpu", "full"):
        with pytest.raises(zoo.WeightsMissingError, match="huggingface-cli download diffusers/controlnet-canny-sdxl-1.0"):
            zoo.load("controlnet_canny_sdxl", profile)


# ---------------------------------------------------------------------------------------------------
# the real-size cost estimate (random weights, one stage at a time)


def test_sdxl_configs_build_sdxl_base_and_its_canny_controlnet():
    from accelerate import init_empty_weights

    from toonlab.zoo.diffusion import SDXLParts

    parts = SDXLParts(real=True)
    with init_empty_weights():  # counted on the meta device: nothing allocated
        unet, controlnet, vae = parts.unet(), parts.controlnet(), parts.vae()
        te1, te2 = parts.text_encoders()

    def count(module):
        return sum(p.numel() for p in module.parameters())

    # SDXL base 1.0's UNet, VAE and text encoders; controlnet-canny-sdxl-1.0 is ControlNetModel.from_unet of it
    assert count(unet) == 2_567_463_684 and count(vae) == 83_653_863
    assert count(te1) == 123_060_480 and count(te2) == 694_659_840
    assert count(controlnet) == 1_251_014_160
    assert controlnet.config.conditioning_embedding_out_channels == (16, 32, 96, 256)


def test_the_largest_side_that_fits_is_chosen_from_the_memory_available():
    from toonlab.diffusion import memoji_cost
    from toonlab.zoo.diffusion import SDXLParts

    parts = SDXLParts(real=True)
    need = {side: memoji_cost.needed_bytes(parts, side) for side in memoji_cost.SIDES}
    assert need[1024] > need[768] > need[512] > 9.5 * 2**30  # the fp32 UNet alone is 9.6 GiB
    margin = memoji_cost.MEMORY_MARGIN
    assert memoji_cost.largest_fitting_side(parts, available=int(need[1024] / margin) + 1) == 1024
    assert memoji_cost.largest_fitting_side(parts, available=int(need[768] / margin) + 1) == 768
    assert memoji_cost.largest_fitting_side(parts, available=int(need[512] / margin) - 1) is None


def test_stage_costs_time_every_stage_and_the_estimate_scales_the_steps():
    from toonlab.diffusion import memoji_cost
    from toonlab.zoo.diffusion import SDXLParts

    seen = []
    rows = memoji_cost.stage_costs(SDXLParts(real=False), 64, report=seen.append)
    table, totals = memoji_cost.estimate(rows, steps=50, strength=0.75, refine_strength=0.3)
    stages = {row["stage"]: row for row in table}
    assert len(seen) == len(table) == 8
    assert stages["VAE decode (refine side)"]["side (px)"] == 96 == stages["UNet, one step (refine side)"]["side (px)"]
    assert stages["ControlNet, one step (pass-1 side)"]["calls per memoji"] == 37  # int(50 x 0.75)
    assert stages["UNet with ControlNet residuals, one step (pass-1 side)"]["calls per memoji"] == 37
    assert stages["UNet, one step (refine side)"]["calls per memoji"] == 15  # int(50 x 0.3)
    assert stages["text encode (both encoders)"]["calls per memoji"] == 2
    assert all(row["timed call (s)"] > 0 and row["weights (MiB)"] > 0 for row in table)
    assert totals["s per memoji (estimate)"] == pytest.approx(
        sum(row["calls per memoji"] * row["timed call (s)"] for row in table))
    assert totals["all weights resident (MiB)"] == pytest.approx(sum(
        stages[name]["weights (MiB)"] for name in ("text encode (both encoders)", "VAE encode (pass-1 side)",
                                                   "ControlNet, one step (pass-1 side)",
                                                   "UNet, one step (refine side)")))
