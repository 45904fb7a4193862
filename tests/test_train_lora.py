"""The SD/SDXL LoRA trainer: files that diffusers' ``load_lora_weights`` reads, the kohya export both ways,
SDXL micro-conditioning, exact resume after a kill, and LoRA files for the wrong base refused."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image
from safetensors import safe_open

from toonlab.diffusion.lora import LoRABaseMismatchError, LoRASpec, export_kohya, load_lora
from toonlab.train import Callback, TrainConfig
from toonlab.train.lora import CaptionedImages, LoRATrainConfig, learning_rate_factor, train_lora
from toonlab.zoo.diffusion import TinySDConfig, tiny_sd_pipeline, tiny_sdxl_pipeline

MAKERS = {"sdxl": tiny_sdxl_pipeline, "sd": tiny_sd_pipeline}


def _images(n: int = 4, size: tuple[int, int] = (80, 64)) -> list[Image.Image]:
    rng = np.random.default_rng(0)
    return [Image.fromarray(rng.integers(0, 255, (size[1], size[0], 3), dtype=np.uint8)) for _ in range(n)]


def _train(kind, out, steps=4, callbacks=(), alpha=8.0):
    data = CaptionedImages(_images(), ["emoji, smiling", "emoji, Angry", "emoji, Neutral", "emoji, Sad face"], 64)
    config = LoRATrainConfig(lora=LoRASpec(rank=4, alpha=alpha), resolution=64, learning_rate=1e-2)
    train = TrainConfig(steps=steps, batch_size=2, seed=0, checkpoint_every=2, log_every=2, progress=False)
    return train_lora(MAKERS[kind](), data, config, train, out, base_name=f"tiny {kind}", callbacks=callbacks)


def _render(pipe) -> np.ndarray:
    return pipe("emoji, smiling", num_inference_steps=2, generator=torch.Generator().manual_seed(0),
                output_type="np").images


@pytest.fixture(scope="module", params=["sdxl", "sd"])
def trained(request, tmp_path_factory):
    return request.param, _train(request.param, tmp_path_factory.mktemp(f"lora-{request.param}"))


def test_the_lora_loads_with_diffusers_and_the_kohya_export_gives_the_same_pixels(trained, tmp_path):
    kind, run = trained
    base = _render(MAKERS[kind]())
    pipe = MAKERS[kind]()
    pipe.load_lora_weights(str(run.weights.parent), weight_name=run.weights.name)  # diffusers' own loader
    with_lora = _render(pipe)
    assert np.abs(with_lora - base).max() > 1e-3, "the trained LoRA must change the output"

    kohya = export_kohya(run.weights, tmp_path / "memoji_kohya.safetensors")
    with safe_open(str(kohya), framework="pt") as handle:
        keys = list(handle.keys())
        alphas = {float(handle.get_tensor(k)) for k in keys if k.endswith(".alpha")}
    assert keys and all(k.startswith("lora_unet_") for k in keys)
    assert alphas == {8.0}, "the kohya alpha is the trained alpha (8), not the rank (4)"
    from_kohya = MAKERS[kind]()
    from_kohya.load_lora_weights(str(kohya.parent), weight_name=kohya.name)  # kohya -> diffusers by diffusers
    assert np.abs(_render(from_kohya) - with_lora).max() < 1e-5


def test_kohya_round_trip_of_the_state_dict(trained, tmp_path):
    kind, run = trained
    kohya = export_kohya(run.weights, tmp_path / "k.safetensors")
    pipe_class = type(MAKERS[kind]())
    from diffusers.utils import convert_unet_state_dict_to_peft

    def peft_keys(state):  # diffusers reads kohya files into its older attention-processor key names
        return convert_unet_state_dict_to_peft({k.removeprefix("unet."): v for k, v in state.items()})

    ours = peft_keys(pipe_class.lora_state_dict(str(run.weights))[0])
    back, alphas = pipe_class.lora_state_dict(str(kohya))
    back = peft_keys(back)
    assert set(ours) == set(back) and ours
    assert set(alphas.values()) == {8.0}
    assert all(torch.equal(ours[k], back[k]) for k in ours)


def test_checkpoints_hold_the_adapters_only(trained):
    _, run = trained
    from toonlab.train import checkpoint

    state = checkpoint.load(checkpoint.latest(run.trainer.checkpoint_dir))
    keys = list(state["models"]["unet"])
    assert keys and all("lora_" in k for k in keys)


def test_a_lora_for_another_base_is_refused_naming_both(trained, tmp_path):
    kind, run = trained
    other = "sd" if kind == "sdxl" else "sdxl"
    with pytest.raises(LoRABaseMismatchError, match="SDXL") as error:
        load_lora(MAKERS[other](), run.weights)
    assert "SD 1.x" in str(error.value) and f"tiny {kind}" in str(error.value)
    # a foreign file (a kohya LoRA from elsewhere: no toonlab record) is checked by its shapes
    from safetensors.torch import load_file, save_file

    foreign = tmp_path / "foreign.safetensors"
    save_file(load_file(str(export_kohya(run.weights, tmp_path / "k.safetensors"))), str(foreign))
    wider = MAKERS[kind](TinySDConfig(text_width=48))
    with pytest.raises(LoRABaseMismatchError, match="another base model"):
        load_lora(wider, foreign)
    load_lora(MAKERS[kind](), foreign)  # the right base takes it


def test_resume_after_a_kill_is_exact(tmp_path):
    class Kill(Callback):
        every = 3

        def __call__(self, trainer, step):
            raise KeyboardInterrupt("killed after the step-2 checkpoint")

    straight = _train("sdxl", tmp_path / "straight", steps=6)
    with pytest.raises(KeyboardInterrupt):
        _train("sdxl", tmp_path / "killed", steps=6, callbacks=[Kill()])
    resumed = _train("sdxl", tmp_path / "killed", steps=6)
    assert resumed.result.resumed_from == 2
    assert resumed.result.history.series == straight.result.history.series
    with safe_open(str(straight.weights), "pt") as a, safe_open(str(resumed.weights), "pt") as b:
        assert set(a.keys()) == set(b.keys())
        assert all(torch.equal(a.get_tensor(k), b.get_tensor(k)) for k in a.keys())


def test_resume_on_another_base_is_refused_naming_both(tmp_path):
    """Checkpoints hold only the adapters: the frozen base is checked (signature + a hash of frozen tensors)."""
    data = CaptionedImages(_images(2), ["emoji, smiling", "emoji, Angry"], 64)
    config = LoRATrainConfig(lora=LoRASpec(rank=2), resolution=64)

    def train(pipe, steps, name):
        settings = TrainConfig(steps=steps, batch_size=2, seed=0, checkpoint_every=1, log_every=1, progress=False)
        return train_lora(pipe, data, config, settings, tmp_path / "run", base_name=name)

    train(tiny_sdxl_pipeline(seed=0), 1, "tiny sdxl seed 0")
    # same shapes, other weights (as SDXL base vs Samaritan-3D-Cartoon)
    with pytest.raises(LoRABaseMismatchError, match=r"(?s)tiny sdxl seed 0.*sha256.*tiny sdxl seed 1.*sha256"):
        train(tiny_sdxl_pipeline(seed=1), 2, "tiny sdxl seed 1")
    resumed = train(tiny_sdxl_pipeline(seed=0), 2, "the same base, renamed")  # the right base resumes
    assert resumed.result.resumed_from == 1


def test_sdxl_micro_conditioning_records_size_and_crop():
    data = CaptionedImages([Image.new("RGB", (80, 64), "red")], ["emoji"], 32)  # 80 wide, 64 high
    item = data[0]
    assert item["pixel_values"].shape == (3, 32, 32)
    assert item["original_size"].tolist() == [64, 80]  # (height, width) before resizing
    assert item["crop_top_left"].tolist() == [0, 4]  # 40x32 after resizing, centre crop 4 px from the left
    assert float(item["pixel_values"].min()) >= -1 and float(item["pixel_values"].max()) <= 1

    from toonlab.train.lora import LoRATask

    task = LoRATask(tiny_sdxl_pipeline(), LoRATrainConfig(resolution=32), total_steps=1)
    batch = {"original_size": item["original_size"][None], "crop_top_left": item["crop_top_left"][None]}
    assert task.time_ids(batch, torch.device("cpu")).tolist() == [[64, 80, 0, 4, 32, 32]]


def test_grey_and_transparent_training_images_become_rgb():
    grey = Image.new("L", (40, 40), 128)
    clear = Image.new("RGBA", (40, 40), (255, 0, 0, 0))  # fully transparent: white after compositing
    data = CaptionedImages([grey, clear], ["a", "b"], 32)
    assert data[0]["pixel_values"].shape == (3, 32, 32)
    assert torch.allclose(data[1]["pixel_values"], torch.ones(3, 32, 32))


def test_bad_training_data_is_named(tmp_path):
    with pytest.raises(ValueError, match="2 images but 1 captions"):
        CaptionedImages(_images(2), ["one"], 32)
    Image.new("RGB", (8, 8)).save(tmp_path / "a.png")
    with pytest.raises(FileNotFoundError, match="no caption file.*a.png"):
        CaptionedImages.from_folder(tmp_path, 32)
    (tmp_path / "a.txt").write_text("emoji, smiling\n")
    assert CaptionedImages.from_folder(tmp_path, 32).captions == ["emoji, smiling"]
    with pytest.raises(ValueError, match="multiple of 8"):
        LoRATrainConfig(resolution=30)


def test_learning_rate_schedules():
    assert learning_rate_factor("constant", 5, 10, 0) == 1.0
    assert learning_rate_factor("constant_with_warmup", 1, 10, 4) == 0.25
    assert learning_rate_factor("cosine", 2, 12, 2) == pytest.approx(1.0)
    assert learning_rate_factor("cosine", 12, 12, 2) == pytest.approx(0.0)


@pytest.mark.parametrize("schedule", ["constant", "constant_with_warmup", "cosine"])
def test_learning_rate_schedules_match_diffusers_get_scheduler(schedule):
    from diffusers.optimization import get_scheduler

    total, warmup = 12, 4
    optimizer = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1.0)
    scheduler = get_scheduler(schedule, optimizer, num_warmup_steps=warmup, num_training_steps=total)
    for step in range(total + 1):
        assert learning_rate_factor(schedule, step, total, warmup) == pytest.approx(scheduler.get_last_lr()[0]), step
        optimizer.step()
        scheduler.step()


def test_text_encoder_lora_trains_saves_and_loads(tmp_path):
    data = CaptionedImages(_images(2), ["emoji, smiling", "emoji, Angry"], 64)
    config = LoRATrainConfig(lora=LoRASpec(rank=2, text_encoders=True), resolution=64, learning_rate=1e-2)
    train = TrainConfig(steps=2, batch_size=2, seed=0, checkpoint_every=2, log_every=2, progress=False)
    run = train_lora(tiny_sdxl_pipeline(), data, config, train, tmp_path / "te", base_name="tiny sdxl")
    assert set(run.trainer.task.models) == {"unet", "text_encoder", "text_encoder_2"}
    with safe_open(str(run.weights), framework="pt") as handle:
        prefixes = {key.split(".")[0] for key in handle.keys()}
    assert prefixes == {"unet", "text_encoder", "text_encoder_2"}
    pipe = tiny_sdxl_pipeline()
    load_lora(pipe, run.weights)
    assert "default" in pipe.text_encoder_2.peft_config


def test_the_benchmark_memory_bar_catches_a_larger_peak():
    import importlib.util
    from pathlib import Path

    path = Path(__file__).parents[1] / "benchmarks" / "lora_sdxl_step.py"
    spec = importlib.util.spec_from_file_location("lora_sdxl_step", path)
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)

    def best(ours_mib, ours_s=1.0):
        return {"diffusers": {"median step (s)": 1.0, "memory (MiB)": 500.0},
                "ours": {"median step (s)": ours_s, "memory (MiB)": ours_mib}}

    assert bench.verdict(best(500.0), 0.0, 8.0) == 0
    assert bench.verdict(best(505.0), 0.0, 8.0) == 0  # RSS noise
    assert bench.verdict(best(600.0), 0.0, 8.0) == 1  # a 100 MiB larger peak is a regression
    assert bench.verdict(best(500.0, ours_s=1.2), 0.0, 8.0) == 1
    assert bench.verdict(best(600.0), 0.25, 0.0) == 0


def test_the_benchmark_interleaves_both_steps_in_one_process():
    """Each side steps ``steps`` times, in turn; the paired ratio is the median of ours / theirs per pair."""
    import importlib.util
    from pathlib import Path

    path = Path(__file__).parents[1] / "benchmarks" / "lora_sdxl_step.py"
    spec = importlib.util.spec_from_file_location("lora_sdxl_step", path)
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    calls = []
    real = {"ours": bench.ours, "diffusers": bench.diffusers_recipe}

    def counting(side):
        def build(spec, pipe, accelerator):
            step = real[side](spec, pipe, accelerator)

            def run():
                calls.append(side)
                step()
            return run
        return build

    bench.ours, bench.diffusers_recipe = counting("ours"), counting("diffusers")
    out = bench.measure_interleaved({"device": "cpu", "real": False, "resolution": 32, "batch": 1, "rank": 2,
                                     "precision": "no", "steps": 3, "warmup": 1, "threads": 1})
    assert calls == ["diffusers", "ours"] + ["diffusers", "ours", "ours", "diffusers", "diffusers", "ours"]
    assert set(out["median step (s)"]) == {"diffusers", "ours"} and all(t > 0 for t in out["median step (s)"].values())
    assert 0 < out["paired ratio (median)"] < 10
