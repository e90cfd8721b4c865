"""Fuzz the whole API from its own OpenAPI schema with schemathesis (issue 6, item 7): no 5xx, every response
matches the schema (status codes, content types, bodies, authentication), and a request the schema calls valid
is not refused (but where the schema cannot say what valid is: VALID_BY_MORE_THAN_THE_SCHEMA). Bounded: a few
dozen cases per operation. The server runs with an API key, as deployed.

The database holds a finished job with its checkpoints and a finished sweep, and half the cases of an
operation on a job or a sweep use its id, so checkpoint, analysis, figure, comparison and sweep routes are
exercised past their 404s."""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.helpers.jobs import QUICK_JOB
from tests.helpers.servers import LiveServer, module_server, wait_for
from workers.worker import Worker

pytestmark = pytest.mark.slow
MAX_EXAMPLES = 40


# Operations whose requests can fit the schema and still be refused, for what a schema cannot say: the reason,
# as the refusal (a 400 or 422 naming the problem) says it.
VALID_BY_MORE_THAN_THE_SCHEMA = {
    "POST /jobs": "rules across fields: hidden only with ffnn, momentum only with sgd, early stopping needs "
                  "patience or a target",
    "POST /sweeps": "a trial's job is the base with the grid's or the search's values: together they must make a job",
    "PUT /models/{dataset}/default": "the job must have trained on that data set",
    "GET /jobs/{job_id}/misclassified": "with images=true, a limit of at most 1,000",
    "POST /predict": "the uploaded bytes must be an image",
    "POST /explain": "the uploaded bytes must be an image",
    "POST /v2/models/{name}/infer": "a tensor's data must fill its shape and hold its datatype's values",
    "POST /v2/models/{name}/versions/{version}/infer": "a tensor's data must fill its shape and hold its datatype's "
                                                        "values",
}
KEY = "fuzz-key"
AUTH = {"Authorization": f"Bearer {KEY}"}
SWEEP = {"name": "fuzzed", "base": {**QUICK_JOB, "epochs": 1}, "grid": {"lr": [0.01, 0.02]}}


@pytest.fixture(scope="module")
def api_server(tmp_path_factory: pytest.TempPathFactory, small_data_dir: Path) -> Iterator[LiveServer]:
    """A server with a key (as deployed), a finished job (id 1) and a finished sweep (id 1) of two more."""
    with module_server(tmp_path_factory.mktemp("fuzz"), small_data_dir, workers=0, api_key=KEY) as (server, made):
        server.http.headers.update(AUTH)
        finished = server.http.post("/jobs", json=QUICK_JOB).json()["id"]
        sweep = server.http.post("/sweeps", json=SWEEP).json()["id"]
        assert (finished, sweep) == (1, 1)
        assert Worker(made).run(burst=True) == 3
        assert server.http.get(f"/jobs/{finished}").json()["status"] == "succeeded"
        assert server.http.get(f"/jobs/{finished}/checkpoint").status_code == 200
        wait_for(lambda: server.http.get(f"/sweeps/{sweep}").json()["status"] == "finished", timeout=30,
                 what="the sweep to finish")
        yield server


@pytest.fixture(scope="module")
def api_schema(api_server: LiveServer):  # type: ignore[no-untyped-def]
    # schemathesis and hypothesis are imported here, not at the top: importing them takes seconds, which every
    # run of the suite would pay while collecting, the quick loop's included (their pytest plugins are off in
    # pyproject.toml for the same reason).
    import schemathesis

    return schemathesis.openapi.from_url(f"{api_server.url}/openapi.json", headers=AUTH)


def test_no_server_error_and_responses_match_the_schema(api_schema, api_server: LiveServer) -> None:  # type: ignore[no-untyped-def]
    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st
    from schemathesis.specs.openapi.checks import positive_data_acceptance

    # Driven through hypothesis directly: schemathesis' pytest plugin does not run on this pytest.
    # GET /events never ends (it is the stream of everything): tests/system/test_live_events.py covers it.
    operations = [op for op in (result.ok() for result in api_schema.get_all_operations()) if op.path != "/events"]
    assert len(operations) > 20
    cases: Counter[str] = Counter()
    statuses: Counter[tuple[str, int]] = Counter()
    for operation in operations:
        # derandomize: the same cases on every run, so CI is repeatable; raise max_examples to explore more.
        # The too_slow and filter_too_much health checks would stop a run over timing, not over a bug; the
        # case count below shows how many cases really ran.
        @given(case=operation.as_strategy(), use_finished_job=st.booleans())
        @settings(max_examples=MAX_EXAMPLES, deadline=None, database=None, derandomize=True,
                  suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
        def check(case, use_finished_job: bool) -> None:  # type: ignore[no-untyped-def]
            if use_finished_job and "job_id" in (case.path_parameters or {}):
                case.path_parameters["job_id"] = 1
            if use_finished_job and "sweep_id" in (case.path_parameters or {}):
                case.path_parameters["sweep_id"] = 1
            if use_finished_job and "jobs" in (case.query or {}):
                case.query["jobs"] = "1"
            # With the key, every check runs, `ignored_auth` among them (an operation under the key must refuse a
            # request without it, and one documented as open must not), and `positive_data_acceptance` (a
            # request the schema calls valid is not refused) on all but the operations named below.
            excluded = [positive_data_acceptance] if operation.label in VALID_BY_MORE_THAN_THE_SCHEMA else []
            response = case.call_and_validate(headers=AUTH, excluded_checks=excluded)
            cases[operation.label] += 1
            statuses[(operation.label, response.status_code)] += 1

        check()
    # Every operation ran its full MAX_EXAMPLES cases, except open ones whose inputs are all enums: hypothesis
    # then runs each combination once (times two for use_finished_job). An operation under the key has its
    # credentials among its inputs, and those are not a few values.
    schema = api_server.http.get("/openapi.json").json()["paths"]
    expected = {}
    for operation in operations:
        spec = schema[operation.path][operation.method.lower()]
        # A parameter of a few values (an enum, or a constant) has that many choices, one more when optional.
        enums = [len(p["schema"].get("enum", [None])) + (0 if p.get("required") else 1)
                 for p in spec.get("parameters", []) if {"enum", "const"} & set(p.get("schema", {}))]
        finite = "requestBody" not in spec and len(enums) == len(spec.get("parameters", [])) \
            and spec.get("security") == []
        expected[operation.label] = min(MAX_EXAMPLES, 2 * math.prod(enums)) if finite else MAX_EXAMPLES
    assert dict(cases) == expected
    # The finished job was reached: its checkpoint, figures and analyses answered 200, not only 404.
    for label in ("GET /jobs/{job_id}/checkpoint", "GET /jobs/{job_id}/confusion", "GET /jobs/{job_id}/misclassified",
                  "GET /jobs/{job_id}/plot.png", "GET /compare", "GET /sweeps/{sweep_id}",
                  "GET /sweeps/{sweep_id}/plot.png", "GET /sweeps/{sweep_id}/params.png"):
        assert statuses[(label, 200)] > 0, (label, {k: v for k, v in statuses.items() if k[0] == label})
