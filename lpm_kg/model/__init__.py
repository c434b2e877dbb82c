"""The Large Perturbation Model: config (``config``), vocabularies (``vocab``), the torch module
(``module``), the training loop (``train``) and the user-facing class (``lpm.LPM``) live apart."""

from lpm_kg.model.config import PRESETS, LPMConfig
from lpm_kg.model.lpm import LPM
from lpm_kg.model.graph_lpm import GraphLPM  # noqa: E402 - defining it registers it as LPM's graph kind
from lpm_kg.model.vocab import UnknownSymbolError, Vocabulary

__all__ = ["LPM", "GraphLPM", "LPMConfig", "PRESETS", "Vocabulary", "UnknownSymbolError"]
