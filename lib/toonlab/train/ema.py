"""Exponential moving average of a model's weights (the "EMA generator" of GAN papers).

Written here rather than with ``torch.optim.swa_utils.AveragedModel`` because GANs average the
parameters but *copy* the buffers (BatchNorm statistics, StyleGAN noise maps) from the live model, as
StyleGAN2-ADA and FastGAN do; ``AveragedModel`` either averages buffers too or leaves them stale.
"""

from __future__ import annotations

import copy

import torch
from torch import nn


class EMA(nn.Module):
    """``ema = decay * ema + (1 - decay) * live`` for parameters; buffers copied from the live model."""

    def __init__(self, model: nn.Module, decay: float) -> None:
        super().__init__()
        if not 0.0 <= decay < 1.0:
            raise ValueError(f"EMA decay must be in [0, 1), got {decay}; 0.999 is a common choice for GANs")
        self.decay = decay
        self.module = copy.deepcopy(model).eval().requires_grad_(False)

    @torch.no_grad()
    def update(self, model: nn.Module) -> None:
        ema_params = list(self.module.parameters())
        live_params = [p.detach() for p in model.parameters()]
        if len(ema_params) != len(live_params):
            raise ValueError("EMA.update got a model with a different structure than the one it was built from")
        # lerp(ema, live, 1 - decay) == decay * ema + (1 - decay) * live, in one fused kernel per dtype.
        torch._foreach_lerp_(ema_params, live_params, 1.0 - self.decay)
        for ema_buffer, live_buffer in zip(self.module.buffers(), model.buffers()):
            ema_buffer.copy_(live_buffer)

    def forward(self, *args, **kwargs):
        return self.module(*args, **kwargs)
