"""GET /spec: what a job can be (data sets, models, optimizers and their knobs, defaults, rules)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from mnistlab import spec

router = APIRouter(tags=["jobs"])
SPEC = spec.describe()  # a pure function of the code: computed once


@router.get("/spec")
async def read_spec() -> dict[str, Any]:
    """Every choice POST /jobs accepts, with defaults and bounds: the dashboard builds its form from it."""
    return SPEC
