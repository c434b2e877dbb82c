"""The training loop: data resident as tensors on the device, batches by shuffled index slices
(no per-row Python, no DataLoader), AdamW with exponential decay per epoch, early stopping on
validation loss, deterministic per seed, and a checkpoint after every epoch for resuming."""

from __future__ import annotations

import copy
import math
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn

from lpm_kg.errors import ConfigError, TrainingDiverged
from lpm_kg.model.config import LPMConfig
from lpm_kg.model.distributed import all_sum, world, wrap


def training_threads(setting: int | None = None, *, cores: int | None = None,
                     load: float | None = None) -> int:
    """Intra-op threads for CPU training: ``setting`` when given, else the cores that other work
    leaves free. The 1-minute load average counts this process too (it was busy pulling the
    tuples), so one unit of it is ours; any more means another process wants a core, and a
    thread that would share it stalls every step's barrier (bench_train.py measured 16x)."""
    if setting:
        return setting
    if cores is None:
        cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    load = os.getloadavg()[0] if load is None else load
    others = max(0.0, load - 1.0)
    return max(1, min(cores, math.floor(cores - others)))


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        if not torch.cuda.is_available():
            return torch.device("cpu")
        return torch.device("cuda", world().local_rank)  # under torchrun: this process's GPU
    device = torch.device(name)
    if device.type == "cuda":
        count = torch.cuda.device_count() if torch.cuda.is_available() else 0
        if (device.index or 0) >= count:
            raise ConfigError(f"device {name!r} is not on this machine ({count} CUDA device(s)); "
                              "set device = \"auto\" or \"cpu\" in the model overrides")
    return device


@dataclass
class Tensors:
    """(p, r, c, y) on one device: int32 ids and float32 values, 16 bytes a tuple (embedding
    lookups take int32 indices, so nothing is widened to int64).

    ``rows``: when set, this is the subset of those rows (int32 or int64 positions) and the arrays
    are shared, not copied: a training and a validation set are two index views of one set of
    arrays (:meth:`view`), which is what lets a LINCS-size pull train in memory."""

    p: torch.Tensor
    r: torch.Tensor
    c: torch.Tensor
    y: torch.Tensor
    rows: torch.Tensor | None = None

    @classmethod
    def from_numpy(cls, p, r, c, y, device) -> "Tensors":
        as_int = lambda a: torch.as_tensor(np.asarray(a, dtype=np.int32)).to(device=device)  # noqa: E731
        return cls(as_int(p), as_int(r), as_int(c), torch.as_tensor(np.asarray(y, dtype=np.float32)).to(device=device))

    def view(self, rows: np.ndarray) -> "Tensors":
        """The rows ``rows`` of these arrays, sharing their memory (4 bytes a row below 2**31 rows)."""
        dtype = np.int32 if len(self.y) < 2 ** 31 else np.int64
        return Tensors(self.p, self.r, self.c, self.y, torch.as_tensor(np.asarray(rows, dtype=dtype)).to(self.y.device))

    def take(self, idx: torch.Tensor | slice) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """(p, r, c, y) at positions ``idx`` of this set (of its rows, for a view)."""
        if self.rows is not None:
            idx = self.rows[idx]
        return self.p[idx], self.r[idx], self.c[idx], self.y[idx]

    def __len__(self) -> int:
        return len(self.y) if self.rows is None else len(self.rows)


@dataclass
class SeedState:
    """Everything needed to resume one seed's training."""

    seed: int
    epoch: int = 0
    done: bool = False
    best_val: float = float("inf")
    best_epoch: int = -1
    history: list[dict] = field(default_factory=list)
    model: dict | None = None
    best_model: dict | None = None
    optimizer: dict | None = None
    scheduler: dict | None = None
    generator: torch.Tensor | None = None


@torch.no_grad()
def evaluate_loss(module: nn.Module, data: Tensors, chunk: int = 1 << 16) -> float:
    module.eval()
    total = 0.0
    for i in range(0, len(data), chunk):
        p, r, c, y = data.take(slice(i, i + chunk))  # a slice: no gather for a set that is not a view
        total += torch.sum((module(p, r, c) - y) ** 2).item()
    return total / max(1, len(data))


def train_seed(module: nn.Module, train: Tensors, val: Tensors | None, config: LPMConfig, state: SeedState, *,
               on_epoch: Callable[[SeedState], None] | None = None,
               progress: Callable[[dict], None] | None = None) -> SeedState:
    """Train (or resume) one seed in place; returns its state with the best weights loaded."""
    device = train.y.device
    # The fused AdamW kernel (one pass over all parameters) is the same update as the reference's
    # per-parameter loop.
    fused = {"fused": True} if config.loop == "fast" else {}
    optimizer = torch.optim.AdamW(module.parameters(), lr=config.learning_rate, weight_decay=config.weight_decay,
                                  **fused)
    scheduler = torch.optim.lr_scheduler.ExponentialLR(optimizer, gamma=config.lr_decay)
    generator = torch.Generator(device=device)
    generator.manual_seed(state.seed)
    if state.model is not None:  # resuming
        module.load_state_dict(state.model)
        optimizer.load_state_dict(state.optimizer)
        scheduler.load_state_dict(state.scheduler)
        generator.set_state(state.generator)
    n, bs = len(train), config.batch_size
    w = world()
    model = wrap(module)  # DDP under torchrun (lpm_kg.model.distributed), else the module itself
    while not state.done and state.epoch < config.max_epochs:
        module.train()
        started = time.perf_counter()
        # int32 below 2**31 tuples: half the memory of the default int64, the same permutation.
        perm = torch.randperm(n, generator=generator, device=device, dtype=torch.int32 if n < 2 ** 31 else torch.int64)
        total = torch.zeros((), device=device)
        for i in range(0, n, bs):
            idx = perm[i:i + bs]
            if w.size == 1:
                p, r, c, y = train.take(idx)
                loss = torch.mean((model(p, r, c) - y) ** 2)
                share = loss.detach() * len(idx)
            else:  # this process's share of the global batch (see lpm_kg.model.distributed)
                p, r, c, y = train.take(idx[w.rank::w.size])
                share = torch.sum((model(p, r, c) - y) ** 2)
                loss = share * (w.size / len(idx))
                share = share.detach()
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            total += share
        all_sum(total)  # one message per epoch, for the logged training loss
        scheduler.step()
        seconds = time.perf_counter() - started
        record = {"epoch": state.epoch + 1, "train_mse": total.item() / n, "seconds": seconds,
                  "tuples_per_s": n / seconds}
        if not math.isfinite(record["train_mse"]):
            # Diverged: stop before the state (and a checkpoint of it) is kept, and say what to change.
            raise TrainingDiverged(f"training diverged in epoch {state.epoch + 1} of seed {state.seed} (the loss is "
                                   f"{record['train_mse']}): lower learning_rate (now {config.learning_rate}) or "
                                   f"embedding_init_std (now {config.embedding_init_std}) in the model overrides")
        if val is not None and len(val):
            record["val_mse"] = evaluate_loss(module, val)
            if record["val_mse"] < state.best_val:
                state.best_val, state.best_epoch = record["val_mse"], state.epoch + 1
                state.best_model = copy.deepcopy(module.state_dict())
        state.history.append(record)
        state.epoch += 1
        if config.patience and val is not None and len(val) and state.epoch - state.best_epoch >= config.patience:
            state.done = True
        if state.epoch >= config.max_epochs:
            state.done = True
        state.model, state.optimizer = module.state_dict(), optimizer.state_dict()
        state.scheduler, state.generator = scheduler.state_dict(), generator.get_state()
        if progress:
            progress(record)
        if on_epoch:
            on_epoch(state)
    if state.best_model is not None:
        module.load_state_dict(state.best_model)
    return state
