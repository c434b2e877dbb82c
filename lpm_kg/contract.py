"""The data contract between loaders and the graph, declared in one place.

A loader parses and validates a file into one of these payloads without touching the database;
``lpm_kg.graph.write`` writes payloads. So a bad file fails before anything is written.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from lpm_kg.symbols import DEFAULT_READOUT_MODALITY, Perturbation


class DuplicateRowError(ValueError):
    """Two input rows land on one (experiment, gene) cell, e.g. an old and a new symbol of one gene."""

    def __init__(self, row: int, first: int):
        self.row, self.first = row, first
        super().__init__(f"row {row + 1} measures the same experiment and gene as row {first + 1}")


@dataclass
class ExperimentTable:
    """Measurements: one row per experiment, one column per readout gene.

    ``experiments`` columns: ``key`` (unique within the dataset), ``perturbation``
    (:class:`Perturbation`), ``cell_line``, ``n_replicates``; optionally ``time_h`` and others,
    which become Experiment properties. ``values[i, j]`` is the change of gene ``genes[j]`` in
    experiment ``i`` against control; NaN means not measured.
    """

    experiments: pd.DataFrame
    genes: list[str]
    values: np.ndarray
    value_kind: str
    readout_modality: str = DEFAULT_READOUT_MODALITY
    context_tag: str | None = None  # the dataset part of the context symbol; the dataset name if None

    def __post_init__(self):
        self.values = np.ascontiguousarray(self.values, dtype=np.float32)
        # Loaders check their input and raise InputErrors; these catch a loader that did not.
        if self.values.shape != (len(self.experiments), len(self.genes)):
            raise ValueError(f"values shape {self.values.shape} does not match {len(self.experiments)} experiments "
                             f"x {len(self.genes)} genes")
        if len(set(self.genes)) != len(self.genes):
            dup = pd.Series(self.genes)[pd.Series(self.genes).duplicated()].iat[0]
            raise ValueError(f"readout gene {dup!r} appears twice in one ExperimentTable")

    @property
    def n_measurements(self) -> int:
        return int(np.isfinite(self.values).sum())

    @classmethod
    def from_long(cls, perturbations: list[Perturbation], cell_lines, genes, values: np.ndarray, *,
                  value_kind: str, experiment_props: pd.DataFrame | None = None, **kwargs) -> "ExperimentTable":
        """Pivot long rows (one value each) to experiments x genes. Rows must be unique per
        (perturbation, cell line, gene); genes absent from an experiment stay NaN."""
        # Factorize each column on its own: a MultiIndex would build a Python tuple per row.
        p_codes, p_uniques = pd.factorize(pd.Series([p.symbol for p in perturbations], dtype=object))
        c_codes, c_uniques = pd.factorize(pd.Series(cell_lines, dtype=object).astype(str))
        exp_codes, exp_keys = pd.factorize(p_codes.astype(np.int64) * len(c_uniques) + c_codes)
        exp_uniques = [(p_uniques[k // len(c_uniques)], c_uniques[k % len(c_uniques)]) for k in exp_keys]
        cells = np.asarray(c_uniques, dtype=object)[c_codes]
        gene_codes, gene_uniques = pd.factorize(pd.Series(genes, dtype=object))
        flat = exp_codes.astype(np.int64) * len(gene_uniques) + gene_codes
        seen, first_at = np.unique(flat, return_index=True)
        if len(seen) < len(flat):
            dup = int(np.setdiff1d(np.arange(len(flat)), first_at)[0])
            raise DuplicateRowError(dup, int(first_at[np.searchsorted(seen, flat[dup])]))
        matrix = np.full((len(exp_uniques), len(gene_uniques)), np.nan, dtype=np.float32)
        matrix[exp_codes, gene_codes] = values
        first = pd.Series(np.arange(len(exp_codes))).groupby(exp_codes).first().to_numpy()
        exps = pd.DataFrame({"key": [f"{s}@{c}" for s, c in exp_uniques],
                             "perturbation": [perturbations[i] for i in first],
                             "cell_line": cells[first], "n_replicates": 1})
        if experiment_props is not None:
            for col in experiment_props.columns:
                exps[col] = experiment_props[col].to_numpy()[first]
        return cls(exps, list(gene_uniques), matrix, value_kind, **kwargs)


@dataclass
class GeneTable:
    """The gene id map: ``symbol``, ``hgnc_id``, ``name``, ``entrez``, ``ensembl``, ``locus_group``,
    ``prev_symbols`` (list), ``aliases`` (list), ``uniprot`` (list)."""

    genes: pd.DataFrame


@dataclass
class CompoundTable:
    """Compound annotations: ``name`` (normalised key), ``aliases``, ``moa`` (list), ``targets``
    (list of resolved gene symbols), ``pert_ids`` (list) and optional ``phase``, ``inchikey``,
    ``smiles``."""

    compounds: pd.DataFrame
    source: str


@dataclass
class RelationTable:
    """Reference gene-gene relations of one type (``INTERACTS_WITH`` or ``REGULATES``):
    ``source``, ``target`` (gene symbols) and per-edge properties in the other columns."""

    rel_type: str
    edges: pd.DataFrame
    source: str
    directed: bool


@dataclass
class GroupTable:
    """Gene groups (``Complex`` or ``GeneSet`` nodes): ``groups`` has ``id``, ``name`` and
    properties; ``members`` has ``group`` (id) and ``gene`` (symbol)."""

    label: str
    groups: pd.DataFrame
    members: pd.DataFrame
    source: str
    extra: dict = field(default_factory=dict)


Payload = ExperimentTable | GeneTable | CompoundTable | RelationTable | GroupTable


def average_replicate_rows(keys: pd.DataFrame, values: np.ndarray, by: list[str]) -> tuple[pd.DataFrame, np.ndarray]:
    """Average the rows of a matrix (``values``) that share the columns ``by`` of ``keys``, NaN-aware
    (a loader's replicate measurements of one experiment).

    Returns the first row of each group from ``keys`` with ``n_replicates`` set, and the means.
    """
    group_ids, out = replicate_groups(keys, by)
    n = len(out)
    finite = np.isfinite(values)
    sums = np.zeros((n, values.shape[1]), dtype=np.float64)
    counts = np.zeros((n, values.shape[1]), dtype=np.int64)
    np.add.at(sums, group_ids, np.where(finite, values, 0.0))
    np.add.at(counts, group_ids, finite)
    with np.errstate(invalid="ignore", divide="ignore"):
        means = np.where(counts > 0, sums / np.maximum(counts, 1), np.nan).astype(np.float32)
    return out, means


def replicate_groups(keys: pd.DataFrame, by: list[str]) -> tuple[np.ndarray, pd.DataFrame]:
    """The replicate group of each row of ``keys`` (rows sharing the columns ``by``), numbered in
    order of first appearance, and the first row of each group with ``n_replicates`` set. Apart
    from the values, so a chunked reader can group before it reads any."""
    group_ids, uniques = pd.factorize(pd.MultiIndex.from_frame(keys[by].astype(str)))
    first = pd.Series(np.arange(len(keys))).groupby(group_ids).first().to_numpy()
    out = keys.iloc[first].reset_index(drop=True).copy()
    out["n_replicates"] = np.bincount(group_ids, minlength=len(uniques))
    return group_ids, out


__all__ = ["ExperimentTable", "GeneTable", "CompoundTable", "RelationTable", "GroupTable", "Payload",
           "Perturbation", "average_replicate_rows", "replicate_groups"]
