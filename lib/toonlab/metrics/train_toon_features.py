"""Train the toon-feature classifier: ``python -m toonlab.metrics.train_toon_features``.

Data (all offline, from :mod:`toonlab.data`):

- ``emoji`` at 64 px, 9 categories; a seeded 10 % of it is held out;
- ``avatars`` seed 0 (training) and seed 1 (held out: other draws of the same generator), with ten
  attribute labels each (mouth, eyes, eyebrows, glasses, facial hair, skin, hair, hair colour, clothing,
  clothing colour).

One multi-task network: every image trains the heads that apply to it (an emoji has no mouth label) with
cross-entropy; light augmentation (horizontal flip, ±4 px translation). It runs on the shared training
loop (:mod:`toonlab.train`), so a killed run resumes exactly from its last checkpoint. At the end it
writes the frozen weights (safetensors) and a record with their sha256 and the held-out accuracy.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F

from toonlab import atomic
from toonlab.data.manifest import sha256_file
from toonlab.metrics.toon_features import (
    AVATAR_ATTRIBUTES,
    EMOJI_HEAD,
    IGNORE,
    RECORD_FILE,
    WEIGHTS_FILE,
    ToonConfig,
    ToonNet,
)
from toonlab.train import Task, TrainConfig, Trainer


@dataclass
class ToonTrainingConfig:
    """Everything that determines the trained weights (recorded beside them)."""

    seed: int = 0
    steps: int = 1500
    batch_size: int = 64
    lr: float = 2e-3
    weight_decay: float = 1e-4
    warmup_steps: int = 100
    resolution: int = 64
    channels: tuple[int, ...] = (16, 32, 64, 128)
    avatars_train: int = 4000
    avatars_heldout: int = 600
    emoji_heldout_fraction: float = 0.1


# ---------------------------------------------------------------------------------------------------
# data


class LabelledImages(torch.utils.data.Dataset):
    """uint8 images with one target per head (``IGNORE`` where the head does not apply)."""

    def __init__(self, images: torch.Tensor, targets: torch.Tensor) -> None:
        if len(images) != len(targets):
            raise ValueError(f"{len(images)} images but {len(targets)} target rows")
        self.images, self.targets = images, targets

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        return self.images[index], self.targets[index]


def _uint8_stack(dataset: Any, indices: Sequence[int]) -> torch.Tensor:
    return torch.stack([dataset.uint8(i) for i in indices])


def build_datasets(config: ToonTrainingConfig, progress: bool = True
                   ) -> tuple[ToonConfig, LabelledImages, LabelledImages, dict[str, int]]:
    """(network config with the label spaces, training set, held-out set, counts)."""
    from toonlab import data

    emoji = data.load_images("emoji", config.resolution, seed=config.seed, progress=progress)
    avatars_train = data.load_images("avatars", config.resolution, limit=config.avatars_train, seed=config.seed,
                                     progress=progress)
    avatars_heldout = data.load_images("avatars", config.resolution, limit=config.avatars_heldout,
                                       seed=config.seed + 1, progress=progress)

    heads = {EMOJI_HEAD: list(emoji.classes)}
    for name in AVATAR_ATTRIBUTES:
        heads[name] = sorted({str(a[name]) for a in avatars_train.attributes})
    network = ToonConfig(resolution=config.resolution, channels=tuple(config.channels), heads=heads)
    names = list(heads)

    generator = torch.Generator().manual_seed(config.seed)
    order = torch.randperm(len(emoji), generator=generator).tolist()
    n_heldout = max(1, round(len(emoji) * config.emoji_heldout_fraction))
    emoji_split = {"heldout": sorted(order[:n_heldout]), "train": sorted(order[n_heldout:])}

    def emoji_targets(indices: Sequence[int]) -> torch.Tensor:
        targets = torch.full((len(indices), len(names)), IGNORE, dtype=torch.long)
        targets[:, 0] = torch.tensor([emoji.labels[i] for i in indices])
        return targets

    def avatar_targets(dataset: Any) -> torch.Tensor:
        targets = torch.full((len(dataset), len(names)), IGNORE, dtype=torch.long)
        for column, name in enumerate(names[1:], start=1):
            index = {label: i for i, label in enumerate(heads[name])}
            # a held-out value never seen in training stays IGNORE: no head can predict it
            targets[:, column] = torch.tensor([index.get(str(a[name]), IGNORE) for a in dataset.attributes])
        return targets

    train = LabelledImages(
        torch.cat([_uint8_stack(emoji, emoji_split["train"]), _uint8_stack(avatars_train, range(len(avatars_train)))]),
        torch.cat([emoji_targets(emoji_split["train"]), avatar_targets(avatars_train)]),
    )
    heldout = LabelledImages(
        torch.cat([_uint8_stack(emoji, emoji_split["heldout"]),
                   _uint8_stack(avatars_heldout, range(len(avatars_heldout)))]),
        torch.cat([emoji_targets(emoji_split["heldout"]), avatar_targets(avatars_heldout)]),
    )
    counts = {"emoji_train": len(emoji_split["train"]), "emoji_heldout": n_heldout,
              "avatars_train": len(avatars_train), "avatars_heldout": len(avatars_heldout)}
    return network, train, heldout, counts


# ---------------------------------------------------------------------------------------------------
# training


def augment(images: torch.Tensor) -> torch.Tensor:
    """Random horizontal flip and a random shift of up to 4 px (white fill: the sets' background)."""
    # drawn on the images' device (the default generator there, seeded by the loop and captured in its
    # checkpoints), so a CUDA batch needs no host round trip; on CPU the stream is the one it always was
    flip = torch.rand(len(images), device=images.device) < 0.5
    images = torch.where(flip[:, None, None, None], images.flip(-1), images)
    padded = F.pad(images, (4, 4, 4, 4), value=1.0)
    size = images.shape[-1]
    shifts = torch.randint(0, 9, (len(images), 2))
    return torch.stack([padded[i, :, dy:dy + size, dx:dx + size] for i, (dy, dx) in enumerate(shifts.tolist())])


def multitask_loss(logits: Mapping[str, torch.Tensor], targets: torch.Tensor, heads: Sequence[str]) -> torch.Tensor:
    """Sum over heads of the mean cross-entropy over the images that head applies to."""
    total = logits[heads[0]].new_zeros(())
    for column, name in enumerate(heads):
        if (targets[:, column] != IGNORE).any():
            total = total + F.cross_entropy(logits[name], targets[:, column], ignore_index=IGNORE)
    return total


class ToonTask(Task):
    """One AdamW step of the multi-task loss; the learning rate is a pure function of the step
    (linear warm-up, cosine decay), so resuming needs no scheduler state."""

    def __init__(self, network: ToonNet, config: ToonTrainingConfig) -> None:
        self.config = config
        self.heads = list(network.config.heads)
        self.models = {"net": network}
        self.optimizers = {"opt": torch.optim.AdamW(network.parameters(), lr=config.lr,
                                                    weight_decay=config.weight_decay)}

    def learning_rate(self, step: int) -> float:
        config = self.config
        if step < config.warmup_steps:
            return config.lr * (step + 1) / config.warmup_steps
        progress = (step - config.warmup_steps) / max(1, config.steps - config.warmup_steps)
        return config.lr * 0.5 * (1.0 + math.cos(math.pi * min(1.0, progress)))

    def train_step(self, batch: Any, step: int, accelerator: Any) -> dict[str, torch.Tensor]:
        images, targets = batch
        images = augment(images.float().div_(255.0))
        optimizer = self.optimizers["opt"]
        for group in optimizer.param_groups:
            group["lr"] = self.learning_rate(step)
        loss = multitask_loss(self.models["net"].logits(images), targets, self.heads)
        optimizer.zero_grad(set_to_none=True)
        accelerator.backward(loss)
        optimizer.step()
        return {"loss": loss.detach()}


@torch.inference_mode()
def heldout_accuracy(network: ToonNet, heldout: LabelledImages, batch_size: int = 256) -> dict[str, dict[str, float]]:
    """Accuracy and image count per head on the held-out images that head applies to."""
    network.eval()
    heads = list(network.config.heads)
    correct, counted = torch.zeros(len(heads)), torch.zeros(len(heads))
    for start in range(0, len(heldout), batch_size):
        images = heldout.images[start:start + batch_size].float().div_(255.0)
        targets = heldout.targets[start:start + batch_size]
        logits = network.logits(images)
        for column, name in enumerate(heads):
            valid = targets[:, column] != IGNORE
            correct[column] += (logits[name].argmax(1)[valid] == targets[valid, column]).sum()
            counted[column] += valid.sum()
    return {name: {"accuracy": round(float(correct[i] / counted[i]), 4), "images": int(counted[i]),
                   "chance (majority class)": None}
            for i, name in enumerate(heads) if counted[i] > 0}


def majority_baseline(train: LabelledImages, heldout: LabelledImages, heads: Sequence[str]) -> dict[str, float]:
    """Held-out accuracy of always predicting the most frequent training class: the floor to beat."""
    baseline = {}
    for column, name in enumerate(heads):
        train_labels = train.targets[:, column][train.targets[:, column] != IGNORE]
        held = heldout.targets[:, column][heldout.targets[:, column] != IGNORE]
        if len(train_labels) and len(held):
            majority = torch.bincount(train_labels).argmax()
            baseline[name] = round(float((held == majority).float().mean()), 4)
    return baseline


def train(config: ToonTrainingConfig, weights_path: Path, record_path: Path, work_dir: Path,
          progress: bool = True) -> dict[str, Any]:
    """Train (resuming from ``work_dir`` if a run was interrupted), then write weights and record."""
    torch.manual_seed(config.seed)
    network_config, train_set, heldout, counts = build_datasets(config, progress)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(config.seed)
        network = ToonNet(network_config)
    task = ToonTask(network, config)
    loop = TrainConfig(steps=config.steps, batch_size=config.batch_size, seed=config.seed,
                       checkpoint_every=250, log_every=50, progress=progress)
    start = time.perf_counter()
    result = Trainer(task, train_set, loop, work_dir).fit()
    wall = time.perf_counter() - start

    trained = task.models["net"]
    trained = getattr(trained, "module", trained)
    accuracy = heldout_accuracy(trained, heldout)
    baseline = majority_baseline(train_set, heldout, list(network_config.heads))
    for name, entry in accuracy.items():
        entry["chance (majority class)"] = baseline.get(name)

    from toonlab.train.checkpoint import save_weights

    save_weights(weights_path, trained.eval(), network_config.to_dict())
    parameters = sum(p.numel() for p in trained.parameters())
    record = {
        "file": WEIGHTS_FILE,
        "sha256": sha256_file(weights_path),
        "bytes": weights_path.stat().st_size,
        "parameters": parameters,
        "heldout_accuracy": accuracy,
        "heldout_note": ("emoji: a seeded 10% of the emoji set never trained on; avatars: 600 draws of seed 1 "
                         "(training used seed 0). Accuracy per head over the held-out images it applies to."),
        "training": {**{k: (list(v) if isinstance(v, tuple) else v) for k, v in vars(config).items()},
                     "data": counts, "final_loss": result.history.last().get("loss"),
                     "wall_time_s_last_session": round(wall, 1), "resumed_from_step": result.resumed_from,
                     "device": "cpu", "torch": torch.__version__},
        "comparable_to": "this book's chapters only (FD-toon / KID-toon are not FID / KID)",
        "command": "python -m toonlab.metrics.train_toon_features",
    }
    atomic.write_json(record_path, record)
    return record


def main(argv: list[str] | None = None) -> int:
    from toonlab.paths import cache_dir, repo_root

    defaults = ToonTrainingConfig()
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=defaults.steps, help="optimisation steps")
    parser.add_argument("--batch-size", type=int, default=defaults.batch_size, help="images per step")
    parser.add_argument("--seed", type=int, default=defaults.seed, help="seed for data split, init and order")
    parser.add_argument("--avatars", type=int, default=defaults.avatars_train, help="training avatars (seed 0)")
    parser.add_argument("--out", type=Path, default=None, help=f"weights file (default {WEIGHTS_FILE})")
    parser.add_argument("--record", type=Path, default=None, help=f"record file (default {RECORD_FILE})")
    parser.add_argument("--work-dir", type=Path, default=None,
                        help="checkpoints for resuming (default: .cache/toon_features/<settings>)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bars")
    args = parser.parse_args(argv)

    config = ToonTrainingConfig(seed=args.seed, steps=args.steps, batch_size=args.batch_size,
                                avatars_train=args.avatars)
    # one checkpoint folder per complete setting, so a resume never meets a run of other settings
    settings = json.dumps({k: list(v) if isinstance(v, tuple) else v for k, v in vars(config).items()}, sort_keys=True)
    key = f"seed{config.seed}-steps{config.steps}-{hashlib.sha256(settings.encode()).hexdigest()[:10]}"
    work_dir = args.work_dir or cache_dir("toon_features", key)
    weights = args.out or repo_root() / WEIGHTS_FILE
    record_path = args.record or repo_root() / RECORD_FILE
    record = train(config, weights, record_path, work_dir, progress=not args.no_progress)
    print(json.dumps({k: record[k] for k in ("sha256", "bytes", "parameters", "heldout_accuracy")}, indent=2))
    print(f"now set weights: toon_features: sha256: {record['sha256']} in data/registry.yaml")
    return 0


if __name__ == "__main__":
    sys.exit(main())
