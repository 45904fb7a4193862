"""DreamBooth, LoRA and DreamBooth+LoRA on Stable Diffusion (1.x, and SDXL), on chapter 07's LoRA trainer.

The three methods of the Comics study (METHODS.md) are one task with a switch, :class:`FewShotTask`, a
:class:`~toonlab.train.lora.LoRATask` whose trainable part and loss reduction change:

* ``dreambooth`` — the whole UNet trains (and the text encoder with ``train_text_encoder``), diffusers'
  ``train_dreambooth.py``; checkpoints hold the full trained models;
* ``lora`` — peft LoRA adapters only, captions as prompts (diffusers' ``train_text_to_image_lora.py``, which the
  Comics LoRA run used), no prior preservation;
* ``dreambooth_lora`` — LoRA adapters trained on DreamBooth's data (the instance prompt with its rare
  identifier, class images when prior preservation is on): ``train_dreambooth_lora(_sdxl).py``.

**Prior preservation** (DreamBooth paper, eq. 2): each batch holds instance images with the instance prompt and
as many class images (generated once by the frozen model, :func:`toonlab.diffusion.fewshot.generate_class_images`)
with the class prompt; the loss is ``mean(instance MSE) + prior_loss_weight * mean(class MSE)``
(:func:`prior_preservation_loss`), what the script computes by chunking the concatenated prediction.

Every run is on the shared loop: atomic checkpoints every ``checkpoint_every`` steps, kept (``keep_checkpoints``)
so that :func:`use_checkpoint` can put any of them back into the pipeline and the quality curve over training
steps is measured after training, without retraining; exact resume after a kill.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from PIL import Image
from torch import nn
from torch.utils.data import Dataset

from toonlab import atomic
from toonlab.diffusion.lora import BaseSignature, base_signature, save_lora, text_encoders
from toonlab.train import checkpoint
from toonlab.train.loop import Trainer, TrainConfig, TrainResult
from toonlab.train.lora import CaptionedImages, LoRATask, LoRATrainConfig

METHODS = ("dreambooth", "lora", "dreambooth_lora")
OPTIMIZERS = ("adamw", "adamw8bit")
METHOD_LABELS = {"dreambooth": "DreamBooth", "lora": "LoRA", "dreambooth_lora": "DreamBooth+LoRA"}


@dataclass(frozen=True)
class FewShotConfig(LoRATrainConfig):
    """:class:`LoRATrainConfig` plus the method, DreamBooth's text-encoder switch, the prior weight, the optimizer."""

    method: str = "dreambooth"
    train_text_encoder: bool = False  # dreambooth: train the whole text encoder too (Comics: yes)
    prior_loss_weight: float = 1.0  # lambda of eq. 2 (diffusers' default 1.0)
    optimizer: str = "adamw"  # adamw | adamw8bit (bitsandbytes, CUDA; the Comics SDXL DreamBooth+LoRA run)

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.method not in METHODS:
            raise ValueError(f"method must be one of {METHODS}, got {self.method!r}")
        if self.optimizer not in OPTIMIZERS:
            raise ValueError(f"optimizer must be one of {OPTIMIZERS}, got {self.optimizer!r}")
        if self.prior_loss_weight < 0:
            raise ValueError(f"prior_loss_weight must be >= 0, got {self.prior_loss_weight}")
        if self.train_text_encoder and self.method != "dreambooth":
            raise ValueError("train_text_encoder trains the whole text encoder (method 'dreambooth'); for the LoRA "
                             "methods put adapters on it with lora=LoRASpec(text_encoders=True)")

    @property
    def full(self) -> bool:
        return self.method == "dreambooth"


# ---------------------------------------------------------------------------------------------------
# data


class DreamBoothImages(Dataset):
    """Instance images with the instance prompt, paired with class images and the class prompt (prior
    preservation) when given. Item ``i`` is instance ``i mod n`` and class image ``i mod m``; the length is
    ``max(n, m)`` — diffusers' ``DreamBoothDataset``."""

    def __init__(self, instance_images: Sequence[Image.Image], instance_prompt: str, resolution: int,
                 class_images: Sequence[Image.Image] = (), class_prompt: str | None = None) -> None:
        if not instance_prompt.strip():
            raise ValueError("the instance prompt is empty; e.g. 'a photo of sks toy'")
        if class_images and not class_prompt:
            raise ValueError("class images need their class prompt (e.g. 'a photo of toy')")
        self.instance = CaptionedImages(list(instance_images), [instance_prompt] * len(instance_images), resolution)
        self.classes = (CaptionedImages(list(class_images), [class_prompt] * len(class_images), resolution)
                        if class_images else None)
        self.resolution = resolution

    @property
    def prior_preservation(self) -> bool:
        return self.classes is not None

    def __len__(self) -> int:
        return max(len(self.instance), len(self.classes) if self.classes else 0)

    def __getitem__(self, index: int) -> dict[str, Any]:
        item = self.instance[index % len(self.instance)]
        if self.classes is not None:
            prior = self.classes[index % len(self.classes)]
            item.update({f"class_{key}": value for key, value in prior.items()})
        return item


def merge_prior(batch: Mapping[str, Any]) -> dict[str, Any]:
    """Instance and class halves of a batch concatenated (instance first) with an ``is_prior`` mask."""
    keys = [k for k in batch if not k.startswith("class_")]
    n = len(batch["caption"])
    if "class_caption" not in batch:
        return {**{k: batch[k] for k in keys}, "is_prior": torch.zeros(n, dtype=torch.bool)}
    merged: dict[str, Any] = {}
    for key in keys:
        first, second = batch[key], batch[f"class_{key}"]
        merged[key] = torch.cat([first, second]) if isinstance(first, torch.Tensor) else list(first) + list(second)
    merged["is_prior"] = torch.cat([torch.zeros(n, dtype=torch.bool), torch.ones(len(batch["class_caption"]),
                                                                                  dtype=torch.bool)])
    return merged


def prior_preservation_loss(per_item: torch.Tensor, is_prior: torch.Tensor,
                            prior_loss_weight: float) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """DreamBooth's eq. 2 on per-image losses: mean over instance items + weight x mean over class items."""
    is_prior = is_prior.to(per_item.device).bool()
    if not is_prior.any():
        return per_item.mean(), {}
    if is_prior.all():
        raise ValueError("a prior-preservation batch holds no instance images")
    instance, prior = per_item[~is_prior].mean(), per_item[is_prior].mean()
    return instance + prior_loss_weight * prior, {"instance_loss": instance, "prior_loss": prior}


# ---------------------------------------------------------------------------------------------------
# the task


class FewShotTask(LoRATask):
    """One of :data:`METHODS` on a diffusers SD / SDXL pipeline (modified in place, like :class:`LoRATask`)."""

    config: FewShotConfig

    def make_trainable(self, pipe: Any) -> dict[str, nn.Module]:
        if not self.config.full:
            return super().make_trainable(pipe)
        pipe.vae.requires_grad_(False)
        pipe.unet.requires_grad_(True)
        models: dict[str, nn.Module] = {"unet": pipe.unet}
        for name, encoder in text_encoders(pipe).items():
            encoder.requires_grad_(self.config.train_text_encoder)
            if self.config.train_text_encoder:
                models[name] = encoder
        return models

    def make_optimizer(self, groups: list[dict[str, Any]]) -> torch.optim.Optimizer:
        if self.config.optimizer == "adamw":
            return super().make_optimizer(groups)
        try:
            import bitsandbytes as bnb
        except ImportError as error:
            raise ImportError("optimizer 'adamw8bit' needs bitsandbytes (and a CUDA GPU): pip install bitsandbytes, "
                              "or use optimizer 'adamw'") from error
        config = self.config
        return bnb.optim.AdamW8bit(groups, betas=config.adam_betas, weight_decay=config.adam_weight_decay,
                                   eps=config.adam_epsilon)

    # DreamBooth checkpoints hold the whole trained models; the LoRA methods only the adapters
    def model_state(self, name: str, module: nn.Module) -> dict[str, torch.Tensor]:
        return module.state_dict() if self.config.full else super().model_state(name, module)

    def load_model_state(self, name: str, module: nn.Module, state: Mapping[str, torch.Tensor]) -> None:
        if self.config.full:
            module.load_state_dict(state)
        else:
            super().load_model_state(name, module, state)

    def loss(self, batch: Mapping[str, Any], device: torch.device) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        return super().loss(merge_prior(batch), device)

    def reduce_loss(self, per_item: torch.Tensor, batch: Mapping[str, Any]) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        return prior_preservation_loss(per_item, batch["is_prior"], self.config.prior_loss_weight)


# ---------------------------------------------------------------------------------------------------
# a whole run


@dataclass
class FewShotRun:
    trainer: Trainer
    result: TrainResult | None  # None when training diverged
    config: FewShotConfig
    weights: list[Path]  # what the method saves: the LoRA file, or the trained models' safetensors
    base: BaseSignature
    diverged: str | None = None  # the non-finite-loss error, when training diverged

    @property
    def task(self) -> FewShotTask:
        return self.trainer.task  # type: ignore[return-value]

    @property
    def saved_bytes(self) -> int:
        return sum(path.stat().st_size for path in self.weights)

    def checkpoints(self) -> list[tuple[int, Path]]:
        """(step, path) of every kept checkpoint, oldest first."""
        return checkpoint.list_checkpoints(self.trainer.checkpoint_dir)


def save_full_models(out_dir: Path, models: Mapping[str, nn.Module]) -> list[Path]:
    """Each trained model in diffusers' folder layout (``unet/diffusion_pytorch_model.safetensors`` + config), the
    weights written atomically; ``from_pretrained(out_dir / name)`` loads them."""
    from safetensors.torch import save_file

    paths = []
    for name, module in models.items():
        folder = out_dir / name
        folder.mkdir(parents=True, exist_ok=True)
        weight_name = "model.safetensors" if name.startswith("text_encoder") else "diffusion_pytorch_model.safetensors"
        state = {k: v.detach().contiguous() for k, v in module.state_dict().items()}
        with atomic.atomic_path(folder / weight_name) as tmp:
            save_file(state, str(tmp), metadata={"format": "pt"})
        config = module.config.to_dict() if hasattr(module.config, "to_dict") else dict(module.config)
        atomic.write_text(folder / "config.json", json.dumps(config, indent=2, sort_keys=True, default=str))
        paths.append(folder / weight_name)
    return paths


def train_fewshot(pipe: Any, dataset: Dataset, config: FewShotConfig, train: TrainConfig, out_dir: str | Path, *,
                  base_name: str = "", init_seed: int | None = None, callbacks: Sequence[Any] = ()) -> FewShotRun:
    """Train (resume, or reload a finished run from ``out_dir``) one method; save what it produces.

    A run whose loss becomes non-finite stops there (the loop raises at the next log step): the pipeline keeps
    the diverged weights, ``result`` is None and ``diverged`` says at which step — the learning-rate sweep
    reports what such a model generates (NaN images) instead of failing.
    """
    if train.ema:
        raise ValueError("EMA is not supported for few-shot runs (the sources use none)")
    if config.method == "lora" and getattr(dataset, "prior_preservation", False):
        raise ValueError("the 'lora' method (text-to-image script) has no prior preservation; use "
                         "'dreambooth_lora' with class images")
    out_dir = Path(out_dir)
    base = base_signature(pipe, base_name)
    task = FewShotTask(pipe, config, total_steps=train.steps, mixed_precision=train.mixed_precision,
                       init_seed=train.seed if init_seed is None else init_seed, base=base)
    trainer = Trainer(task, dataset, train, out_dir, callbacks=callbacks)
    try:
        result, diverged = trainer.fit(), None
    except FloatingPointError as error:
        result, diverged = None, str(error)
    weights: list[Path] = []
    if diverged is None and trainer.accelerator.is_main_process:
        if config.full:
            weights = save_full_models(out_dir / "model", {n: trainer.unwrap(n) for n in task.models})
        else:
            weights = [save_lora(out_dir / "pytorch_lora_weights.safetensors", pipe, base, config.lora,
                                 extra={"train": config.to_dict() | {"steps": train.steps}})]
    trainer.accelerator.wait_for_everyone()
    return FewShotRun(trainer, result, config, weights, base, diverged)


def use_checkpoint(run: FewShotRun, path: str | Path) -> int:
    """Put a checkpoint's trained weights (full models or adapters) back into the run's pipeline; returns its
    step. The pipeline then generates as the model did at that step — no retraining."""
    state = checkpoint.load(path)
    for name in run.task.models:
        Trainer._load_module(run.trainer.unwrap(name), state["models"], name, path, run.task.load_model_state)
    return int(state["step"])


def trainable_parameters(models: Mapping[str, nn.Module]) -> int:
    return sum(p.numel() for module in models.values() for p in module.parameters() if p.requires_grad)


# ---------------------------------------------------------------------------------------------------
# the Comics study's three runs (METHODS.md, "Comics"), as presets


@dataclass(frozen=True)
class Preset:
    """One source run: the base model's zoo role, the method's config, the loop's settings, the prompt."""

    name: str
    role: str
    config: FewShotConfig
    steps: int
    batch_size: int  # per optimisation step (train batch x gradient accumulation)
    checkpoint_every: int
    instance_prompt: str
    class_prompt: str | None
    note: str

    def train_config(self, seed: int = 0, **overrides: Any) -> TrainConfig:
        values = dict(steps=self.steps, batch_size=self.batch_size, seed=seed, checkpoint_every=self.checkpoint_every,
                      log_every=min(self.checkpoint_every, 10), keep_checkpoints=self.steps // self.checkpoint_every + 1)
        values.update(overrides)
        return TrainConfig(**values)


COMICS_PRESETS: dict[str, Preset] = {
    "dreambooth": Preset(
        "DreamBooth (Comics)", "sd15",
        FewShotConfig(method="dreambooth", resolution=512, learning_rate=1e-6, train_text_encoder=True,
                      prior_loss_weight=1.0, max_grad_norm=1.0, adam_weight_decay=1e-2),
        steps=2000, batch_size=2, checkpoint_every=200,
        instance_prompt="a picture of UnicornGirl", class_prompt="a picture of a girl",
        note="SD 1.5, prior preservation, 512 px, batch 2, 2,000 steps, lr 1e-6, text encoder trained, "
             "checkpoints every 200 (the class prompt is not recorded; ours)"),
    "lora": Preset(
        "LoRA (Comics)", "sd14",
        FewShotConfig(method="lora", resolution=512, learning_rate=1e-5, lr_schedule="cosine", micro_batch=6),
        steps=1000, batch_size=60, checkpoint_every=100,
        instance_prompt="a picture of UnicornGirl", class_prompt=None,
        note="SD 1.4 text-to-image LoRA, batch 6 x gradient accumulation 10, lr 1e-5 cosine, 1,000 steps "
             "(the source stopped at 387); rank 4 (the script's default)"),
    "dreambooth_lora": Preset(
        "DreamBooth+LoRA (Comics)", "sdxl",
        FewShotConfig(method="dreambooth_lora", resolution=512, learning_rate=1e-4, optimizer="adamw8bit",
                      micro_batch=1, vae_fp32=False),
        steps=1800, batch_size=2, checkpoint_every=200,
        instance_prompt="a picture of UnicornGirl", class_prompt=None,
        note="SDXL, no prior preservation, 512 px, batch 1 x gradient accumulation 2, lr 1e-4, 8-bit Adam, "
             "1,800 steps; rank 4 (the script's default)"),
}


__all__ = ["COMICS_PRESETS", "DreamBoothImages", "FewShotConfig", "FewShotRun", "FewShotTask", "METHODS",
           "METHOD_LABELS", "OPTIMIZERS", "Preset", "merge_prior", "prior_preservation_loss", "save_full_models",
           "train_fewshot", "trainable_parameters", "use_checkpoint"]
