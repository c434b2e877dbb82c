"""Option declarations the measurement loaders share (each loader's own options are a
:class:`lpm_kg.registry.LoaderOptions` model beside it)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from lpm_kg import collisions

# collisions.POLICIES, as a type: a value outside it is refused when the options are validated.
Collisions = Literal[collisions.POLICIES]


def collisions_field(default: Collisions | None, first_means: str, more: str = ""):
    """The ``collisions`` option: what to do with rows that land on one value (lpm_kg/collisions.py)."""
    return Field(default, description=(
        "error, first or mean: rows that land on one (perturbation, readout, context) value after id resolution "
        "and name normalisation (a repeated row, two ids of one gene, two names of one perturbation). error "
        f"refuses the file naming both rows; first keeps {first_means}; mean averages them{more}. The Dataset "
        "records collisions, collision_policy and collision_kinds"))
