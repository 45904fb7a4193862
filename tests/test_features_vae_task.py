"""VAE / VAE-DISTS training Task on the shared loop: objective, frozen DISTS, two steps, exact resume."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import pytest
import torch
from torch.utils.data import TensorDataset

from toonlab.features.vae import VAE, VAEConfig
from toonlab.features.vae_task import VAETask, loss_curve_figure, train_vae, vae_losses
from toonlab.metrics.perceptual import build_dists
from toonlab.train import TrainConfig, load_weights

TINY = VAEConfig(image_size=16, widths=(4, 8, 16, 32), latent_dim=16)


@pytest.fixture(scope="module")
def images():
    x = torch.rand(16, 3, 16, 16, generator=torch.Generator().manual_seed(0))
    return TensorDataset(x, torch.zeros(16, dtype=torch.long))


def config(steps: int) -> TrainConfig:
    return TrainConfig(steps=steps, batch_size=4, log_every=1, checkpoint_every=2, progress=False)


def test_objective_matches_its_definition():
    torch.manual_seed(0)
    model = VAE(TINY)
    x = torch.rand(4, 3, 16, 16)
    torch.manual_seed(1)
    losses = vae_losses(model, x, kl_coeff=0.1)
    torch.manual_seed(1)
    x_hat, z, mu, log_var = model(x)
    assert losses["recon"].item() == pytest.approx(((x_hat - x) ** 2).mean().item(), rel=1e-6)
    # single-sample MC KL: log N(z; mu, sigma) - log N(z; 0, 1), averaged over batch and latent dims
    sigma = torch.exp(0.5 * log_var)
    log_q = -0.5 * (((z - mu) / sigma) ** 2) - torch.log(sigma) - 0.5 * torch.log(torch.tensor(2 * torch.pi))
    log_p = -0.5 * z**2 - 0.5 * torch.log(torch.tensor(2 * torch.pi))
    assert losses["kl"].item() == pytest.approx((log_q - log_p).mean().item(), rel=1e-5, abs=1e-6)
    assert losses["loss"].item() == pytest.approx(losses["recon"].item() + 0.1 * losses["kl"].item(), rel=1e-6)


def test_mc_kl_is_unbiased_for_the_closed_form():
    torch.manual_seed(0)
    model = VAE(TINY).eval()
    x = torch.rand(2, 3, 16, 16)
    _, mu, log_var = model.encode(x)
    closed = (0.5 * (mu**2 + log_var.exp() - 1 - log_var)).mean()
    estimates = torch.stack([vae_losses(model, x, 0.1)["kl"] for _ in range(100)])
    assert estimates.mean().item() == pytest.approx(closed.item(), abs=4 * estimates.std().item() / 10 + 1e-3)


def test_losses_are_float32_under_bf16_autocast():
    torch.manual_seed(0)
    model, dists = VAE(TINY), build_dists("ci")
    x = torch.rand(2, 3, 16, 16)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        losses = vae_losses(model, x, 0.1, dists)
    assert all(value.dtype == torch.float32 and torch.isfinite(value) for value in losses.values())
    losses["loss"].backward()
    assert model.fc_mu.weight.grad is not None


def test_dists_term_trains_the_vae_only():
    dists = build_dists("ci")
    task = VAETask(TINY, dists=dists)
    x = torch.rand(2, 3, 16, 16)
    losses = vae_losses(task.models["vae"], x, 0.1, task.dists)
    losses["loss"].backward()
    assert all(p.grad is None for p in dists.parameters())
    assert task.models["vae"].decoder.to_rgb.weight.grad.abs().sum() > 0
    assert {"recon", "kl", "dists", "loss"} <= set(losses)


@pytest.mark.parametrize("with_dists", [False, True])
def test_two_steps_on_the_shared_loop(tmp_path, images, with_dists):
    dists = build_dists("ci") if with_dists else None
    before = VAETask(TINY).models["vae"].state_dict()
    model, result = train_vae(images, tmp_path / "run", config(2), TINY, dists=dists)
    assert result.step == 2 and result.checkpoint is not None
    logged = result.history.last()
    assert all(torch.isfinite(torch.tensor(v)) for v in logged.values())
    assert ("dists" in logged) == with_dists
    changed = any(not torch.equal(before[k], v.cpu()) for k, v in model.state_dict().items() if v.is_floating_point())
    assert changed
    tensors, saved = load_weights(tmp_path / "run" / "vae.safetensors")
    assert saved["latent_dim"] == 16 and saved["dists"] == with_dists and saved["steps"] == 2
    fresh = VAE(TINY)
    fresh.load_state_dict(tensors)
    for key, value in model.state_dict().items():
        torch.testing.assert_close(fresh.state_dict()[key], value.cpu())


def test_resume_reproduces_an_uninterrupted_run(tmp_path, images):
    _, straight = train_vae(images, tmp_path / "straight", config(4), TINY)
    train_vae(images, tmp_path / "split", config(2), TINY)  # "killed" after the step-2 checkpoint
    _, resumed = train_vae(images, tmp_path / "split", config(4), TINY)
    assert resumed.resumed_from == 2
    assert resumed.history.values("loss") == pytest.approx(straight.history.values("loss"), rel=1e-6)


def test_finished_run_reloads_without_training(tmp_path, images):
    first, _ = train_vae(images, tmp_path / "run", config(2), TINY)
    again, result = train_vae(images, tmp_path / "run", config(2), TINY)
    assert result.resumed_from == 2
    for key, value in first.state_dict().items():
        torch.testing.assert_close(again.state_dict()[key], value)


def test_wrong_resolution_fails_clearly(tmp_path):
    data = TensorDataset(torch.rand(4, 3, 48, 48), torch.zeros(4, dtype=torch.long))
    with pytest.raises(ValueError, match="resolution=16"):
        train_vae(data, tmp_path, config(1), TINY)


def test_loss_curve_figure(tmp_path, images):
    _, result = train_vae(images, tmp_path / "run", config(2), TINY)
    fig = loss_curve_figure({"VAE": result.history})
    assert [ax.get_title() for ax in fig.axes] == ["loss", "recon", "kl"]
