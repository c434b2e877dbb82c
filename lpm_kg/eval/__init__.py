"""Evaluation in pure NumPy: the paper's target-context split (``split``), metrics
(``metrics``), baselines (``baselines``), one model registry with the LPM (``models``) and the
benchmark table (``benchmark``). See docs/lpm-model.md."""

from lpm_kg.eval.baselines import BASELINES, Baseline, context_readout_means
from lpm_kg.eval.benchmark import run_benchmark, summary, tuples_from_frame
from lpm_kg.eval.metrics import compute_metrics
from lpm_kg.eval.lpm_model import LPMModel
from lpm_kg.eval.models import MODELS, describe_models, make_model, model_names
from lpm_kg.eval.split import Split, eligible_target_contexts, split_target_context

__all__ = ["BASELINES", "Baseline", "LPMModel", "MODELS", "Split", "compute_metrics", "context_readout_means",
           "describe_models", "eligible_target_contexts", "make_model", "model_names", "run_benchmark",
           "split_target_context", "summary", "tuples_from_frame"]
