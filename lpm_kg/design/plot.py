"""A plan at a glance: every candidate's own uncertainty against the uncertainty of the unmeasured
experiments related to it, coloured by context, the proposed batch numbered by rank."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from lpm_kg.plots import _palette, figure, save_figure


def plot_candidates(candidates: pd.DataFrame, path: Path, title: str = "") -> Path:
    """``candidates``: the columns of :attr:`lpm_kg.design.suggest.Plan.candidates`."""
    fig = figure(7, 5)
    ax = fig.add_subplot(1, 1, 1)
    contexts = sorted(candidates["context"].unique())
    for colour, ctx in zip(_palette(len(contexts)), contexts):
        part = candidates[candidates["context"] == ctx]
        ax.scatter(part["uncertainty"], part["related_uncertainty"], s=12, alpha=0.5, color=colour, label=ctx)
    picked = candidates[candidates["rank"] > 0]
    ax.scatter(picked["uncertainty"], picked["related_uncertainty"], s=60, facecolors="none", edgecolors="black",
               label="proposed")
    for row in picked.itertuples():
        ax.annotate(str(row.rank), (row.uncertainty, row.related_uncertainty), fontsize=7, xytext=(3, 3),
                    textcoords="offset points")
    ax.set_xlabel("uncertainty (seed spread, mean over the context's readouts)")
    ax.set_ylabel("uncertainty of the related unmeasured experiments")
    ax.set_title(title, fontsize=9)
    ax.legend(fontsize=7, loc="best")
    return save_figure(fig, path)
