"""The three LPM symbols (perturbation, readout, context), spelled as docs/lpm-model.md fixes them.

Perturbation: ``CRISPRi_STAT1`` (genetic: method, underscore, gene), ``vemurafenib-10uM``
(chemical: compound, dash, dose), ``Control``, and combinations ``A+B`` (parts sorted, so one
combination has one symbol). Readout: ``Transcriptome_PSMA1``. Context: ``L1000_A375_CMP``
(dataset tag x cell line x perturbation modality).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field

CONTROL = "Control"
GENETIC_METHODS = ("CRISPRi", "CRISPRa", "CRISPR-KO", "shRNA", "siRNA", "ORF")
# The context's modality tag for chemical perturbations, as in the paper's L1000_A375_CMP.
CHEMICAL_MODALITY = "CMP"
DEFAULT_READOUT_MODALITY = "Transcriptome"

_METHOD_ALIASES = {m.lower(): m for m in GENETIC_METHODS} | {
    "crispr": "CRISPR-KO", "ko": "CRISPR-KO", "crispr-ko": "CRISPR-KO", "crisprko": "CRISPR-KO",
    "knockout": "CRISPR-KO", "sh": "shRNA", "trt_sh": "shRNA", "si": "siRNA", "oe": "ORF",
    "trt_oe": "ORF", "crispri": "CRISPRi", "crispra": "CRISPRa",
}
_UNIT_ALIASES = {"um": "uM", "µm": "uM", "μm": "uM", "micromolar": "uM", "nm": "nM", "mm": "mM",
                 "pm": "pM", "m": "M"}
_DOSE_RE = re.compile(r"^\s*([0-9]*\.?[0-9]+(?:[eE][-+]?[0-9]+)?)\s*([A-Za-zµμ]+)\s*$")


def genetic_method(name: str) -> str:
    """Canonical spelling of a genetic perturbation method (``crispri`` -> ``CRISPRi``)."""
    method = _METHOD_ALIASES.get(name.strip().lower())
    if method is None:
        raise ValueError(f"unknown genetic perturbation method {name!r}; use one of {', '.join(GENETIC_METHODS)}")
    return method


def normalize_unit(unit: str) -> str:
    u = unit.strip()
    return _UNIT_ALIASES.get(u.lower(), u)


def parse_dose(text: str) -> tuple[float, str] | None:
    """``'10 µM'`` -> ``(10.0, 'uM')``; None for blanks and the L1000 placeholder -666."""
    if text is None or str(text).strip() in ("", "-666", "nan", "None"):
        return None
    m = _DOSE_RE.match(str(text))
    if not m:
        raise ValueError(f"cannot read dose {text!r}; expected a number and a unit such as '10 uM'")
    return float(m.group(1)), normalize_unit(m.group(2))


def format_dose(value: float, unit: str) -> str:
    # 10.0 -> "10", 0.37 -> "0.37", 3.33333 -> "3.33": short, and stable across files.
    text = f"{value:.3g}" if value < 1000 else str(int(round(value)))
    if "e" in text:
        text = f"{value:g}"
    return f"{text}{normalize_unit(unit)}"


# Only a bracket after a space is an alias ("Trametinib (GSK1120212)"); inside a chemical name
# ("5-(9-isopropyl...)pyrimidine", "g(+)-JQ1") brackets are part of the name.
_PAREN_RE = re.compile(r"\s+\(([^)]*)\)")
_SALT_RE = re.compile(r"\s+(?:\d*\s*(?:hcl|hbr|hydrochloride|dihydrochloride|mesylate|maleate|tosylate|"
                      r"sodium|potassium|citrate|sulfate|tartrate|fumarate|acetate|phosphate))+\s*$",
                      re.IGNORECASE)


def normalize_compound(name: str) -> tuple[str, list[str]]:
    """A compound's key and the aliases written beside it.

    ``'Trametinib (GSK1120212)'`` -> ``('trametinib', ['gsk1120212'])``: files name one drug with
    code names in brackets and salt forms, annotation tables use the plain lower-case name.
    """
    raw = str(name).strip()
    aliases = [a.strip().lower() for a in _PAREN_RE.findall(raw) if a.strip()]
    base = _PAREN_RE.sub("", raw)
    base = _SALT_RE.sub("", base).strip().lower()
    if not base:  # the whole name was in brackets
        base, aliases = raw.lower(), []
    # Sources write one drug as "triamcinolone acetonide" or "triamcinolone-acetonide".
    base = re.sub(r"\s+", "-", base)
    aliases = [a for a in aliases if a not in ("hydrochloride", "hcl", base)]
    # '+' joins combination parts and '_' separates symbol fields; neither may appear inside a part.
    base = base.replace("+", "(+)") if base.startswith("+") else base
    return base.replace("_", "-").replace("+", "plus"), aliases


def normalize_cell_line(name: str) -> str:
    """``'a549'`` -> ``'A549'``, ``'SK-MEL-28'`` kept; underscores would split the context symbol."""
    text = re.sub(r"[^A-Za-z0-9.\-]+", "-", str(name).strip()).strip("-")
    if not text:
        raise ValueError(f"empty cell line name {name!r}")
    return text.upper()


@dataclass(frozen=True)
class Perturbation:
    """One perturbation as the graph and the model see it."""

    kind: str  # genetic | chemical | control | combination
    gene: str | None = None
    method: str | None = None
    compound: str | None = None
    dose: float | None = None
    dose_unit: str | None = None
    parts: tuple["Perturbation", ...] = field(default=())

    @staticmethod
    def control() -> "Perturbation":
        return Perturbation("control")

    @staticmethod
    def genetic(method: str, gene: str) -> "Perturbation":
        return Perturbation("genetic", gene=gene, method=genetic_method(method))

    @staticmethod
    def chemical(compound: str, dose: float | None = None, dose_unit: str | None = None) -> "Perturbation":
        key, _ = normalize_compound(compound)
        if dose is not None and (not math.isfinite(dose) or dose < 0):
            raise ValueError(f"dose of {compound!r} must be a finite non-negative number, not {dose}")
        return Perturbation("chemical", compound=key, dose=dose,
                            dose_unit=normalize_unit(dose_unit) if dose_unit else None)

    @staticmethod
    def combination(parts: list["Perturbation"]) -> "Perturbation":
        flat: dict[str, Perturbation] = {}
        for p in parts:
            for q in (p.parts if p.kind == "combination" else (p,)):
                if q.kind != "control":  # Control + X is X
                    flat[q.symbol] = q
        if not flat:
            return Perturbation.control()
        if len(flat) == 1:
            return next(iter(flat.values()))
        return Perturbation("combination", parts=tuple(flat[s] for s in sorted(flat)))

    @property
    def symbol(self) -> str:
        if self.kind == "control":
            return CONTROL
        if self.kind == "genetic":
            return f"{self.method}_{self.gene}"
        if self.kind == "chemical":
            if self.dose is None:
                return self.compound
            return f"{self.compound}-{format_dose(self.dose, self.dose_unit or 'uM')}"
        return "+".join(p.symbol for p in self.parts)

    @property
    def modality(self) -> str:
        """The modality tag this perturbation gives its context (CMP, CRISPRi, ...)."""
        if self.kind == "genetic":
            return self.method
        if self.kind == "chemical":
            return CHEMICAL_MODALITY
        if self.kind == "combination":
            return "+".join(sorted({p.modality for p in self.parts}))
        return "Control"


def context_symbol(dataset_tag: str, cell_line: str, modality: str) -> str:
    tag = re.sub(r"[^A-Za-z0-9.\-]+", "-", dataset_tag).strip("-")
    return f"{tag}_{normalize_cell_line(cell_line)}_{modality}"


def readout_symbol(gene: str, modality: str = DEFAULT_READOUT_MODALITY) -> str:
    return f"{modality}_{gene}"


def split_readout(symbol: str) -> tuple[str | None, str]:
    """(modality, gene) of a readout symbol; a bare gene symbol has no modality."""
    modality, sep, gene = symbol.partition("_")
    return (modality, gene) if sep else (None, symbol)


_CONTROL_NAMES = {"control", "ctrl", "ctl", "non-targeting", "nontargeting", "non_targeting", "nt", "dmso",
                  "vehicle", "untreated", "untrt", "empty_vector", "safe-targeting", "negative_control"}
_CHEM_DOSE_RE = re.compile(r"^(.*?)-([0-9]*\.?[0-9]+(?:[eE][-+]?[0-9]+)?)(uM|nM|mM|pM|M)$")


def is_control_name(text: str) -> bool:
    return str(text).strip().lower() in _CONTROL_NAMES


def parse_perturbation(text: str, resolve_gene) -> Perturbation:
    """Read a perturbation written as a symbol: ``Control``, ``CRISPRi_STAT1``, ``vemurafenib-10uM``,
    ``A+B``. ``resolve_gene`` maps a gene id to its approved symbol (raising on failure)."""
    text = str(text).strip()
    if not text:
        raise ValueError("empty perturbation")
    if "+" in text and not text.startswith("+"):
        return Perturbation.combination([parse_perturbation(t, resolve_gene) for t in text.split("+")])
    if is_control_name(text):
        return Perturbation.control()
    if "_" in text:
        method, gene = text.split("_", 1)
        if method.lower() in _METHOD_ALIASES:
            return Perturbation.genetic(method, resolve_gene(gene))
    m = _CHEM_DOSE_RE.match(text)
    if m:
        return Perturbation.chemical(m.group(1), float(m.group(2)), m.group(3))
    return Perturbation.chemical(text)
