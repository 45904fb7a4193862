"""ToyHollyWood's VAE: a ResNet-18-style encoder/decoder with a 256-d Gaussian latent, on 80x80 images.

The source used pytorch-lightning-bolts' ``VAE(input_height=80, enc_type="resnet18", enc_out_dim=512,
latent_dim=256, kl_coeff=0.1, lr=1e-4)`` (METHODS.md). bolts is unmaintained and not a dependency here,
so the same architecture is rebuilt from its description:

- encoder: a CIFAR-style ResNet-18 (3x3 stem with stride 1, no max-pool, four stages of two basic
  blocks, widths 64-128-256-512, strides 1-2-2-2), global average pool -> ``enc_out_dim`` = 512;
- two linear heads for the posterior mean and log-variance (``latent_dim`` = 256);
- decoder: the mirror image — a linear layer to a 512 x (H/8) x (W/8) map, four stages of two residual
  blocks that upsample x2 in the first block of stages 2-4 (widths 512-256-128-64), a 3x3 conv to RGB
  with no output activation (as in bolts).

The clustering features are the posterior means ``mu`` (256-d); the 512-d encoder output is available
too (``features="encoder"``) because the source did not say which one it clustered.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
from torch import nn
from torchvision.models.resnet import BasicBlock

from toonlab.features.base import FeatureExtractor


@dataclass(frozen=True)
class VAEConfig:
    image_size: int = 80  # input height = width (the source's 80x80)
    widths: tuple[int, ...] = (64, 128, 256, 512)  # ResNet-18 stage widths; the last is enc_out_dim
    blocks_per_stage: int = 2  # ResNet-18: two basic blocks per stage
    latent_dim: int = 256
    kl_coeff: float = 0.1  # loss = MSE + kl_coeff * KL (bolts' kl_coeff)

    def __post_init__(self) -> None:
        down = 2 ** (len(self.widths) - 1)
        if self.image_size % down:
            raise ValueError(f"image_size {self.image_size} must be divisible by {down} "
                             f"(the encoder halves it {len(self.widths) - 1} times)")
        if self.latent_dim < 1 or self.blocks_per_stage < 1 or not self.widths:
            raise ValueError(f"invalid VAEConfig {self}")

    @property
    def enc_out_dim(self) -> int:
        return self.widths[-1]


def _stage(block: type[nn.Module], in_ch: int, out_ch: int, blocks: int, stride: int) -> nn.Sequential:
    down = None
    if stride != 1 or in_ch != out_ch:
        down = nn.Sequential(nn.Conv2d(in_ch, out_ch, 1, stride, bias=False), nn.BatchNorm2d(out_ch))
    layers = [block(in_ch, out_ch, stride, down)]
    layers += [block(out_ch, out_ch) for _ in range(blocks - 1)]
    return nn.Sequential(*layers)


class Encoder(nn.Module):
    """CIFAR-style ResNet-18: images -> ``enc_out_dim`` vector (torchvision's BasicBlock)."""

    def __init__(self, config: VAEConfig) -> None:
        super().__init__()
        w = config.widths
        self.stem = nn.Sequential(nn.Conv2d(3, w[0], 3, 1, 1, bias=False), nn.BatchNorm2d(w[0]), nn.ReLU(inplace=True))
        self.stages = nn.Sequential(*[
            _stage(BasicBlock, w[max(i - 1, 0)], w[i], config.blocks_per_stage, 1 if i == 0 else 2)
            for i in range(len(w))
        ])
        self.pool = nn.AdaptiveAvgPool2d(1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.pool(self.stages(self.stem(x))).flatten(1)


class UpBlock(nn.Module):
    """A basic residual block that upsamples by ``scale`` (nearest) before its first conv — the decoder's
    mirror of :class:`~torchvision.models.resnet.BasicBlock` (torchvision has no upsampling block)."""

    def __init__(self, in_ch: int, out_ch: int, scale: int = 1) -> None:
        super().__init__()
        self.up = nn.Upsample(scale_factor=scale, mode="nearest") if scale > 1 else nn.Identity()
        self.conv1 = nn.Conv2d(in_ch, out_ch, 3, 1, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(out_ch)
        self.conv2 = nn.Conv2d(out_ch, out_ch, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(out_ch)
        self.relu = nn.ReLU(inplace=True)
        self.skip = nn.Identity()
        if scale > 1 or in_ch != out_ch:
            self.skip = nn.Sequential(self.up, nn.Conv2d(in_ch, out_ch, 1, bias=False), nn.BatchNorm2d(out_ch))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.relu(self.bn1(self.conv1(self.up(x))))
        out = self.bn2(self.conv2(out))
        return self.relu(out + self.skip(x))


class Decoder(nn.Module):
    """Latent -> image: linear to a (H/8)x(W/8) map, mirrored ResNet-18 stages, 3x3 conv to RGB."""

    def __init__(self, config: VAEConfig) -> None:
        super().__init__()
        w = config.widths[::-1]
        self.side = config.image_size // 2 ** (len(w) - 1)
        self.linear = nn.Linear(config.latent_dim, w[0] * self.side**2)
        stages = []
        for i in range(len(w)):
            in_ch, out_ch = w[max(i - 1, 0)], w[i]
            blocks = [UpBlock(in_ch, out_ch, 1 if i == 0 else 2)]
            blocks += [UpBlock(out_ch, out_ch) for _ in range(config.blocks_per_stage - 1)]
            stages.append(nn.Sequential(*blocks))
        self.stages = nn.Sequential(*stages)
        self.to_rgb = nn.Conv2d(w[-1], 3, 3, 1, 1)  # no output activation, as in bolts
        self.width = w[0]

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        x = self.linear(z).view(z.shape[0], self.width, self.side, self.side)
        return self.to_rgb(self.stages(x))


class VAE(nn.Module):
    """Encoder -> (mu, log_var) -> reparameterised z -> decoder."""

    def __init__(self, config: VAEConfig = VAEConfig()) -> None:
        super().__init__()
        self.config = config
        self.encoder = Encoder(config)
        self.fc_mu = nn.Linear(config.enc_out_dim, config.latent_dim)
        self.fc_var = nn.Linear(config.enc_out_dim, config.latent_dim)
        self.decoder = Decoder(config)

    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Returns (encoder output h, posterior mean mu, log-variance)."""
        h = self.encoder(x)
        return h, self.fc_mu(h), self.fc_var(h)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """Returns (reconstruction, z, mu, log_var)."""
        _, mu, log_var = self.encode(x)
        std = torch.exp(0.5 * log_var)
        z = mu + std * torch.randn_like(std)  # reparameterisation trick (Kingma & Welling, sec. 2.4)
        return self.decoder(z), z, mu, log_var


def vae_config_dict(config: VAEConfig) -> dict:
    return {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(config).items()}


class VAEExtractor(FeatureExtractor):
    """Features from a trained :class:`VAE`: posterior means (``"mu"``) or encoder outputs (``"encoder"``)."""

    def __init__(self, model: VAE, name: str, features: str = "mu", device: str | torch.device = "cpu") -> None:
        if features not in ("mu", "encoder"):
            raise ValueError(f"features must be 'mu' or 'encoder', got {features!r}")
        self.model = model.eval().to(device)
        self.device = torch.device(device)
        self.features = features
        self.dim = model.config.latent_dim if features == "mu" else model.config.enc_out_dim
        self.name = name
        # The weights' own digest makes the cache key follow the trained model, not just its name.
        self.id = f"vae[{name}|{features}|{_state_digest(model)}]"

    def weights_label(self) -> str:
        return self.name

    @torch.no_grad()
    def __call__(self, images: torch.Tensor) -> torch.Tensor:
        size = self.model.config.image_size
        if images.shape[-2:] != (size, size):
            raise ValueError(f"this VAE takes {size}x{size} images, got {tuple(images.shape[-2:])}; load the data "
                             f"at resolution={size}")
        h, mu, _ = self.model.encode(images.to(self.device))
        return mu if self.features == "mu" else h


def _state_digest(model: nn.Module) -> str:
    import hashlib

    digest = hashlib.sha256()
    for name, tensor in sorted(model.state_dict().items()):
        digest.update(name.encode())
        digest.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    return digest.hexdigest()[:12]
