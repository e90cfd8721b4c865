"""What a sweep is: a grid or a search over job fields, on top of a base job (torch- and web-free).

`SweepRequest.check` finds every problem before anything is created: every grid point and every value of a
search space must make a valid job, and the sweep must fit `MNISTLAB_MAX_SWEEP_JOBS`. A grid's trials are
its points in order; a search's are asked from Optuna as workers free up (mnistlab/sweeps.py).
"""

from __future__ import annotations

import itertools
import math
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from mnistlab.spec import JobRequest

SAMPLERS = ("random", "tpe")
PRUNERS = ("none", "median", "hyperband")


class FloatRange(BaseModel):
    """A numeric field searched between low and high (log-uniform with log)."""

    model_config = ConfigDict(extra="forbid")

    low: float
    high: float
    log: bool = False

    @model_validator(mode="after")
    def _ordered(self) -> "FloatRange":
        if not self.low < self.high:
            raise ValueError(f"low ({self.low}) must be below high ({self.high})")
        if self.log and self.low <= 0:
            raise ValueError("a log range needs low > 0")
        return self


class Search(BaseModel):
    model_config = ConfigDict(extra="forbid")

    sampler: Literal[SAMPLERS] = "tpe"  # type: ignore[valid-type]
    trials: int = Field(ge=1, description="how many jobs the search runs")
    seed: int | None = Field(None, ge=0, description="the sampler's seed: the same search asks the same trials")
    space: dict[str, FloatRange | list[Any]] = Field(min_length=1, description="a field -> a range or choices")


class SweepRequest(BaseModel):
    """POST /sweeps: a grid (`grid`) or a search (`search`) over `base`, a job's fields."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=200)
    base: dict[str, Any] = Field(description="job fields every trial shares (as POST /jobs takes them)")
    grid: dict[str, list[Any]] | None = Field(None, description="a field -> its values: every combination runs")
    search: Search | None = None
    pruner: Literal[PRUNERS] = "none"  # type: ignore[valid-type]
    metric: Literal["test_accuracy"] = "test_accuracy"
    max_parallel: int | None = Field(None, ge=1, description="trials queued or running at once (search: default 4)")

    @model_validator(mode="after")
    def _one_kind(self) -> "SweepRequest":
        if (self.grid is None) == (self.search is None):
            raise ValueError("give either grid or search")
        varied = self.grid if self.grid is not None else self.search.space  # type: ignore[union-attr]
        for name, values in varied.items():
            if name not in JobRequest.model_fields:
                raise ValueError(f"{name!r} is not a job field (job fields: {', '.join(JobRequest.model_fields)})")
            if isinstance(values, list) and not values:
                raise ValueError(f"{name!r} lists no values")
        if self.grid is not None and self.pruner != "none":
            raise ValueError("a grid runs every point: pruning is for searches")
        return self

    @property
    def kind(self) -> str:
        return "grid" if self.grid is not None else "search"

    @property
    def planned(self) -> int:
        if self.grid is not None:
            return math.prod(len(values) for values in self.grid.values())
        return self.search.trials  # type: ignore[union-attr]

    def grid_points(self) -> list[dict[str, Any]]:
        assert self.grid is not None
        names = list(self.grid)
        return [dict(zip(names, values, strict=True)) for values in itertools.product(*self.grid.values())]

    def job_request(self, params: dict[str, Any]) -> JobRequest:
        return JobRequest.model_validate({**self.base, **params})

    def check(self, *, max_jobs: int) -> list[str]:
        """Every problem, before anything is created: [] when the sweep can run whole."""
        if self.planned > max_jobs:
            return [f"this sweep would run {self.planned} jobs, more than the {max_jobs} allowed "
                    f"(MNISTLAB_MAX_SWEEP_JOBS)"]
        candidates = self.grid_points() if self.grid is not None else self._space_corners()
        problems = []
        for params in candidates:
            try:
                self.job_request(params)
            except ValidationError as error:
                problems += [f"{_where(e['loc'], params)}: {e['msg']}" for e in error.errors(include_url=False)]
        return list(dict.fromkeys(problems))

    def _space_corners(self) -> list[dict[str, Any]]:
        """Each choice and each range end, with the other fields at their first value: every value is tried."""
        assert self.search is not None
        first = {name: (values.low if isinstance(values, FloatRange) else values[0])
                 for name, values in self.search.space.items()}
        points = []
        for name, values in self.search.space.items():
            for value in ([values.low, values.high] if isinstance(values, FloatRange) else values):
                points.append({**first, name: value})
        return points


def _where(location: tuple[Any, ...], params: dict[str, Any]) -> str:
    field = ".".join(str(part) for part in location) or "base"
    if location and location[0] in params:
        return f"{field}={params[location[0]]!r}"
    return field
