"""Batches as a pure function of the step number, so a resumed run reads exactly the batches it would have.

The training stream is the concatenation of seeded permutations of the dataset (epoch ``e`` is
``randperm(n)`` with seed ``seed + e``). Global batch ``k`` is stream positions ``[k*G, (k+1)*G)`` for a
global batch of ``G = batch_size * world_size``, and process ``r`` takes its ``batch_size`` slice of it.
Nothing about the data order lives in a checkpoint: the step alone says where the stream is. This also
works when the dataset is smaller than a batch (the few-shot DCGAN trains on six images).
"""

from __future__ import annotations

from collections.abc import Iterator

import torch
from torch.utils.data import DataLoader, Dataset, Sampler


class StepBatchSampler(Sampler[list[int]]):
    """Yields the index batches for steps ``start_step .. steps - 1`` of one process."""

    def __init__(self, num_items: int, batch_size: int, steps: int, seed: int, start_step: int = 0,
                 rank: int = 0, world_size: int = 1) -> None:
        if num_items < 1:
            raise ValueError("the training dataset is empty; check the data source and its `limit`")
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        if not 0 <= rank < world_size:
            raise ValueError(f"rank {rank} is outside world size {world_size}")
        self.num_items, self.batch_size, self.steps = num_items, batch_size, steps
        self.seed, self.start_step, self.rank, self.world_size = seed, start_step, rank, world_size
        self._perms: dict[int, torch.Tensor] = {}

    def _permutation(self, epoch: int) -> torch.Tensor:
        if epoch not in self._perms:
            if len(self._perms) > 4:  # only the epochs a batch can straddle are ever needed again
                self._perms.pop(min(self._perms))
            generator = torch.Generator().manual_seed(self.seed * 1_000_003 + epoch)
            self._perms[epoch] = torch.randperm(self.num_items, generator=generator)
        return self._perms[epoch]

    def batch_for_step(self, step: int) -> list[int]:
        global_batch = self.batch_size * self.world_size
        first = step * global_batch + self.rank * self.batch_size
        positions = range(first, first + self.batch_size)
        return [int(self._permutation(p // self.num_items)[p % self.num_items]) for p in positions]

    def __iter__(self) -> Iterator[list[int]]:
        for step in range(self.start_step, self.steps):
            yield self.batch_for_step(step)

    def __len__(self) -> int:
        return max(0, self.steps - self.start_step)


def step_loader(dataset: Dataset, batch_size: int, steps: int, seed: int, start_step: int = 0, rank: int = 0,
                world_size: int = 1, num_workers: int = 0, pin_memory: bool = False) -> DataLoader:
    """A DataLoader over :class:`StepBatchSampler` that never touches the global RNG.

    DataLoader draws its workers' base seed from the global torch generator when iteration starts unless
    it has its own generator; that draw would shift every later random number after a resume.
    """
    sampler = StepBatchSampler(len(dataset), batch_size, steps, seed, start_step, rank, world_size)
    return DataLoader(dataset, batch_sampler=sampler, num_workers=num_workers, pin_memory=pin_memory,
                      generator=torch.Generator().manual_seed(seed), persistent_workers=False)
