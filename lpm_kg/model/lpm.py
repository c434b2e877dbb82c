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
from lpm_kg.model.vocab import UnknownSymbolError, Vocabulary

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
    """``priors``: a :class:`lpm_kg.priors.inputs.PriorSource`, required when ``config.priors`` is
    set (the graph-informed LPM); the paper's LPM takes none."""

    def __init__(self, config: LPMConfig, vocab: Vocabulary, device: str | None = None, priors=None):
        self.config, self.vocab = config, vocab
        self.device = resolve_device(device or config.device)
        self.modules: dict[int, torch.nn.Module] = {}
        self.states: dict[int, SeedState] = {}
        if config.priors is not None and priors is None:
            from lpm_kg.errors import ConfigError

            raise ConfigError("a graph-informed LPM (config.priors set) needs the graph's priors "
                              "(lpm_kg.priors.PriorSource); train it with `lpm-kg sync` or train_from_graph")
        self.priors = priors if config.priors is not None else None
        self.moas: list[str] | None = None  # the MOA vocabulary of the graph LPM, fixed at first build
        self._trained_masks: tuple[torch.Tensor, torch.Tensor] | None = None
        self._inputs = None

    @property
    def is_graph(self) -> bool:
        return self.priors is not None

    def _model_inputs(self):
        if self._inputs is None:
            from lpm_kg.priors.inputs import build_inputs

            self._inputs = build_inputs(self.priors, self.vocab.atoms, self.vocab.readouts, self.moas,
                                        edges=self.config.priors.encoder == "gcn")
            self.moas = self._inputs.moas
        return self._inputs

    def _new_module(self, seed: int) -> torch.nn.Module:
        torch.manual_seed(seed)  # the initial weights are a function of the seed alone
        c = self.config
        atom_matrix = torch.as_tensor(self.vocab.atom_matrix())
        if not self.is_graph:
            return LPMModule(len(self.vocab.contexts), len(self.vocab.atoms), len(self.vocab.readouts), atom_matrix,
                             embedding_dim=c.embedding_dim, hidden=c.hidden, dropout=c.dropout,
                             embedding_init_std=c.embedding_init_std,
                             factorized=c.loop == "fast").to(self.device)
        from lpm_kg.model.graph_module import GraphLPMModule

        module = GraphLPMModule(len(self.vocab.contexts), len(self.vocab.atoms), len(self.vocab.readouts),
                                atom_matrix, self._model_inputs(), embedding_dim=c.embedding_dim, hidden=c.hidden,
                                dropout=c.dropout, embedding_init_std=c.embedding_init_std,
                                free_dropout=c.free_dropout, interaction_rank=c.interaction_rank,
                                encoder=c.priors.encoder).to(self.device)
        if self._trained_masks is not None:
            module.atom_trained.copy_(self._trained_masks[0])
            module.readout_trained.copy_(self._trained_masks[1])
        return module

    def _set_trained(self, p, r) -> None:
        """The atoms and readouts of the training tuples: only they get a learned (free) part."""
        atoms = np.unique(self.vocab.atom_matrix()[np.unique(np.asarray(p))])
        a = torch.zeros(len(self.vocab.atoms), dtype=torch.bool)
        a[atoms[atoms < len(self.vocab.atoms)]] = True
        rd = torch.zeros(len(self.vocab.readouts), dtype=torch.bool)
        rd[np.unique(np.asarray(r))] = True
        self._trained_masks = (a.to(self.device), rd.to(self.device))

    # ------------------------------------------------------------------ training

    def fit(self, train: tuple, val: tuple | None = None, *, rows: tuple | None = None,
            checkpoint: str | Path | None = None, show_progress: bool = True) -> "LPM":
        """Train every seed on ``train`` = (p, r, c, y) id arrays in this vocabulary, stopping early
        on ``val``. With ``checkpoint``, progress is saved after each epoch and an existing file
        with the same config and vocabulary is resumed. Under ``torchrun`` every process calls
        this with the same tuples (lpm_kg.model.distributed); only rank 0 writes the checkpoint.

        ``rows`` = (training rows, validation rows or None): ``train`` is then one whole set of
        arrays and the two sets are index views of it, never copies (``val`` must be None)."""
        from lpm_kg.model.distributed import world
        from lpm_kg.settings import Settings

        main_rank = world().is_main
        show_progress = show_progress and main_rank

        if self.device.type == "cpu":
            from lpm_kg.model.train import training_threads

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
        if self.is_graph:
            p_rows, r_rows = (train[0], train[1]) if rows is None else (train[0][rows[0]], train[1][rows[0]])
            self._set_trained(p_rows, r_rows)
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
        """Predictions for symbol triples. The graph LPM predicts perturbations and readouts it never
        saw from their graph priors (:meth:`prior_sources` says which); any other unknown symbol
        raises :class:`UnknownSymbolError`, naming what is missing."""
        model = self._extended(perturbations, readouts) if self.is_graph else self
        v = model.vocab
        return model.predict_ids(v.ids("perturbations", perturbations), v.ids("readouts", readouts),
                                 v.ids("contexts", contexts))

    def prior_sources(self, perturbations: Sequence[str]) -> list[str]:
        """Per perturbation: "learned" when every part was seen in training, else "prior" (its
        embedding comes, at least in part, from the graph alone)."""
        module = next(iter(self.modules.values()), None)
        trained = set()
        if self.is_graph and module is not None:
            trained = {a for a, t in zip(self.vocab.atoms, module.atom_trained.tolist()) if t}
        elif not self.is_graph:
            trained = set(self.vocab.atoms)
        return ["learned" if all(a in trained for a in p.split("+")) else "prior" for p in perturbations]

    def _extended(self, perturbations: Sequence[str], readouts: Sequence[str]) -> "LPM":
        """This model with the unknown perturbations' atoms and readouts added, embedded from their
        priors (their free parts zero and marked untrained); itself when nothing is new."""
        v = self.vocab
        known_atoms, known_readouts = set(v.atoms), set(v.readouts)
        new_atoms: list[str] = []
        for p in dict.fromkeys(perturbations):
            for a in p.split("+"):
                if a in known_atoms or a in new_atoms:
                    continue
                described = self.priors.atom(a)
                if not described.has_prior:
                    raise UnknownSymbolError(f"the model has never seen the perturbation {a!r} and the graph "
                                             f"gives it no prior: {described.reason}")
                new_atoms.append(a)
        new_readouts = [r for r in dict.fromkeys(readouts) if r not in known_readouts]
        for r in new_readouts:
            if self.priors.readout_gene(r) is None:
                raise UnknownSymbolError(f"the model has never seen the readout {r!r} and the graph gives it no "
                                         f"prior: {self.priors.readout_reason(r)}")
        known_perts = set(v.perturbations)
        new_perts = [p for p in dict.fromkeys(perturbations) if p not in known_perts]
        if not (new_atoms or new_readouts or new_perts):
            return self
        ext = LPM(self.config, Vocabulary(v.perturbations + new_perts, v.readouts + new_readouts, v.contexts,
                                          v.atoms + new_atoms), device=str(self.device), priors=self.priors)
        ext.moas, ext.states = self.moas, self.states
        for seed, module in self.modules.items():
            state = module.state_dict()
            for key, extra in (("atom_free.weight", len(new_atoms)), ("atom_trained", len(new_atoms)),
                               ("readout_free.weight", len(new_readouts)), ("readout_trained", len(new_readouts))):
                t = state[key]
                state[key] = torch.cat([t, t.new_zeros((extra, *t.shape[1:]))])
            new = ext._new_module(seed)
            new.load_state_dict(state)
            ext.modules[seed] = new
        return ext

    @torch.no_grad()
    def embeddings(self, kind: str, seed: int | None = None) -> np.ndarray:
        """One seed's embedding table (default the first): ``perturbations`` (bag means, so
        combinations too), ``readouts`` or ``contexts``. Seeds' spaces are not aligned, so
        tables are never averaged across seeds."""
        module = self.modules[seed if seed is not None else self.config.seeds[0]]
        if kind == "perturbations":
            ids = torch.arange(len(self.vocab.perturbations), device=self.device)
            return module.embed_perturbations(ids).cpu().numpy()
        if kind == "readouts" and self.is_graph:
            module.eval()
            return module.readout_embeddings().cpu().numpy()
        table = {"readouts": getattr(module, "readout", None), "contexts": module.context}[kind]
        return table.weight.detach().cpu().numpy().copy()

    # ------------------------------------------------------------------ persistence

    def to_payload(self) -> dict:
        """The checkpoint's content: tensors and plain containers only (:func:`_plain`)."""
        payload = {"format": CHECKPOINT_FORMAT, "config": self.config.model_dump(), "vocab": self.vocab.to_dict(),
                   "seeds": {s: vars(st) for s, st in self.states.items()}}
        if self.is_graph:  # what the graph said when this model trained, so it predicts the same later
            payload["graph"] = {"knowledge": self.priors.knowledge.to_state(), "priors": self.priors.priors.to_state(),
                                "moas": list(self._model_inputs().moas)}
        return _plain(payload)

    def save(self, path: str | Path) -> None:
        save_payload(self.to_payload(), path)

    @classmethod
    def load(cls, path: str | Path, device: str | None = None) -> "LPM":
        return cls.from_payload(load_checkpoint(path), device, where=str(path))

    @classmethod
    def from_payload(cls, payload: dict, device: str | None = None, where: str = "checkpoint") -> "LPM":
        if payload.get("format") != CHECKPOINT_FORMAT:
            raise ValueError(f"{where}: checkpoint format {payload.get('format')} is not {CHECKPOINT_FORMAT}")
        source = None
        if payload.get("graph") is not None:
            from lpm_kg.priors import GenePriors, Knowledge
            from lpm_kg.priors.inputs import PriorSource

            g = payload["graph"]
            source = PriorSource(Knowledge.from_state(g["knowledge"]), GenePriors.from_state(g["priors"]))
        model = cls(LPMConfig(**payload["config"]), Vocabulary.from_dict(payload["vocab"]), device, priors=source)
        if source is not None:
            model.moas = list(payload["graph"]["moas"])
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
        payload = load_checkpoint(path)
        if (payload.get("format") != CHECKPOINT_FORMAT or payload["config"] != self.config.model_dump()
                or payload["vocab"] != self.vocab.to_dict()):
            return  # a checkpoint of another model: start afresh (it is overwritten)
        self._restore(payload)
