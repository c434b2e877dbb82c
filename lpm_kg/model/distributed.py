"""Data-parallel training across processes (``torchrun``): NCCL on GPUs, gloo on the CPU.

Every process holds all the tuples and draws the same shuffled order (one seed), so a global
batch is the same batch a single process would take; process ``rank`` computes the tuples
``rank, rank + size, ...`` of it. Its loss is its share of the global batch's sum of squares
divided by the global batch size, times ``size`` because DDP averages gradients over processes:
the averaged gradient is then exactly the single-process gradient of the global batch's mean
loss (float summation order aside). Validation runs whole on every process, so early stopping
decides alike everywhere without a message; only rank 0 writes checkpoints and the graph.

    torchrun --nproc-per-node 2 $(which lpm-kg) sync --config lpm-kg.toml
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch


@dataclass(frozen=True)
class World:
    rank: int = 0
    size: int = 1
    local_rank: int = 0

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def world() -> World:
    """This process's place among the training processes (rank 0 of 1 when not distributed)."""
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        return World(dist.get_rank(), dist.get_world_size(), int(os.environ.get("LOCAL_RANK", 0)))
    return World()


def init_from_env() -> World:
    """Join the process group that ``torchrun`` describes in the environment (WORLD_SIZE > 1);
    a plain run stays one process."""
    import torch.distributed as dist

    if int(os.environ.get("WORLD_SIZE", "1")) > 1 and not dist.is_initialized():
        cuda = torch.cuda.is_available()
        if cuda:
            torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", 0)))
        dist.init_process_group(backend="nccl" if cuda else "gloo")
    return world()


def barrier() -> None:
    import torch.distributed as dist

    if world().size > 1:
        dist.barrier()


def all_sum(t: torch.Tensor) -> torch.Tensor:
    import torch.distributed as dist

    if world().size > 1:
        dist.all_reduce(t)
    return t


def wrap(module: torch.nn.Module) -> torch.nn.Module:
    """The module as DDP when distributed, itself otherwise."""
    w = world()
    if w.size == 1:
        return module
    from torch.nn.parallel import DistributedDataParallel

    device = next(module.parameters()).device
    # A module that can leave parameters out of a step says so (the graph LPM's: an MOA bag with no
    # MOA in the batch).
    unused = bool(getattr(module, "ddp_find_unused_parameters", False))
    return DistributedDataParallel(module, device_ids=[device] if device.type == "cuda" else None,
                                   find_unused_parameters=unused)
