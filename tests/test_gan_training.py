"""The three GAN tasks in the shared loop: a step trains without NaN, resume is exact, presets build."""

from __future__ import annotations

import math

import pytest
import torch
from torch.utils.data import TensorDataset

from conftest import FailAt
from toonlab.gan import presets
from toonlab.train import Trainer
from toonlab.train.gan_tasks import FastGANTask, build_task, train_config

TINY_MODELS = {
    "comics_dcgan": dict(resolution=32, latent_dim=16, base_channels=8),
    "toyhollywood_fastgan": dict(resolution=64, latent_dim=16, ngf=8, ndf=8),
    "toyhollywood_stylegan2": dict(resolution=32, style_dim=16, n_mlp=2, channel_base=512, channel_max=16),
    "rosinality_stylegan2": dict(resolution=32, style_dim=16, n_mlp=2, channel_base=512, channel_max=16,
                                 channel_multiplier=2),
}


def tiny_preset(name: str, **changes) -> presets.GANPreset:
    preset = presets.get(name).replace(**{"model": TINY_MODELS[name], "batch_size": 4, "steps": 2, **changes})
    if preset.kind == "stylegan2":  # regularise on the first steps so the test covers R1 and path length
        preset = preset.replace(options={"d_reg_every": 2, "g_reg_every": 2, "pl_weight": 2.0})
    return preset


def dataset(resolution: int, n: int = 8) -> TensorDataset:
    generator = torch.Generator().manual_seed(0)
    return TensorDataset(torch.rand(n, 3, resolution, resolution, generator=generator), torch.zeros(n))


@pytest.mark.parametrize("name", sorted(TINY_MODELS))
def test_training_steps_change_weights_and_stay_finite(name, tmp_path):
    torch.manual_seed(0)
    preset = tiny_preset(name)
    task = build_task(preset)
    before = {k: {n: p.detach().clone() for n, p in m.named_parameters()} for k, m in task.models.items()}
    trainer = Trainer(task, dataset(preset.model.resolution), train_config(preset, log_every=1, checkpoint_every=2,
                                                                           progress=False), tmp_path)
    result = trainer.fit()
    for name_, (steps, values) in result.history.series.items():
        assert all(math.isfinite(v) for v in values), name_
    for key, model in task.models.items():
        params = dict(trainer.unwrap(key).named_parameters())
        assert all(torch.isfinite(p).all() for p in params.values())
        changed = [n for n, p in params.items() if not torch.equal(p, before[key][n])]
        assert len(changed) > len(params) // 2, f"{key}: only {len(changed)}/{len(params)} parameters moved"
    if preset.kind == "stylegan2":
        regulariser = preset.options.get("regulariser", "r1")
        assert {regulariser, "path_length"} <= set(result.history.series)
        assert trainer.task.mean_path_length > 0
    if preset.options.get("gp_every"):
        assert "gp" in result.history.series  # lightweight-gan's gradient penalty ran
    if preset.ema_decay:
        ema, live = trainer.model("G"), trainer.unwrap("G")
        assert any(not torch.equal(a, b) for a, b in zip(ema.parameters(), live.parameters()))


@pytest.mark.parametrize("name", sorted(TINY_MODELS))
def test_gan_resume_is_bit_identical(name, tmp_path):
    """BatchNorm, spectral norm, noise injection, lazy regularisers and the path-length mean all resume."""

    def run(folder, callbacks=()):
        torch.manual_seed(0)
        preset = tiny_preset(name, steps=4)
        trainer = Trainer(build_task(preset), dataset(preset.model.resolution),
                          train_config(preset, log_every=1, checkpoint_every=2, progress=False), folder,
                          callbacks=callbacks)
        return trainer, trainer.fit()

    straight, straight_result = run(tmp_path / "a")
    with pytest.raises(KeyboardInterrupt):
        run(tmp_path / "b", callbacks=[FailAt(3)])
    resumed, resumed_result = run(tmp_path / "b")
    assert resumed_result.resumed_from == 2
    assert resumed_result.history.series == straight_result.history.series
    for key in ("G", "D"):
        for a, b in zip(straight.unwrap(key).state_dict().values(), resumed.unwrap(key).state_dict().values()):
            assert torch.equal(a, b)


def test_presets_cover_the_sources_and_build():
    assert {"popyou_fastgan", "toyhollywood_fastgan", "toyhollywood_stylegan2", "comics_dcgan",
            "comics_dcgan_diffaugment"} <= set(presets.PRESETS)
    thw = presets.get("toyhollywood_fastgan")
    assert (thw.model.resolution, thw.model.latent_dim, thw.batch_size, thw.lr) == (128, 256, 16, 2e-4)
    assert thw.augment == "translation,cutout" and thw.fid_samples == 12_800
    sg2 = presets.get("toyhollywood_stylegan2")
    assert sg2.options["d_lr_mult"] == 2 and sg2.options["mixing_prob"] == 0.9 and sg2.truncation_psi == 0.6
    assert sg2.model.width(128) == 32 and sg2.model.width(4) == 512  # lucidrains capacity 16 at 128 px
    assert sg2.batch_size == 30 and sg2.betas == (0.5, 0.9)  # stylegan2-pytorch: batch 5 x accumulation 6
    # our change is a separate preset that differs from the faithful one in the Adam betas alone
    ours = presets.get("toyhollywood_stylegan2_paper_adam")
    assert ours.betas == (0.0, 0.99) and ours.replace(betas=sg2.betas, name=sg2.name, source=sg2.source,
                                                      notes=sg2.notes) == sg2
    assert "our change" in ours.source
    comics = presets.get("comics_dcgan")
    assert (comics.model.latent_dim, comics.lr, comics.betas) == (100, 2e-4, (0.5, 0.999))
    with pytest.raises(KeyError, match="known presets"):
        presets.get("biggan")


def test_toyhollywood_stylegan2_trains_like_stylegan2_pytorch():
    """lucidrains' optimisers: Adam (0.5, 0.9), D at 2x lr, no lazy-regularisation rescaling; hinge + its GP.

    The lr is lucidrains' 2e-4 carried over to our equalised-lr network (2e-3, mapping multiplier 0.1: the
    same relative step per weight, see the preset's notes)."""
    task = build_task(tiny_preset("toyhollywood_stylegan2"))
    g_group, d_group = task.optimizers["G"].param_groups[0], task.optimizers["D"].param_groups[0]
    assert g_group["lr"] == pytest.approx(2e-3) and d_group["lr"] == pytest.approx(4e-3)
    assert g_group["betas"] == d_group["betas"] == (0.5, 0.9)
    assert (task.loss, task.regulariser, task.gp_form) == ("hinge", "gp", "stylegan2-pytorch")
    mapping = task.models["G"].style[1]
    assert mapping.lr_mul == pytest.approx(0.1)  # what the chapter's generators are built with


def test_unknown_gan_losses_are_named():
    from toonlab.train.gan_tasks import StyleGAN2Task

    config = presets.get("toyhollywood_stylegan2").replace(model=TINY_MODELS["toyhollywood_stylegan2"]).model
    with pytest.raises(ValueError, match="regulariser one of"):
        StyleGAN2Task(config, regulariser="wgan")
    fastgan = presets.get("toyhollywood_fastgan").replace(model=TINY_MODELS["toyhollywood_fastgan"]).model
    with pytest.raises(ValueError, match="FastGAN loss must be one of"):
        FastGANTask(fastgan, loss="bce")


def test_stylegan2_lazy_regularisation_rescales_adam():
    preset = tiny_preset("rosinality_stylegan2").replace(options={"d_reg_every": 16, "g_reg_every": 4})
    task = build_task(preset)
    g_group, d_group = task.optimizers["G"].param_groups[0], task.optimizers["D"].param_groups[0]
    assert g_group["lr"] == pytest.approx(2e-3 * 4 / 5) and d_group["lr"] == pytest.approx(2e-3 * 16 / 17)
    assert d_group["betas"][1] == pytest.approx(0.99 ** (16 / 17))


def test_lpips_reconstruction_without_weights_fails_at_once(tmp_path, monkeypatch):
    from toonlab.zoo import WeightsMissingError

    monkeypatch.setenv("TORCH_HOME", str(tmp_path))  # an empty hub cache
    task = FastGANTask(presets.get("toyhollywood_fastgan").replace(model=TINY_MODELS["toyhollywood_fastgan"]).model,
                       reconstruction_loss="lpips")
    trainer = Trainer(task, dataset(64), train_config(tiny_preset("toyhollywood_fastgan"), progress=False), tmp_path)
    with pytest.raises(WeightsMissingError, match="reconstruction_loss='mse'"):
        trainer.fit()


def test_bad_batches_are_named():
    from toonlab.train.gan_tasks import images_from

    with pytest.raises(ValueError, match=r"\(B, C, H, W\)"):
        images_from(torch.rand(3, 8, 8))


@pytest.mark.parametrize("name, form", [("toyhollywood_fastgan", "lightweight-gan"),
                                        ("toyhollywood_stylegan2", "stylegan2-pytorch")])
def test_the_pinned_peers_gradient_penalty_differs_from_the_one_centred_form_only_in_the_penalty(name, form):
    """gp_form=<peer> penalises ||grad||^2 at real and fake images (lucidrains' pinned versions; the
    StyleGAN2 preset's own), gp_form="real" (||grad|| - 1)^2 at the reals: same losses from the same seed
    up to the penalty."""
    from accelerate import Accelerator

    def first_step(**options):
        torch.manual_seed(0)
        preset = tiny_preset(name, options={"gp_every": 4, **options} if name.endswith("fastgan") else options)
        task = build_task(preset)
        images = dataset(preset.model.resolution, 4).tensors[0]
        return task.train_step((images, None), 0, Accelerator(cpu=True))

    default, peer = first_step(gp_form="real"), first_step(gp_form=form)
    assert default["loss_d"] == pytest.approx(peer["loss_d"].item())  # same draws up to the penalty
    assert peer["gp"].item() != pytest.approx(default["gp"].item()) and math.isfinite(peer["gp"].item())
    with pytest.raises(ValueError, match="gp_form must be one of"):
        first_step(gp_form="wgan")
