"""One cleaner for values leaving NumPy and pandas for JSON or Cypher, which have no NaN."""

from __future__ import annotations

import math

import numpy as np


def json_safe(value):
    """``value`` with NaN and infinities as None and NumPy scalars as Python ones, through dicts
    (keys as str), lists and tuples (as lists). JSON has no NaN, and Cypher takes a missing
    optional property as null, never as NaN."""
    if isinstance(value, dict):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(v) for v in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def frame_records(frame) -> list[dict]:
    """A DataFrame's rows as JSON-safe dicts with every float exact. Not ``DataFrame.to_json``: it
    keeps 10 decimal places by default, so a p value of 3e-12 comes back as 0.0 (and 2.6123e-05
    as 2.6e-05)."""
    return json_safe(frame.astype(object).where(frame.notna(), None).to_dict(orient="records"))
