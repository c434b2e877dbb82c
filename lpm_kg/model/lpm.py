"""The user-facing LPM: an ensemble of seeds over one vocabulary, trained from tuples, predicting
the seed mean with the seed standard deviation as its uncertainty, saved and resumed from one
checkpoint file."""

from __future__ import annotations

import pickle
from collections import OrderedDict
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from lpm_kg.errors import ConfigError, InputError
from lpm_kg.model.config import LPMConfig
from lpm_kg.model.distributed import world
from lpm_kg.model.module import LPMModule
from lpm_kg.model.train import SeedState, Tensors, resolve_device, train_seed, training_threads
from lpm_kg.model.vocab import Vocabulary
from lpm_kg.settings import Settings

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


def load_checkpoint(path: str | Path) -> dict:
    """A checkpoint loaded with ``weights_only=True``: one holding anything but tensors and plain
    containers (a crafted pickle, say) is refused before any of its code can run."""
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as e:
        raise InputError(str(path), "it is not a safe LPM checkpoint: it holds objects other than tensors and plain "
                         f"containers, so it was refused without being run ({str(e).splitlines()[0]})",
                         "use only checkpoints lpm-kg wrote; delete this file and retrain the run "
                         "(`lpm-kg sync`)") from None
    except EOFError:
        raise InputError(str(path), "it is empty or cut short, so it is not a readable LPM checkpoint",
                         "delete this file and retrain the run (`lpm-kg sync`)") from None
    if not isinstance(payload, dict):
        raise InputError(str(path), f"it is not an LPM checkpoint (it holds a {type(payload).__name__}, not a dict)",
                         "point to a checkpoint lpm-kg wrote, or delete it and retrain the run (`lpm-kg sync`)")
    return payload


def save_payload(payload: dict, path: str | Path) -> None:
    """Write a checkpoint atomically: a kill mid-save never leaves a broken one."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    torch.save(payload, tmp)
    tmp.replace(path)


class LPM:
    """The paper's LPM. One constructor for both kinds: ``LPM(config, vocab, priors=...)`` with
    ``config.priors`` set builds the graph-informed LPM (:class:`lpm_kg.model.graph_lpm.GraphLPM`,
    whose ``priors`` is a :class:`lpm_kg.priors.inputs.PriorSource`); the paper's LPM takes none."""

    #: Whether perturbations and readouts embed from graph priors (:class:`lpm_kg.model.graph_lpm.GraphLPM`).
    is_graph = False
    #: The class ``LPM(...)`` builds for a config with priors: the graph LPM registers itself when
    #: it is defined (lpm_kg.model imports it), so this module never imports it.
    _graph_kind: type | None = None

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        if cls.is_graph:
            LPM._graph_kind = cls

    def __new__(cls, config: LPMConfig, *args, **kwargs):
        if cls is LPM and config.priors is not None:
            if LPM._graph_kind is None:  # pragma: no cover - lpm_kg.model always registers it
                raise RuntimeError("the graph LPM is not registered: import lpm_kg.model")
            return super().__new__(LPM._graph_kind)
        return super().__new__(cls)

    def __init__(self, config: LPMConfig, vocab: Vocabulary, device: str | None = None, priors=None):
        self.config, self.vocab = config, vocab
        self.device = resolve_device(device or config.device)
        self.modules: dict[int, torch.nn.Module] = {}
        self.states: dict[int, SeedState] = {}
        self.priors = None

    def _new_module(self, seed: int) -> torch.nn.Module:
        torch.manual_seed(seed)  # the initial weights are a function of the seed alone
        c = self.config
        return LPMModule(len(self.vocab.contexts), len(self.vocab.atoms), len(self.vocab.readouts),
                         torch.as_tensor(self.vocab.atom_matrix()), embedding_dim=c.embedding_dim, hidden=c.hidden,
                         dropout=c.dropout, embedding_init_std=c.embedding_init_std,
                         factorized=c.loop == "fast", shared_rank=c.shared_rank,
                         shared_dropout=c.shared_dropout).to(self.device)

    # ------------------------------------------------------------------ training

    def fit(self, train: tuple, val: tuple | None = None, *, rows: tuple | None = None,
            checkpoint: str | Path | None = None, show_progress: bool = True) -> "LPM":
        """Train every seed on ``train`` = (p, r, c, y) id arrays in this vocabulary, stopping early
        on ``val``. With ``checkpoint``, progress is saved after each epoch and an existing file
        with the same config and vocabulary is resumed. Under ``torchrun`` every process calls
        this with the same tuples (lpm_kg.model.distributed); only rank 0 writes the checkpoint.

        ``rows`` = (training rows, validation rows or None): ``train`` is then one whole set of
        arrays and the two sets are index views of it, never copies (``val`` must be None)."""
        main_rank = world().is_main
        show_progress = show_progress and main_rank

        if self.device.type == "cpu":
            torch.set_num_threads(training_threads(Settings().torch_threads))
        if rows is not None:
            if val is not None:
                raise ValueError("pass validation as rows of the one set of arrays, or as its own tuple, not both")
            whole = Tensors.from_numpy(*train, self.device)
            train_t = whole.view(rows[0])
            val_t = whole.view(rows[1]) if rows[1] is not None and len(rows[1]) else None
        else:
            train_t = Tensors.from_numpy(*train, self.device)
            val_t = Tensors.from_numpy(*val, self.device) if val is not None else None
        self._before_fit(train, rows)
        if checkpoint and Path(checkpoint).exists():
            self._resume_from(Path(checkpoint))
        bar = None
        if show_progress:
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
                if checkpoint and main_rank:
                    self.save(checkpoint)

            train_seed(module, train_t, val_t, self.config, state, on_epoch=on_epoch, progress=progress)
            if bar:
                bar.update(self.config.max_epochs - state.epoch)  # early stop: skip the rest of this seed
        if bar:
            bar.close()
        if checkpoint and main_rank:
            self.save(checkpoint)
        return self

    # ------------------------------------------------------------------ prediction

    @torch.no_grad()
    def seed_predictions_ids(self, p, r, c, chunk: int = 1 << 16) -> np.ndarray:
        """(n_seeds, n): each seed's predictions for id arrays."""
        if not self.modules:
            raise RuntimeError("the model is not trained")
        p, r, c = (torch.as_tensor(np.asarray(a), dtype=torch.long, device=self.device) for a in (p, r, c))
        preds = []
        for module in self.modules.values():
            module.eval()
            preds.append(torch.cat([module(p[i:i + chunk], r[i:i + chunk], c[i:i + chunk])
                                    for i in range(0, len(p), chunk)]) if len(p) else torch.zeros(0))
        return torch.stack(preds).cpu().numpy()

    def predict_ids(self, p, r, c, chunk: int = 1 << 16) -> tuple[np.ndarray, np.ndarray]:
        """Seed mean and seed standard deviation for id arrays."""
        stacked = self.seed_predictions_ids(p, r, c, chunk)
        return stacked.mean(axis=0), stacked.std(axis=0)

    def seed_predictions(self, perturbations: Sequence[str], readouts: Sequence[str], contexts: Sequence[str]
                         ) -> np.ndarray:
        """(n_seeds, n): each seed's predictions for symbol triples (the symbols :meth:`predict` takes)."""
        model = self._extended(perturbations, readouts)
        v = model.vocab
        return model.seed_predictions_ids(v.ids("perturbations", perturbations), v.ids("readouts", readouts),
                                          v.ids("contexts", contexts))

    def _before_fit(self, train: tuple, rows: tuple | None) -> None:
        """What a kind of LPM learns from the training tuples before its seeds train (nothing here)."""

    def predict(self, perturbations: Sequence[str], readouts: Sequence[str], contexts: Sequence[str]
                ) -> tuple[np.ndarray, np.ndarray]:
        """Predictions for symbol triples. The graph LPM predicts perturbations and readouts it never
        saw from their graph priors (:meth:`prior_sources` says which); any other unknown symbol
        raises :class:`UnknownSymbolError`, naming what is missing."""
        stacked = self.seed_predictions(perturbations, readouts, contexts)
        return stacked.mean(axis=0), stacked.std(axis=0)

    def prior_sources(self, perturbations: Sequence[str]) -> list[str]:
        """Per perturbation: "learned" when every part was seen in training, else "prior" (its
        embedding comes, at least in part, from the graph alone). The paper's LPM learns every atom."""
        trained = self._trained_atoms()
        return ["learned" if all(a in trained for a in p.split("+")) else "prior" for p in perturbations]

    def _trained_atoms(self) -> set[str]:
        return set(self.vocab.atoms)

    def _extended(self, perturbations: Sequence[str], readouts: Sequence[str]) -> "LPM":
        """This model able to answer for ``perturbations`` and ``readouts``: the paper's LPM knows
        only its vocabulary (an unknown symbol raises when it is looked up)."""
        return self

    @torch.no_grad()
    def embeddings(self, kind: str, seed: int | None = None) -> np.ndarray:
        """One seed's embedding table (default the first): ``perturbations`` (bag means, so
        combinations too), ``readouts`` or ``contexts``. Seeds' spaces are not aligned, so
        tables are never averaged across seeds."""
        module = self.modules[seed if seed is not None else self.config.seeds[0]]
        if kind == "perturbations":
            ids = torch.arange(len(self.vocab.perturbations), device=self.device)
            return module.embed_perturbations(ids).cpu().numpy()
        table = {"readouts": getattr(module, "readout", None), "contexts": module.context}[kind]
        return table.weight.detach().cpu().numpy().copy()

    @property
    def has_shared_term(self) -> bool:
        """Whether every seed was built with the context-free term (``shared_rank`` > 0; a graph
        LPM's modules never are)."""
        return bool(self.modules) and all(getattr(m, "shared_p", None) is not None for m in self.modules.values())

    def shared_effects(self, perturbations: Sequence[int]) -> np.ndarray:
        """[perturbations, readouts] float64: what the context-free term (``shared_rank``) says each
        perturbation (vocabulary ids) does to every readout in any context, averaged over the seeds
        (they share the readout axis, unlike embedding tables)."""
        if not self.has_shared_term:
            raise ConfigError("this model has no context-free term: train it with shared_rank > 0 in the model "
                              "overrides (e.g. shared_rank = 32, shared_dropout = 0.5)")
        ids = torch.as_tensor(np.asarray(perturbations, dtype=np.int64), device=self.device)
        total = np.zeros((len(ids), len(self.vocab.readouts)))
        with torch.no_grad():
            for module in self.modules.values():
                total += module.shared_effects(ids).double().cpu().numpy()
        return total / len(self.modules)

    # ------------------------------------------------------------------ persistence

    def to_payload(self) -> dict:
        """The checkpoint's content: tensors and plain containers only (:func:`_plain`)."""
        payload = {"format": CHECKPOINT_FORMAT, "config": self.config.model_dump(), "vocab": self.vocab.to_dict(),
                   "seeds": {s: vars(st) for s, st in self.states.items()}, **self._payload_extra()}
        return _plain(payload)

    def _payload_extra(self) -> dict:
        """What a kind of LPM adds to its checkpoint (nothing here)."""
        return {}

    def save(self, path: str | Path) -> None:
        save_payload(self.to_payload(), path)

    @classmethod
    def load(cls, path: str | Path, device: str | None = None) -> "LPM":
        return cls.from_payload(load_checkpoint(path), device, where=str(path))

    @classmethod
    def from_payload(cls, payload: dict, device: str | None = None, where: str = "checkpoint") -> "LPM":
        if payload.get("format") != CHECKPOINT_FORMAT:
            raise ValueError(f"{where}: checkpoint format {payload.get('format')} is not {CHECKPOINT_FORMAT}")
        config = LPMConfig(**payload["config"])
        kind = LPM._graph_kind if payload.get("graph") is not None else LPM
        model = kind.restored_from(payload, config, device)
        model._restore(payload)
        return model

    @classmethod
    def restored_from(cls, payload: dict, config: LPMConfig, device: str | None) -> "LPM":
        """The model a checkpoint describes, before its seeds are restored."""
        return cls(config, Vocabulary.from_dict(payload["vocab"]), device)

    def _restore(self, payload: dict) -> None:
        for seed, fields in payload["seeds"].items():
            state = SeedState(**fields)
            module = self._new_module(seed)
            weights = state.best_model if state.done and state.best_model is not None else state.model
            if weights is not None:
                module.load_state_dict(weights)
            self.states[seed], self.modules[seed] = state, module

    def _resume_from(self, path: Path) -> None:
        payload = load_checkpoint(path)
        if (payload.get("format") != CHECKPOINT_FORMAT or payload["config"] != self.config.model_dump()
                or payload["vocab"] != self.vocab.to_dict()):
            return  # a checkpoint of another model: start afresh (it is overwritten)
        self._restore(payload)
