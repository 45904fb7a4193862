"""Layer 4: one training loop for every model (see :mod:`toonlab.train.loop`), with its pieces:
step-indexed data, EMA, atomic safetensors checkpoints with exact resume, DiffAugment, callbacks.
The GANs as tasks are in :mod:`toonlab.train.gan_tasks`; a whole GAN run (train, resume, export, reload,
sample) in :mod:`toonlab.train.gan_runs`."""

from toonlab.train.callbacks import Metrics, SampleGrid, read_grids
from toonlab.train.checkpoint import CheckpointError, load_weights, save_weights
from toonlab.train.diffaugment import DiffAugment, diff_augment
from toonlab.train.ema import EMA
from toonlab.train.history import LossLog
from toonlab.train.loop import Callback, Task, Trainer, TrainConfig, TrainResult

__all__ = [
    "EMA", "Callback", "CheckpointError", "DiffAugment", "LossLog", "Metrics", "SampleGrid", "Task", "TrainConfig", "TrainResult",
    "Trainer", "diff_augment", "load_weights", "read_grids", "save_weights",
]
