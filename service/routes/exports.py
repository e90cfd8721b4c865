"""Trained models as files for other runtimes: a job's checkpoint or a data set's default model as ONNX."""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter
from fastapi.responses import FileResponse

from service.deps import ExporterDep, ReadSessionDep, RegistryDep
from service.errors import Conflict
from service.schemas import DatasetName, JobId, error_responses
from service.submission import get_job

router = APIRouter(tags=["models"], responses=error_responses(404, 409))
ExportFormat = Literal["onnx"]
FILE = {200: {"content": {"application/octet-stream": {}},
              "description": "the model file; ONNX: input `images` FP32 [N,1,28,28], outputs `logits` and "
                             "`probabilities` [N,10], metadata properties (docs/export.md)"}}


@router.get("/jobs/{job_id}/export", response_class=FileResponse, responses=FILE)
def export_job(job_id: JobId, session: ReadSessionDep, registry: RegistryDep, exporter: ExporterDep,
               format: ExportFormat = "onnx", which: Literal["best", "last"] = "best") -> FileResponse:
    """The job's best (or last) checkpoint as an ONNX file, made on the first request and kept."""
    job = get_job(session, job_id)
    epoch = job.best_epoch if which == "best" else job.last_epoch
    if epoch is None:
        raise Conflict(f"job {job_id} has no checkpoint yet ({job.status.value}): nothing to export")
    path = exporter.job_export_path(job_id, which, epoch, format)
    if not exporter.cached(path):
        model = registry.job(job_id, which)  # its own epoch: a newer one may have landed since the look above
        epoch = model.epoch
        path = exporter.export(model, exporter.job_export_path(job_id, which, epoch, format), format)
    return FileResponse(path, media_type="application/octet-stream",
                        filename=f"mnistlab-job-{job_id}-{which}-epoch-{epoch}.{format}")


@router.get("/models/{dataset}/export", response_class=FileResponse, responses=FILE)
def export_default(dataset: DatasetName, registry: RegistryDep, exporter: ExporterDep,
                   format: ExportFormat = "onnx") -> FileResponse:
    """The data set's current default model (promoted or shipped) as an ONNX file."""
    model = registry.default(dataset)
    if model.job_id is None:
        path, name = exporter.shipped_export_path(dataset), f"mnistlab-{dataset}-shipped"
    else:
        path, name = exporter.job_export_path(model.job_id, "best", model.epoch, format), f"mnistlab-job-{model.job_id}-best"
    exporter.export(model, path, format)
    return FileResponse(path, media_type="application/octet-stream", filename=f"{name}-epoch-{model.epoch}.{format}")
