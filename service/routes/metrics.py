"""GET /metrics: Prometheus text format (behind the API key like the rest, when one is set)."""

from __future__ import annotations

from fastapi import APIRouter, Response
from prometheus_client import CONTENT_TYPE_LATEST

from service.deps import MetricsDep

router = APIRouter(tags=["operations"])


@router.get("/metrics", response_class=Response,
            responses={200: {"content": {CONTENT_TYPE_LATEST: {"schema": {"type": "string"}}},
                             "description": "Prometheus exposition format"}})
def metrics(api_metrics: MetricsDep) -> Response:
    """Jobs by state, queue depth, live workers, epoch durations and images/s, predictions, HTTP requests."""
    return Response(api_metrics.exposition(), media_type=CONTENT_TYPE_LATEST)
