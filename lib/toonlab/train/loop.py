"""One training loop for every model in toonlab (GANs here, the VAE and the DDPM later).

The loop knows nothing about any model: a :class:`Task` owns the networks and optimizers and performs one
optimisation step on a batch; the :class:`Trainer` does everything around it, identically for all tasks:

* ``accelerate`` for devices, multi-GPU (``accelerate launch``) and mixed precision;
* batches that are a pure function of the step (:mod:`toonlab.train.data`);
* EMA copies of chosen models (:mod:`toonlab.train.ema`);
* atomic safetensors checkpoints of models, optimizers, EMA, task state, loss log and RNG states, and
  exact resume from the newest one (:mod:`toonlab.train.checkpoint`);
* the loss log, a progress bar, and periodic callbacks (sample grids, FID/KID over training) that run
  with the RNG isolated, so watching a run never changes it.

On CPU a run killed after a checkpoint and resumed logs exactly the same losses as an uninterrupted run.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from accelerate import Accelerator
from accelerate.utils import gather_object, send_to_device, set_seed
from torch import nn
from torch.utils.data import Dataset
from tqdm.auto import tqdm

from toonlab import atomic
from toonlab.train import checkpoint, rng
from toonlab.train.data import step_loader
from toonlab.train.ema import EMA
from toonlab.train.history import LossLog, check_finite

log = logging.getLogger(__name__)

MIXED_PRECISION = ("no", "fp16", "bf16")


@dataclass
class TrainConfig:
    """What the loop needs to know; model hyperparameters live in the task's own config."""

    steps: int  # optimisation steps in total (a resumed run continues up to this)
    batch_size: int  # per process
    seed: int = 0
    mixed_precision: str = "no"  # no | fp16 | bf16 (passed to accelerate)
    ema: dict[str, float] = field(default_factory=dict)  # model name -> EMA decay, e.g. {"G": 0.999}
    checkpoint_every: int = 500  # steps between checkpoints (the last step always checkpoints)
    keep_checkpoints: int = 2  # older checkpoints are deleted
    log_every: int = 10  # steps averaged into one loss-log entry
    num_workers: int = 0  # DataLoader workers
    progress: bool = True  # tqdm progress bar on the main process
    # DDP (under `accelerate launch`): GAN steps leave parameters unused in some passes (FastGAN's decoders
    # on fakes) and keep per-process BatchNorm statistics, as rosinality's train.py does
    find_unused_parameters: bool = True
    broadcast_buffers: bool = False

    def __post_init__(self) -> None:
        for name in ("steps", "batch_size", "checkpoint_every", "log_every"):
            if getattr(self, name) < 1:
                raise ValueError(f"TrainConfig.{name} must be >= 1, got {getattr(self, name)}")
        if self.mixed_precision not in MIXED_PRECISION:
            raise ValueError(f"mixed_precision must be one of {MIXED_PRECISION}, got {self.mixed_precision!r}")
        if self.checkpoint_every % self.log_every:
            raise ValueError(
                f"checkpoint_every ({self.checkpoint_every}) must be a multiple of log_every ({self.log_every}) "
                "so that a checkpoint never splits a logging window (exact resume)"
            )
        for name, decay in self.ema.items():
            if not 0.0 <= decay < 1.0:
                raise ValueError(f"EMA decay for {name!r} must be in [0, 1), got {decay}")


class Task:
    """The model-specific half of training. Subclasses set ``models`` and ``optimizers`` and define
    :meth:`train_step`; the trainer wraps both dicts' values with ``accelerator.prepare`` in place."""

    models: dict[str, nn.Module]
    optimizers: dict[str, torch.optim.Optimizer]

    def train_step(self, batch: Any, step: int, accelerator: Accelerator) -> Mapping[str, torch.Tensor]:
        """One optimisation step on ``batch``; returns detached scalar losses to log. ``step`` counts from 0."""
        raise NotImplementedError

    def model_state(self, name: str, module: nn.Module) -> dict[str, torch.Tensor]:
        """What a checkpoint keeps of model ``name``: all of it by default; a LoRA task keeps only its adapters
        (the frozen base is the same at every step and can be gigabytes)."""
        return module.state_dict()

    def load_model_state(self, name: str, module: nn.Module, state: Mapping[str, torch.Tensor]) -> None:
        """Inverse of :meth:`model_state`; a mismatch raises (the loop turns it into a clear error)."""
        module.load_state_dict(state)

    def state_dict(self) -> dict[str, Any]:
        """Extra state to checkpoint (running means and the like); tensors and JSON values."""
        return {}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        if state:
            raise ValueError(f"{type(self).__name__} got extra state {sorted(state)} it does not know")


class Callback:
    """Runs every ``every`` steps (and after the last) on the main process, RNG isolated, under
    ``torch.no_grad()``.

    Return a mapping of numbers to add them to the loss log (e.g. ``{"fid": 41.2}``).
    """

    every: int = 100
    at_start: bool = False  # also run before the first step of a fresh run

    def __call__(self, trainer: Trainer, step: int) -> Mapping[str, float] | None:
        raise NotImplementedError


@dataclass
class TrainResult:
    step: int
    resumed_from: int | None
    history: LossLog
    checkpoint: Path | None


class Trainer:
    """Runs a :class:`Task` on a dataset for ``config.steps`` steps, resuming from ``out_dir`` if it can."""

    def __init__(self, task: Task, dataset: Dataset, config: TrainConfig, out_dir: str | Path,
                 callbacks: Sequence[Callback] = (), accelerator: Accelerator | None = None) -> None:
        missing = [name for name in config.ema if name not in task.models]
        if missing:
            raise ValueError(f"EMA requested for {missing} but the task's models are {sorted(task.models)}")
        self.task, self.dataset, self.config = task, dataset, config
        self.out_dir = Path(out_dir)
        self.checkpoint_dir = self.out_dir / "checkpoints"
        self.callbacks = list(callbacks)
        self.accelerator = accelerator or _make_accelerator(config)
        self.step = 0
        self.history = LossLog()
        self.ema: dict[str, EMA] = {}
        self._prepared = False

    # -- models ---------------------------------------------------------------------------------

    def unwrap(self, name: str) -> nn.Module:
        return self.accelerator.unwrap_model(self.task.models[name])

    def model(self, name: str, ema: bool = True) -> nn.Module:
        """The EMA copy of a model if there is one (what one samples from), else the live model."""
        if ema and name in self.ema:
            return self.ema[name].module
        return self.unwrap(name)

    def export(self, name: str, path: str | Path, config: Mapping[str, Any] | None = None,
               ema: bool = True) -> Path:
        """Save one trained model (its EMA copy by default) as a weights-only safetensors file."""
        path = Path(path)
        if self.accelerator.is_main_process:
            checkpoint.save_weights(path, self.model(name, ema), config)
        self.accelerator.wait_for_everyone()
        return path

    def _prepare(self) -> None:
        if self._prepared:
            return
        names = list(self.task.models), list(self.task.optimizers)
        prepared = self.accelerator.prepare(*self.task.models.values(), *self.task.optimizers.values())
        if not isinstance(prepared, tuple):
            prepared = (prepared,)
        self.task.models = dict(zip(names[0], prepared[: len(names[0])]))
        self.task.optimizers = dict(zip(names[1], prepared[len(names[0]):]))
        self.ema = {name: EMA(self.unwrap(name), decay) for name, decay in self.config.ema.items()}
        self._prepared = True

    # -- checkpoints ----------------------------------------------------------------------------

    def _state(self) -> dict[str, Any]:
        scaler = self.accelerator.scaler
        return {
            "step": self.step,
            "config": {"batch_size": self.config.batch_size, "seed": self.config.seed,
                       "world_size": self.accelerator.num_processes, "log_every": self.config.log_every},
            "models": {name: self.task.model_state(name, self.unwrap(name)) for name in self.task.models},
            "optimizers": {name: opt.state_dict() for name, opt in self.task.optimizers.items()},
            "ema": {name: e.module.state_dict() for name, e in self.ema.items()},
            "task": self.task.state_dict(),
            "history": self.history.state_dict(),
            "scaler": scaler.state_dict() if scaler is not None else None,
        }

    def save_checkpoint(self) -> Path:
        # Every process's generators go into the one file, so each resumes its own random stream.
        rng_states = gather_object([rng.capture()]) if self.accelerator.num_processes > 1 else [rng.capture()]
        path = checkpoint.step_path(self.checkpoint_dir, self.step)
        if self.accelerator.is_main_process:
            state = self._state()
            state["rng"] = rng_states
            checkpoint.save(path, state)
            atomic.write_text(self.out_dir / "history.csv", self.history.to_csv())
            checkpoint.prune(self.checkpoint_dir, self.config.keep_checkpoints)
        self.accelerator.wait_for_everyone()
        return path

    def load_checkpoint(self, path: str | Path) -> None:
        state = checkpoint.load(path)
        saved = state["config"]
        now = {"batch_size": self.config.batch_size, "seed": self.config.seed,
               "world_size": self.accelerator.num_processes, "log_every": self.config.log_every}
        changed = {k: (saved[k], now[k]) for k in now if saved.get(k) != now[k]}
        if changed:
            raise checkpoint.CheckpointError(
                f"{path} was written with different settings {{name: (checkpoint, now)}} = {changed}; "
                "an exact resume needs the same ones: restore them, or use a new output folder"
            )
        for name in self.task.models:
            self._load_module(self.unwrap(name), state["models"], name, path, self.task.load_model_state)
        for name, opt in self.task.optimizers.items():
            if name not in state["optimizers"]:
                raise checkpoint.CheckpointError(f"{path} holds no optimizer {name!r}")
            opt.load_state_dict(state["optimizers"][name])
        for name, ema in self.ema.items():
            self._load_module(ema.module, state["ema"], name, path)
        self.task.load_state_dict(state["task"])
        self.history.load_state_dict(state["history"])
        if self.accelerator.scaler is not None and state.get("scaler"):
            self.accelerator.scaler.load_state_dict(state["scaler"])
        rng.restore(state["rng"][self.accelerator.process_index])
        self.step = int(state["step"])

    @staticmethod
    def _load_module(module: nn.Module, states: Mapping[str, Any], name: str, path: Path | str,
                     load: Any = None) -> None:
        if name not in states:
            raise checkpoint.CheckpointError(f"{path} holds no model {name!r}; it has {sorted(states)}")
        try:
            if load is None:
                module.load_state_dict(states[name])
            else:
                load(name, module, states[name])
        except RuntimeError as error:
            raise checkpoint.CheckpointError(
                f"{path}: model {name!r} does not match the checkpoint ({error}); the model config changed "
                "since it was written — restore it, or use a new output folder"
            ) from error

    # -- the loop -------------------------------------------------------------------------------

    def _run_callbacks(self, step: int, final: bool, start: bool = False) -> None:
        if not self.accelerator.is_main_process:
            return
        for callback in self.callbacks:
            due = callback.at_start if start else (step % callback.every == 0 or final)
            if not due:
                continue
            with rng.isolated(), torch.no_grad():
                values = callback(self, step)
            if values:
                self.history.record(step, values)

    def fit(self) -> TrainResult:
        config, accelerator = self.config, self.accelerator
        self._prepare()
        resumed_from = None
        newest = checkpoint.latest(self.checkpoint_dir)
        if newest is not None:
            self.load_checkpoint(newest)
            resumed_from = self.step
            log.info("resuming from %s (step %d)", newest, self.step)
        else:
            set_seed(config.seed + accelerator.process_index)
            self._run_callbacks(0, final=False, start=True)

        loader = step_loader(self.dataset, config.batch_size, config.steps, config.seed, start_step=self.step,
                             rank=accelerator.process_index, world_size=accelerator.num_processes,
                             num_workers=config.num_workers, pin_memory=accelerator.device.type == "cuda")
        for model in self.task.models.values():
            model.train()
        # Sums and counts per loss over the logging window: regularisers (R1, path length) are only
        # logged on the steps that compute them, so each mean uses its own count.
        window: dict[str, tuple[torch.Tensor, int]] = {}
        bar = tqdm(total=config.steps, initial=self.step, desc=type(self.task).__name__,
                   disable=not (config.progress and accelerator.is_main_process), dynamic_ncols=True)
        last_checkpoint = newest
        for batch in loader:
            losses = self.task.train_step(send_to_device(batch, accelerator.device), self.step, accelerator)
            self.step += 1
            for name, ema in self.ema.items():
                ema.update(self.unwrap(name))
            for name, value in losses.items():
                total, count = window.get(name, (0.0, 0))
                window[name] = (total + value.detach().float(), count + 1)
            final = self.step == config.steps
            if self.step % config.log_every == 0 or final:
                means = {name: float(total / count) for name, (total, count) in window.items()}
                check_finite(self.step, means)
                self.history.record(self.step, means)
                bar.set_postfix({k: f"{v:.3g}" for k, v in means.items()}, refresh=False)
                window = {}
            self._run_callbacks(self.step, final)
            if self.step % config.checkpoint_every == 0 or final:
                last_checkpoint = self.save_checkpoint()
            bar.update(1)
        bar.close()
        if newest is not None and self.step == resumed_from and self.accelerator.is_main_process:
            # nothing left to train: still leave the loss log beside the checkpoint
            atomic.write_text(self.out_dir / "history.csv", self.history.to_csv())
        return TrainResult(self.step, resumed_from, self.history, last_checkpoint)


def _make_accelerator(config: TrainConfig) -> Accelerator:
    from accelerate.utils import DistributedDataParallelKwargs

    mixed_precision = config.mixed_precision
    ddp = DistributedDataParallelKwargs(find_unused_parameters=config.find_unused_parameters,
                                        broadcast_buffers=config.broadcast_buffers)
    try:
        return Accelerator(mixed_precision=mixed_precision, kwargs_handlers=[ddp])
    except ValueError as error:  # accelerate's process-wide state was created with another precision
        from accelerate.state import AcceleratorState, PartialState

        if PartialState().num_processes > 1:
            raise RuntimeError(
                f"cannot switch to mixed_precision={mixed_precision!r} inside a distributed run ({error}); "
                "use one precision per `accelerate launch`"
            ) from error
        # accelerate keeps one precision per process. In a single process (a notebook training several
        # models, the test suite) re-initialising it is safe for the new run; earlier Accelerators must
        # not be used for training afterwards.
        log.warning("re-initialising accelerate's state for mixed_precision=%r", mixed_precision)
        AcceleratorState._reset_state()
        return Accelerator(mixed_precision=mixed_precision, kwargs_handlers=[ddp])


def asdict(config: TrainConfig) -> dict[str, Any]:
    return dataclasses.asdict(config)
