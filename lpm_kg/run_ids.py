"""Run ids derived from their inputs, with no dependency: the prior encoder names its fits with
them before any graph or torch is imported (building an ``LPMConfig`` must stay light)."""

from __future__ import annotations

import hashlib


def derived_run_id(prefix: str, *parts: str) -> str:
    """``<prefix>-<12 hex digits>``: a digest of ``parts``, so the same inputs always name the
    same run (a rerun finds its run, changed inputs make a new one)."""
    return f"{prefix}-{hashlib.sha256(''.join(parts).encode()).hexdigest()[:12]}"
