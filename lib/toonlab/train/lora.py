"""LoRA fine-tuning of Stable Diffusion (SD 1.x and SDXL) on captioned images, on the book's one loop.

The step is diffusers' text-to-image LoRA recipe (``examples/text_to_image/train_text_to_image_lora_sdxl.py``
and its SD 1.x sibling), written against the shared :class:`~toonlab.train.Trainer` so it gets accelerate,
mixed precision, atomic checkpoints and exact resume like every other model in the book:

1. frozen base in the training precision (fp16/bf16 under mixed precision), LoRA weights in fp32
   (``cast_training_params``); the VAE in fp32 unless it is the fp16-fix VAE (SDXL's own overflows in fp16);
2. latents ``z = VAE(x) * scaling_factor``, noise (optionally offset), ``t ~ U{0..T-1}``, ``z_t`` by the
   base's noise schedule (a ``DDPMScheduler`` from its config);
3. text conditioning: SD 1.x — the last hidden state of CLIP; SDXL — the penultimate hidden states of both
   encoders concatenated, plus encoder 2's pooled projection and the **micro-conditioning** ids
   ``(original_size, crop_top_left, target_size)`` of each image (SDXL paper §2.2), as the script builds them;
4. loss: MSE to the noise (or to ``v`` for v-prediction bases), optionally Min-SNR-γ weighted; gradients
   clipped, AdamW.

Checkpoints keep only the LoRA weights (:meth:`LoRATask.model_state`), not the gigabytes of frozen base.
:meth:`LoRATask.reduce_loss` is the hook for DreamBooth's prior preservation (chapter 08): the batch may
carry an ``is_prior`` mask and a subclass weighs those items' loss.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from accelerate import Accelerator
from PIL import Image
from torch import nn
from torch.utils.data import Dataset

from toonlab.data.images import to_rgb_on_white
from toonlab.diffusion.lora import (BaseSignature, LoRABaseMismatchError, LoRASpec, add_lora, base_signature,
                                   frozen_fingerprint, is_sdxl, save_lora, text_encoders)
from toonlab.train.loop import Task, Trainer, TrainConfig, TrainResult

LR_SCHEDULES = ("constant", "constant_with_warmup", "cosine")


@dataclass(frozen=True)
class LoRATrainConfig:
    """The LoRA step's hyperparameters; defaults are diffusers' SDXL LoRA script's."""

    lora: LoRASpec = field(default_factory=LoRASpec)
    resolution: int = 1024
    learning_rate: float = 1e-4
    text_encoder_lr: float | None = None  # None: the same as the UNet's
    lr_schedule: str = "constant"
    warmup_steps: int = 0
    adam_betas: tuple[float, float] = (0.9, 0.999)
    adam_weight_decay: float = 1e-2
    adam_epsilon: float = 1e-8
    max_grad_norm: float = 1.0
    noise_offset: float = 0.0
    snr_gamma: float | None = None  # Min-SNR weighting (Hang et al. 2023); None: plain MSE
    caption_dropout: float = 0.0  # share of captions replaced by "" (the script's proportion_empty_prompts)
    random_flip: bool = False
    vae_fp32: bool = True  # keep the VAE in fp32 under mixed precision (False only with the fp16-fix VAE)
    # 0: the whole batch in one pass; n: gradient accumulation over micro-batches of n within each step (the
    # scripts' --gradient_accumulation_steps: batch_size = train_batch_size x accumulation, micro_batch = the first)
    micro_batch: int = 0

    def __post_init__(self) -> None:
        if self.resolution < 8 or self.resolution % 8:
            raise ValueError(f"resolution must be a multiple of 8 (>= 8), got {self.resolution}")
        if self.lr_schedule not in LR_SCHEDULES:
            raise ValueError(f"lr_schedule must be one of {LR_SCHEDULES}, got {self.lr_schedule!r}")
        if self.learning_rate <= 0 or self.warmup_steps < 0 or not 0 <= self.caption_dropout < 1:
            raise ValueError("learning_rate must be > 0, warmup_steps >= 0 and caption_dropout in [0, 1)")
        if self.micro_batch < 0:
            raise ValueError(f"micro_batch must be >= 0 (0: no accumulation), got {self.micro_batch}")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def learning_rate_factor(schedule: str, step: int, total: int, warmup: int) -> float:
    """diffusers' ``get_scheduler`` shapes as a pure function of the step (a resumed run needs no state): the
    warmup is ``step / warmup`` exactly as diffusers writes it, so step 0 trains at learning rate 0."""
    if schedule == "constant":
        return 1.0
    if step < warmup:
        return step / max(1, warmup)
    if schedule == "constant_with_warmup":
        return 1.0
    progress = (step - warmup) / max(1, total - warmup)
    return 0.5 * (1.0 + math.cos(math.pi * min(1.0, progress)))


# ---------------------------------------------------------------------------------------------------
# data: captioned images with SDXL's size/crop bookkeeping


class CaptionedImages(Dataset):
    """Images with captions, prepared as the diffusers scripts prepare them: resize the short side to
    ``resolution`` (bilinear), centre crop, scale to [-1, 1]; each item remembers its original size and crop
    corner (SDXL's micro-conditioning). Centre crop keeps an item a pure function of its index (exact
    resume); random flips happen in the step, on the loop's restored RNG."""

    def __init__(self, images: Sequence[Image.Image], captions: Sequence[str], resolution: int) -> None:
        if len(images) != len(captions):
            raise ValueError(f"{len(images)} images but {len(captions)} captions; give one caption per image")
        if not images:
            raise ValueError("no training images; a LoRA needs at least one captioned image")
        bad = [i for i, c in enumerate(captions) if not isinstance(c, str)]
        if bad:
            raise ValueError(f"captions {bad[:5]} are not strings")
        self.images, self.captions, self.resolution = list(images), list(captions), resolution

    @classmethod
    def from_folder(cls, folder: str | Path, resolution: int) -> CaptionedImages:
        """``name.png`` / ``.jpg`` / ``.webp`` with a ``name.txt`` caption beside it (the kohya layout)."""
        folder = Path(folder)
        if not folder.is_dir():
            raise FileNotFoundError(f"training folder {folder} does not exist")
        paths = sorted(p for p in folder.iterdir() if p.suffix.lower() in (".png", ".jpg", ".jpeg", ".webp"))
        missing = [p.name for p in paths if not p.with_suffix(".txt").is_file()]
        if missing:
            raise FileNotFoundError(f"{len(missing)} images in {folder} have no caption file (first: {missing[:3]}); "
                                    "write one `<image name>.txt` per image")
        images = []
        for p in paths:
            with Image.open(p) as image:
                images.append(to_rgb_on_white(image))
        return cls(images, [p.with_suffix(".txt").read_text(encoding="utf-8").strip() for p in paths], resolution)

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, index: int) -> dict[str, Any]:
        image = to_rgb_on_white(self.images[index])
        original = (image.height, image.width)
        scale = self.resolution / min(image.size)
        size = (max(self.resolution, round(image.width * scale)), max(self.resolution, round(image.height * scale)))
        image = image.resize(size, Image.BILINEAR)
        top = max(0, int(round((image.height - self.resolution) / 2.0)))
        left = max(0, int(round((image.width - self.resolution) / 2.0)))
        image = image.crop((left, top, left + self.resolution, top + self.resolution))
        pixels = torch.from_numpy(np.asarray(image, dtype=np.float32) / 127.5 - 1.0).permute(2, 0, 1)
        return {"pixel_values": pixels, "caption": self.captions[index],
                "original_size": torch.tensor(original), "crop_top_left": torch.tensor((top, left))}


# ---------------------------------------------------------------------------------------------------
# the step


def slice_batch(batch: Mapping[str, Any], start: int, stop: int) -> dict[str, Any]:
    """Items ``start:stop`` of a collated batch (tensors and lists alike)."""
    return {key: value[start:stop] for key, value in batch.items()}


def weight_dtype(mixed_precision: str) -> torch.dtype:
    return {"fp16": torch.float16, "bf16": torch.bfloat16}.get(mixed_precision, torch.float32)


class LoRATask(Task):
    """LoRA on a diffusers SD or SDXL pipeline's UNet (and optionally its text encoders).

    ``pipe`` is modified in place (frozen, cast, adapters added); after training it is the base + LoRA.
    """

    def __init__(self, pipe: Any, config: LoRATrainConfig, total_steps: int, mixed_precision: str = "no",
                 init_seed: int = 0, base: BaseSignature | None = None) -> None:
        from diffusers import DDPMScheduler
        from diffusers.training_utils import cast_training_params

        self.pipe, self.config, self.total_steps = pipe, config, total_steps
        # The frozen base, recorded in every checkpoint: checkpoints hold only the adapters, so resuming them on
        # another base (same shapes, other weights) would silently train a LoRA for neither.
        self.base = base or base_signature(pipe)
        self.base_digest = frozen_fingerprint(pipe)  # before the cast below
        self.sdxl = is_sdxl(pipe.unet)
        self.dtype = weight_dtype(mixed_precision)
        self.noise_scheduler = DDPMScheduler.from_config(pipe.scheduler.config)
        # Frozen weights in the training precision; the VAE stays fp32 where it would overflow.
        for module, dtype in [(pipe.unet, self.dtype), (pipe.vae, torch.float32 if config.vae_fp32 else self.dtype),
                              *[(encoder, self.dtype) for encoder in text_encoders(pipe).values()]]:
            if module.dtype != dtype:
                module.to(dtype=dtype)
        with torch.random.fork_rng(devices=[]):  # the adapters' init must not shift the training stream
            torch.manual_seed(init_seed)
            self.models: dict[str, nn.Module] = self.make_trainable(pipe)
        cast_training_params(list(self.models.values()), dtype=torch.float32)  # trained weights stay in fp32
        groups = [{"params": [p for p in pipe.unet.parameters() if p.requires_grad], "lr": config.learning_rate,
                   "base_lr": config.learning_rate}]
        for name, module in self.models.items():
            if name != "unet":
                lr = config.text_encoder_lr or config.learning_rate
                groups.append({"params": [p for p in module.parameters() if p.requires_grad], "lr": lr, "base_lr": lr})
        self.optimizers = {"lora": self.make_optimizer(groups)}

    def make_trainable(self, pipe: Any) -> dict[str, nn.Module]:
        """Freeze the base, add the adapters; returns the models that train (the UNet first). DreamBooth's full
        fine-tuning (:mod:`toonlab.train.dreambooth`) overrides this."""
        add_lora(pipe, self.config.lora)
        models: dict[str, nn.Module] = {"unet": pipe.unet}
        if self.config.lora.text_encoders:
            models.update(text_encoders(pipe))
        return models

    def make_optimizer(self, groups: list[dict[str, Any]]) -> torch.optim.Optimizer:
        config = self.config
        return torch.optim.AdamW(groups, betas=config.adam_betas, weight_decay=config.adam_weight_decay,
                                 eps=config.adam_epsilon)

    # -- checkpoints keep the adapters only ------------------------------------------------------

    def model_state(self, name: str, module: nn.Module) -> dict[str, torch.Tensor]:
        return {k: v for k, v in module.state_dict().items() if "lora_" in k}

    def state_dict(self) -> dict[str, Any]:
        return {"base": self.base.to_dict(), "base_sha256": self.base_digest}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Refuse a checkpoint of another base (signature or frozen weights); one written before the base was
        recorded (no entry) is taken as is."""
        unknown = set(state) - {"base", "base_sha256"}
        if unknown:
            raise ValueError(f"{type(self).__name__} got extra state {sorted(unknown)} it does not know")
        if not state:
            return
        saved = BaseSignature.from_dict(state["base"])
        if saved != self.base or state["base_sha256"] != self.base_digest:
            raise LoRABaseMismatchError(
                f"this LoRA checkpoint was trained on another base model: {saved.describe()} (frozen weights "
                f"sha256 {state['base_sha256'][:12]}), but this run's base is {self.base.describe()} (frozen "
                f"weights sha256 {self.base_digest[:12]}); resume with the checkpoint's base, or train into a "
                "new folder")

    def load_model_state(self, name: str, module: nn.Module, state: Mapping[str, torch.Tensor]) -> None:
        expected = set(self.model_state(name, module))
        if set(state) != expected:
            raise RuntimeError(f"LoRA keys differ: {len(expected - set(state))} missing, "
                               f"{len(set(state) - expected)} unexpected (rank or targets changed?)")
        module.load_state_dict(state, strict=False)

    # -- pieces of the step ----------------------------------------------------------------------

    def _frozen_to(self, device: torch.device) -> None:
        for module in [self.pipe.vae, *text_encoders(self.pipe).values()]:
            if next(module.parameters()).device != device:
                module.to(device)

    def encode_prompts(self, captions: Sequence[str], device: torch.device) -> tuple[torch.Tensor, torch.Tensor | None]:
        """(hidden states, pooled) as the scripts compute them; pooled is None for SD 1.x."""
        tokenizers = [self.pipe.tokenizer] + ([self.pipe.tokenizer_2] if self.sdxl else [])
        # the prepared (possibly DDP-wrapped) modules where they train, so their gradients are synchronised
        encoders = [self.models.get(name, module) for name, module in text_encoders(self.pipe).items()]
        hidden, pooled = [], None
        for tokenizer, encoder in zip(tokenizers, encoders):
            ids = tokenizer(list(captions), padding="max_length", max_length=tokenizer.model_max_length,
                            truncation=True, return_tensors="pt").input_ids.to(device)
            if not self.sdxl:
                return encoder(ids)[0], None
            out = encoder(ids, output_hidden_states=True)
            hidden.append(out.hidden_states[-2])  # SDXL conditions on the penultimate layer
            pooled = out.text_embeds if hasattr(out, "text_embeds") else pooled  # encoder 2's projection
        return torch.cat(hidden, dim=-1), pooled

    def time_ids(self, batch: Mapping[str, Any], device: torch.device) -> torch.Tensor:
        """SDXL micro-conditioning: (original h, w, crop top, left, target h, w) per image."""
        target = torch.tensor([self.config.resolution, self.config.resolution], device=device)
        original = batch["original_size"].to(device)
        crop = batch["crop_top_left"].to(device)
        return torch.cat([original, crop, target.expand(len(original), 2)], dim=1).to(self.dtype)

    def reduce_loss(self, per_item: torch.Tensor, batch: Mapping[str, Any]) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """Mean over the batch; the hook where DreamBooth's prior preservation weighs class images (chapter 08)."""
        return per_item.mean(), {}

    def loss(self, batch: Mapping[str, Any], device: torch.device) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """The training loss of one (micro-)batch and extra values to log."""
        config = self.config
        pixels = batch["pixel_values"]
        if pixels.ndim != 4 or pixels.shape[1] != 3 or pixels.shape[-1] != config.resolution:
            raise ValueError(f"expected pixel batches (B, 3, {config.resolution}, {config.resolution}), "
                             f"got {tuple(pixels.shape)}")
        if config.random_flip:
            flip = torch.rand(pixels.shape[0], device=pixels.device) < 0.5
            pixels = torch.where(flip[:, None, None, None], pixels.flip(-1), pixels)
        vae = self.pipe.vae
        with torch.no_grad():
            latents = vae.encode(pixels.to(vae.dtype)).latent_dist.sample() * vae.config.scaling_factor
        latents = latents.to(self.dtype)
        noise = torch.randn_like(latents)
        if config.noise_offset:
            noise = noise + config.noise_offset * torch.randn(latents.shape[0], latents.shape[1], 1, 1,
                                                              device=device, dtype=latents.dtype)
        timesteps = torch.randint(0, self.noise_scheduler.config.num_train_timesteps, (latents.shape[0],),
                                  device=device).long()
        noisy = self.noise_scheduler.add_noise(latents, noise, timesteps)

        captions = list(batch["caption"])
        if config.caption_dropout:
            drop = (torch.rand(len(captions)) < config.caption_dropout).tolist()
            captions = ["" if d else c for c, d in zip(captions, drop)]
        with torch.set_grad_enabled(any(name != "unet" for name in self.models)):  # text encoders train
            hidden, pooled = self.encode_prompts(captions, device)
        kwargs = {}
        if self.sdxl:
            kwargs["added_cond_kwargs"] = {"text_embeds": pooled, "time_ids": self.time_ids(batch, device)}
        prediction = self.models["unet"](noisy, timesteps, hidden, return_dict=False, **kwargs)[0]

        if self.noise_scheduler.config.prediction_type == "v_prediction":
            target = self.noise_scheduler.get_velocity(latents, noise, timesteps)
        else:
            target = noise
        per_item = nn.functional.mse_loss(prediction.float(), target.float(), reduction="none").mean(dim=(1, 2, 3))
        if config.snr_gamma is not None:
            from diffusers.training_utils import compute_snr

            snr = compute_snr(self.noise_scheduler, timesteps)
            weights = torch.clamp(snr, max=config.snr_gamma) / snr
            if self.noise_scheduler.config.prediction_type == "v_prediction":
                weights = torch.clamp(snr, max=config.snr_gamma) / (snr + 1)
            per_item = per_item * weights
        return self.reduce_loss(per_item, batch)

    def train_step(self, batch: Mapping[str, Any], step: int, accelerator: Accelerator) -> Mapping[str, torch.Tensor]:
        config, device = self.config, accelerator.device
        self._frozen_to(device)
        optimizer = self.optimizers["lora"]
        factor = learning_rate_factor(config.lr_schedule, step, self.total_steps, config.warmup_steps)
        for group in optimizer.param_groups:
            group["lr"] = group["base_lr"] * factor
        size = len(batch["caption"])
        if not config.micro_batch or config.micro_batch >= size:
            loss, logs = self.loss(batch, device)
            accelerator.backward(loss)
        else:
            # Gradient accumulation inside one optimisation step: micro-batches of equal weight give the gradient
            # of the whole batch's mean loss (the UNet has no batch statistics), in a fraction of the memory.
            loss, logs = torch.zeros((), device=device), {}
            for start in range(0, size, config.micro_batch):
                part = slice_batch(batch, start, start + config.micro_batch)
                weight = len(part["caption"]) / size
                part_loss, part_logs = self.loss(part, device)
                accelerator.backward(part_loss * weight)
                loss = loss + part_loss.detach() * weight
                for key, value in part_logs.items():
                    logs[key] = logs.get(key, 0.0) + value.detach() * weight
        if accelerator.sync_gradients and config.max_grad_norm:
            params = [p for group in optimizer.param_groups for p in group["params"]]
            accelerator.clip_grad_norm_(params, config.max_grad_norm)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        return {"loss": loss.detach(), **{k: v.detach() for k, v in logs.items()}}


# ---------------------------------------------------------------------------------------------------
# a whole run


@dataclass
class LoRARun:
    trainer: Trainer
    result: TrainResult
    config: LoRATrainConfig
    weights: Path  # diffusers-format LoRA file (load with ``load_lora_weights`` / :func:`load_lora`)
    base: BaseSignature


def train_lora(pipe: Any, dataset: Dataset, config: LoRATrainConfig, train: TrainConfig, out_dir: str | Path, *,
               base_name: str = "", init_seed: int | None = None, callbacks: Sequence[Any] = ()) -> LoRARun:
    """Train (resume, or reload a finished run from ``out_dir``) a LoRA on ``pipe``; export it for diffusers.

    ``pipe`` ends up holding the trained adapters (named ``default``). The exported file is
    ``out_dir/pytorch_lora_weights.safetensors`` with the base model recorded in it.
    """
    if train.ema:
        raise ValueError("EMA of a LoRA run is not supported: the loop would copy the whole base model")
    base = base_signature(pipe, base_name)  # before any cast or adapter
    task = LoRATask(pipe, config, total_steps=train.steps, mixed_precision=train.mixed_precision,
                    init_seed=train.seed if init_seed is None else init_seed, base=base)
    trainer = Trainer(task, dataset, train, out_dir, callbacks=callbacks)
    result = trainer.fit()
    weights = Path(out_dir) / "pytorch_lora_weights.safetensors"
    if trainer.accelerator.is_main_process:
        save_lora(weights, pipe, base, config.lora, extra={"train": config.to_dict() | {"steps": train.steps}})
    trainer.accelerator.wait_for_everyone()
    return LoRARun(trainer, result, config, weights, base)


__all__ = ["CaptionedImages", "LR_SCHEDULES", "LoRARun", "LoRATask", "LoRATrainConfig", "learning_rate_factor",
           "slice_batch", "train_lora", "weight_dtype"]
