"""Training ToyHollyWood's VAE (and VAE-DISTS) with the book's one training loop.

The objective follows pytorch-lightning-bolts' VAE, which the source ran:

    recon = MSE(x_hat, x)                     (mean over pixels and batch)
    kl    = mean over batch and latent dims of  log q(z|x) - log p(z),  z ~ q(z|x)
            (bolts' single-sample Monte-Carlo KL, not the closed form)
    loss  = recon + kl_coeff * kl             (kl_coeff = 0.1)

VAE-DISTS adds ``dists_weight * DISTS(x_hat, x)`` (piq's DISTS, mean over the batch; weight 1 — the source
states no weight). Adam, lr 1e-4. The DISTS network is frozen: only the VAE trains.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from accelerate import Accelerator
from torch import nn
from torch.distributions import Normal

from toonlab.features.vae import VAE, VAEConfig, vae_config_dict
from toonlab.train import Callback, Task, Trainer, TrainConfig, TrainResult


def vae_losses(model: VAE, x: torch.Tensor, kl_coeff: float, dists: nn.Module | None = None,
               dists_weight: float = 1.0) -> dict[str, torch.Tensor]:
    """The bolts VAE objective (+ optional DISTS term) on one batch; ``loss`` is what is minimised."""
    # float32 losses even when the forward ran under mixed precision (accelerate autocasts only the model)
    x_hat, z, mu, log_var = (t.float() for t in model(x))
    x = x.float()
    recon = F.mse_loss(x_hat, x, reduction="mean")
    q = Normal(mu, torch.exp(0.5 * log_var))
    p = Normal(torch.zeros_like(mu), torch.ones_like(mu))
    kl = (q.log_prob(z) - p.log_prob(z)).mean()
    losses = {"recon": recon, "kl": kl}
    loss = recon + kl_coeff * kl
    if dists is not None:
        # piq's DISTS takes images in [0, 1]; the decoder output is unbounded (no output activation, as in
        # bolts), and piq checks no range, so it is passed as is and DISTS shapes it back towards [0, 1].
        losses["dists"] = dists(x_hat, x).mean()
        loss = loss + dists_weight * losses["dists"]
    losses["loss"] = loss
    return losses


class VAETask(Task):
    """One Adam step on the VAE objective. ``dists``: a frozen DISTS module for VAE-DISTS, else None."""

    def __init__(self, config: VAEConfig = VAEConfig(), lr: float = 1e-4, dists: nn.Module | None = None,
                 dists_weight: float = 1.0, init_seed: int = 0) -> None:
        if lr <= 0:
            raise ValueError(f"lr must be > 0, got {lr}")
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(init_seed)
            vae = VAE(config)
        self.config, self.dists_weight = config, dists_weight
        self.dists = dists.eval().requires_grad_(False) if dists is not None else None
        self.models = {"vae": vae}
        self.optimizers = {"vae": torch.optim.Adam(vae.parameters(), lr=lr)}

    def train_step(self, batch: Any, step: int, accelerator: Accelerator) -> Mapping[str, torch.Tensor]:
        x = batch[0] if isinstance(batch, (list, tuple)) else batch
        if self.dists is not None:
            self.dists.to(x.device)
        losses = vae_losses(self.models["vae"], x, self.config.kl_coeff, self.dists, self.dists_weight)
        optimizer = self.optimizers["vae"]
        optimizer.zero_grad(set_to_none=True)
        accelerator.backward(losses["loss"])
        optimizer.step()
        return {name: value.detach() for name, value in losses.items()}


def train_vae(dataset: Any, out_dir: str | Path, train_config: TrainConfig, config: VAEConfig = VAEConfig(),
              lr: float = 1e-4, dists: nn.Module | None = None, dists_weight: float = 1.0,
              callbacks: Sequence[Callback] = (), accelerator: Accelerator | None = None) -> tuple[VAE, TrainResult]:
    """Train (or resume, or just reload a finished run in ``out_dir``) and return the trained VAE.

    The VAE's weights are exported as ``out_dir/vae.safetensors`` with its config.
    """
    if len(dataset) and dataset[0][0].shape[-1] != config.image_size:
        raise ValueError(f"the VAE is configured for {config.image_size}px images but the data is "
                         f"{dataset[0][0].shape[-1]}px; load it with resolution={config.image_size}")
    task = VAETask(config, lr, dists, dists_weight, init_seed=train_config.seed)
    trainer = Trainer(task, dataset, train_config, out_dir, callbacks=callbacks, accelerator=accelerator)
    result = trainer.fit()
    extra = {"lr": lr, "dists": dists is not None, "dists_weight": dists_weight, "steps": result.step}
    trainer.export("vae", Path(out_dir) / "vae.safetensors", {**vae_config_dict(config), **extra})
    return trainer.model("vae"), result


def loss_curve_figure(histories: Mapping[str, Any], keys: Sequence[str] = ("loss", "recon", "kl", "dists")):
    """One panel per loss term, one line per run (``histories``: name -> LossLog)."""
    import matplotlib.pyplot as plt

    present = [k for k in keys if any(k in h.series for h in histories.values())]
    fig, axes = plt.subplots(1, len(present), figsize=(3.2 * len(present), 2.6), squeeze=False)
    for ax, key in zip(axes[0], present):
        for i, (name, history) in enumerate(histories.items()):
            if key in history.series:
                steps, values = history.series[key]
                ax.plot(steps, values, label=name, color=f"C{i}")  # one colour per run in every panel
        ax.set_title(key)
        ax.set_xlabel("step")
    axes[0][0].legend(fontsize=7)
    fig.tight_layout()
    return fig
