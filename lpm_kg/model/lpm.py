"""The user-facing LPM: an ensemble of seeds over one vocabulary, trained from tuples, predicting
the seed mean with the seed standard deviation as its uncertainty, saved and resumed from one
checkpoint file."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pickle
from collections import OrderedDict

import numpy as np
import torch

from lpm_kg.errors import InputError
from lpm_kg.model.config import LPMConfig
from lpm_kg.model.module import LPMModule
from lpm_kg.model.train import SeedState, Tensors, resolve_device, train_seed
from lpm_kg.model.vocab import Vocabulary

CHECKPOINT_FORMAT = 1


def _plain(value, where: str = "checkpoint"):
    """``value`` as tensors and plain containers only (dict, list, tuple, str, int, float, bool,
    None), which is all :func:`torch.load` with ``weights_only=True`` accepts: a checkpoint is
    never a pickle of arbitrary objects, so loading one can never run code."""
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, torch.Tensor):
        return value.detach().cpu()
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, (dict, OrderedDict)):
        return {k if isinstance(k, (str, int)) else _plain(k, where): _plain(v, f"{where}[{k!r}]")
                for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        out = [_plain(v, f"{where}[{i}]") for i, v in enumerate(value)]
        return tuple(out) if isinstance(value, tuple) else out
    raise TypeError(f"{where} is a {type(value).__name__}: a checkpoint holds only tensors and plain containers")


def _load_checkpoint(path: str | Path) -> dict:
    """A checkpoint loaded with ``weights_only=True``: one holding anything but tensors and plain
    containers (a crafted pickle, say) is refused before any of its code can run."""
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as e:
        raise InputError(str(path), "it is not a safe LPM checkpoint: it holds objects other than tensors and plain "
                         f"containers, so it was refused without being run ({str(e).splitlines()[0]})",
                         "use only checkpoints lpm-kg wrote; delete this file and retrain the run "
                         "(`lpm-kg sync`)") from None
    if not isinstance(payload, dict):
        raise InputError(str(path), f"it is not an LPM checkpoint (it holds a {type(payload).__name__}, not a dict)",
                         "point to a checkpoint lpm-kg wrote, or delete it and retrain the run (`lpm-kg sync`)")
    return payload


class LPM:
    def __init__(self, config: LPMConfig, vocab: Vocabulary, device: str | None = None):
        self.config, self.vocab = config, vocab
        self.device = resolve_device(device or config.device)
        self.modules: dict[int, LPMModule] = {}
        self.states: dict[int, SeedState] = {}

    def _new_module(self, seed: int) -> LPMModule:
        torch.manual_seed(seed)  # the initial weights are a function of the seed alone
        c = self.config
        return LPMModule(len(self.vocab.contexts), len(self.vocab.atoms), len(self.vocab.readouts),
                         torch.as_tensor(self.vocab.atom_matrix()), embedding_dim=c.embedding_dim, hidden=c.hidden,
                         dropout=c.dropout, embedding_init_std=c.embedding_init_std).to(self.device)

    # ------------------------------------------------------------------ training

    def fit(self, train: tuple, val: tuple | None = None, *, checkpoint: str | Path | None = None,
            show_progress: bool = True) -> "LPM":
        """Train every seed on ``train`` = (p, r, c, y) id arrays in this vocabulary, stopping early
        on ``val``. With ``checkpoint``, progress is saved after each epoch and an existing file
        with the same config and vocabulary is resumed."""
        from lpm_kg.settings import Settings

        threads = Settings().torch_threads
        if threads:
            torch.set_num_threads(threads)
        train_t = Tensors.from_numpy(*train, self.device)
        val_t = Tensors.from_numpy(*val, self.device) if val is not None else None
        if checkpoint and Path(checkpoint).exists():
            self._resume_from(Path(checkpoint))
        bar = None
        if show_progress:
            from tqdm import tqdm

            bar = tqdm(total=len(self.config.seeds) * self.config.max_epochs, unit=" epochs", desc="train LPM",
                       leave=False)
            bar.update(sum(s.epoch if not s.done else self.config.max_epochs for s in self.states.values()))
        for seed in self.config.seeds:
            state = self.states.get(seed) or SeedState(seed)
            self.states[seed] = state
            module = self.modules.get(seed) or self._new_module(seed)
            self.modules[seed] = module
            if state.done and state.best_model is not None:
                module.load_state_dict(state.best_model)
                continue

            def progress(record, seed=seed):
                if bar:
                    bar.update(1)
                    bar.set_postfix(seed=seed, train=f"{record['train_mse']:.4f}",
                                    val=f"{record.get('val_mse', float('nan')):.4f}",
                                    tps=f"{record['tuples_per_s']:,.0f}")

            def on_epoch(_state):
                if checkpoint:
                    self.save(checkpoint)

            train_seed(module, train_t, val_t, self.config, state, on_epoch=on_epoch, progress=progress)
            if bar:
                bar.update(self.config.max_epochs - state.epoch)  # early stop: skip the rest of this seed
        if bar:
            bar.close()
        if checkpoint:
            self.save(checkpoint)
        return self

    # ------------------------------------------------------------------ prediction

    @torch.no_grad()
    def predict_ids(self, p, r, c, chunk: int = 1 << 16) -> tuple[np.ndarray, np.ndarray]:
        """Seed mean and seed standard deviation for id arrays."""
        if not self.modules:
            raise RuntimeError("the model is not trained")
        p, r, c = (torch.as_tensor(np.asarray(a), dtype=torch.long, device=self.device) for a in (p, r, c))
        preds = []
        for module in self.modules.values():
            module.eval()
            preds.append(torch.cat([module(p[i:i + chunk], r[i:i + chunk], c[i:i + chunk])
                                    for i in range(0, len(p), chunk)]) if len(p) else torch.zeros(0))
        stacked = torch.stack(preds).cpu().numpy()
        return stacked.mean(axis=0), stacked.std(axis=0)

    def predict(self, perturbations: Sequence[str], readouts: Sequence[str], contexts: Sequence[str]
                ) -> tuple[np.ndarray, np.ndarray]:
        """Predictions for symbol triples; an unknown symbol raises :class:`UnknownSymbolError`."""
        v = self.vocab
        return self.predict_ids(v.ids("perturbations", perturbations), v.ids("readouts", readouts),
                                v.ids("contexts", contexts))

    @torch.no_grad()
    def embeddings(self, kind: str, seed: int | None = None) -> np.ndarray:
        """One seed's embedding table (default the first): ``perturbations`` (bag means, so
        combinations too), ``readouts`` or ``contexts``. Seeds' spaces are not aligned, so
        tables are never averaged across seeds."""
        module = self.modules[seed if seed is not None else self.config.seeds[0]]
        if kind == "perturbations":
            ids = torch.arange(len(self.vocab.perturbations), device=self.device)
            return module.embed_perturbations(ids).cpu().numpy()
        table = {"readouts": module.readout, "contexts": module.context}[kind]
        return table.weight.detach().cpu().numpy().copy()

    # ------------------------------------------------------------------ persistence

    def save(self, path: str | Path) -> None:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        payload = _plain({"format": CHECKPOINT_FORMAT, "config": self.config.model_dump(),
                          "vocab": self.vocab.to_dict(), "seeds": {s: vars(st) for s, st in self.states.items()}})
        tmp = path.with_suffix(path.suffix + ".tmp")
        torch.save(payload, tmp)
        tmp.replace(path)  # atomic: a kill mid-save never leaves a broken checkpoint

    @classmethod
    def load(cls, path: str | Path, device: str | None = None) -> "LPM":
        payload = _load_checkpoint(path)
        if payload.get("format") != CHECKPOINT_FORMAT:
            raise ValueError(f"{path}: checkpoint format {payload.get('format')} is not {CHECKPOINT_FORMAT}")
        model = cls(LPMConfig(**payload["config"]), Vocabulary.from_dict(payload["vocab"]), device)
        model._restore(payload)
        return model

    def _restore(self, payload: dict) -> None:
        for seed, fields in payload["seeds"].items():
            state = SeedState(**fields)
            module = self._new_module(seed)
            weights = state.best_model if state.done and state.best_model is not None else state.model
            if weights is not None:
                module.load_state_dict(weights)
            self.states[seed], self.modules[seed] = state, module

    def _resume_from(self, path: Path) -> None:
        payload = _load_checkpoint(path)
        if (payload.get("format") != CHECKPOINT_FORMAT or payload["config"] != self.config.model_dump()
                or payload["vocab"] != self.vocab.to_dict()):
            return  # a checkpoint of another model: start afresh (it is overwritten)
        self._restore(payload)
