"""The Large Perturbation Model: config (``config``), vocabularies (``vocab``), the torch module
(``module``), the training loop (``train``) and the user-facing class (``lpm.LPM``) live apart."""

from lpm_kg.model.config import PRESETS, LPMConfig
from lpm_kg.model.lpm import LPM
from lpm_kg.model.vocab import UnknownSymbolError, Vocabulary

__all__ = ["LPM", "LPMConfig", "PRESETS", "Vocabulary", "UnknownSymbolError"]
