"""Fuzz the whole API from its own OpenAPI schema with schemathesis (issue 6, item 7): no 5xx, and every
response matches the schema (status codes, content types, bodies). Bounded: a few dozen cases per operation."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.specs.openapi.checks import positive_data_acceptance

from tests.helpers.servers import LiveServer, Processes, make_settings, start_server

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def api_server(tmp_path_factory: pytest.TempPathFactory, small_data_dir: Path) -> Iterator[LiveServer]:
    server_settings = make_settings(tmp_path_factory.mktemp("fuzz"), small_data_dir)
    running = Processes(server_settings)
    try:
        yield start_server(running, server_settings, workers=0)
    finally:
        running.stop_all()


@pytest.fixture(scope="module")
def api_schema(api_server: LiveServer):  # type: ignore[no-untyped-def]
    return schemathesis.openapi.from_url(f"{api_server.url}/openapi.json")


def test_no_server_error_and_responses_match_the_schema(api_schema) -> None:  # type: ignore[no-untyped-def]
    # Driven through hypothesis directly: schemathesis' pytest plugin does not run on this pytest.
    operations = [result.ok() for result in api_schema.get_all_operations()]
    assert len(operations) > 20
    for operation in operations:
        # derandomize: the same cases on every run, so CI is repeatable; raise max_examples to explore more.
        @given(case=operation.as_strategy())
        @settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck), database=None,
                  derandomize=True)
        def check(case) -> None:  # type: ignore[no-untyped-def]
            # positive_data_acceptance is left out: rules across fields (`hidden` only with ffnn, `momentum`
            # only with sgd) and answers that depend on state or content (409 for a job with no checkpoint
            # yet, 400/413/415 for the bytes of an upload) are not expressible in the schema.
            case.call_and_validate(excluded_checks=[positive_data_acceptance])

        check()
