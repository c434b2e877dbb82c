"""Symbol vocabularies. A perturbation is a bag of atoms: ``A+B`` embeds as the mean of A and B."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from lpm_kg.errors import LpmKgError


class UnknownSymbolError(LpmKgError, KeyError):
    """A symbol the model never saw. Never quietly mapped to Control."""

    def __str__(self) -> str:  # KeyError would quote the message
        return self.args[0]


@dataclass
class Vocabulary:
    perturbations: list[str]
    readouts: list[str]
    contexts: list[str]
    atoms: list[str] = field(default_factory=list)

    def __post_init__(self):
        if not self.atoms:
            self.atoms = sorted({a for p in self.perturbations for a in p.split("+")})
        self._index = {kind: {s: i for i, s in enumerate(getattr(self, kind))}
                       for kind in ("perturbations", "readouts", "contexts", "atoms")}

    def ids(self, kind: str, symbols, *, allow_new_combinations: bool = False) -> np.ndarray:
        """Ids of ``symbols`` in vocabulary ``kind`` (perturbations, readouts, contexts)."""
        index = self._index[kind]
        out = np.empty(len(symbols), dtype=np.int64)
        for i, s in enumerate(symbols):
            if s in index:
                out[i] = index[s]
            else:
                raise UnknownSymbolError(f"the model has never seen the {kind[:-1]} {s!r}; it knows "
                                         f"{len(index)} {kind} (e.g. {', '.join(list(index)[:3])})")
        return out

    def atom_matrix(self, perturbations: list[str] | None = None) -> np.ndarray:
        """[n, max_parts] atom ids per perturbation, padded with ``len(atoms)`` (ignored by the bag)."""
        perts = self.perturbations if perturbations is None else perturbations
        parts = [p.split("+") for p in perts]
        width = max((len(x) for x in parts), default=1)
        pad = len(self.atoms)
        out = np.full((len(perts), width), pad, dtype=np.int64)
        for i, x in enumerate(parts):
            for j, a in enumerate(x):
                if a not in self._index["atoms"]:
                    raise UnknownSymbolError(f"the model has never seen the perturbation {a!r} (in {perts[i]!r})")
                out[i, j] = self._index["atoms"][a]
        return out

    def to_dict(self) -> dict:
        return {"perturbations": self.perturbations, "readouts": self.readouts, "contexts": self.contexts,
                "atoms": self.atoms}

    @classmethod
    def from_dict(cls, d: dict) -> "Vocabulary":
        return cls(d["perturbations"], d["readouts"], d["contexts"], d["atoms"])
