"""Knowledge-graph priors: what the reference relations (STRING, CORUM, gene sets, DoRothEA,
TRRUST) and compound annotations (HAS_TARGET, HAS_MOA) say about genes and compounds, turned into
vectors the graph-informed LPM maps into its embedding space, so that a perturbation or readout
never measured can still be predicted.

- :mod:`lpm_kg.priors.knowledge`: the relations and annotations, read from the graph (or built
  from tables), with a fingerprint;
- :mod:`lpm_kg.priors.encoder`: the gene prior vectors fitted from the relations (spectral
  embedding propagated with torch-geometric's APPNP);
- :mod:`lpm_kg.priors.inputs`: what the model needs per perturbation atom and readout (method,
  target genes, MOAs, readout gene), and why a symbol has no prior.
"""

from lpm_kg.priors.encoder import GenePriors, PriorSpec, fit_gene_priors
from lpm_kg.priors.knowledge import ANNOTATIONS, RELATIONS, Knowledge, read_knowledge

__all__ = ["ANNOTATIONS", "RELATIONS", "GenePriors", "Knowledge", "PriorSpec", "fit_gene_priors", "read_knowledge"]
