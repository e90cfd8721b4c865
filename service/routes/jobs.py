"""Training jobs: submit, list, inspect, follow metrics, cancel, download checkpoints."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Header, Query, Response, status
from fastapi.responses import FileResponse

from mnistlab import jobs
from models_store import checkpoints
from service.deps import ReadSessionDep, SessionDep, SettingsDep
from service.errors import Conflict, NotFound
from service.schemas import (
    MAX_ID,
    DatasetName,
    JobId,
    JobList,
    JobOut,
    JobRequest,
    MetricOut,
    StatusName,
    error_responses,
)
from service.submission import get_job, list_jobs, submit_job
from service.views import job_detail, job_views

router = APIRouter(prefix="/jobs", tags=["jobs"], responses=error_responses(404, 409))


@router.post("", status_code=status.HTTP_201_CREATED, response_model=JobOut,
             responses={200: {"model": JobOut, "description": "Idempotency-Key replay: the job first made with it"}})
def create_job(job_in: JobRequest, session: SessionDep, settings: SettingsDep, response: Response,
               idempotency_key: Annotated[str | None, Header(min_length=1, max_length=128)] = None) -> JobOut:
    """Queue a training job. The same Idempotency-Key twice gives the first job back (200), never a second one."""
    job, created = submit_job(session, settings, job_in, idempotency_key)
    response.headers["Location"] = f"/jobs/{job.id}"
    if not created:
        response.status_code = status.HTTP_200_OK
        response.headers["Idempotent-Replayed"] = "true"
    return job_detail(session, settings, job)


@router.get("", response_model=JobList)
def read_jobs(session: ReadSessionDep, settings: SettingsDep, status: StatusName | None = None,
              dataset: DatasetName | None = None, limit: Annotated[int, Query(ge=1, le=500)] = 50,
              offset: Annotated[int, Query(ge=0, le=MAX_ID)] = 0) -> JobList:
    """Jobs, newest first."""
    total, rows = list_jobs(session, status=status, dataset=dataset, limit=limit, offset=offset)
    return JobList(total=total, jobs=job_views(session, settings, rows))


@router.get("/{job_id}", response_model=JobOut)
def read_job(job_id: JobId, session: ReadSessionDep, settings: SettingsDep) -> JobOut:
    """One job with its progress, latest and best metrics."""
    return job_detail(session, settings, get_job(session, job_id))


@router.get("/{job_id}/metrics", response_model=list[MetricOut])
def read_metrics(job_id: JobId, session: ReadSessionDep) -> list[MetricOut]:
    """Per-epoch loss and accuracies, in epoch order."""
    get_job(session, job_id)
    return [MetricOut.model_validate(row) for row in jobs.metrics_of(session, job_id)]


@router.post("/{job_id}/cancel", response_model=JobOut)
def cancel_job(job_id: JobId, session: SessionDep, settings: SettingsDep) -> JobOut:
    """Cancel: a queued job ends at once, a running one at its next batch."""
    job = get_job(session, job_id)
    if job.status.ended:
        raise Conflict(f"job {job_id} already ended ({job.status.value})")
    jobs.request_cancel(session, job)
    return job_detail(session, settings, job)


@router.get("/{job_id}/checkpoint", response_class=FileResponse,
            responses={200: {"content": {"application/octet-stream": {}}}})
def download_checkpoint(job_id: JobId, session: ReadSessionDep, settings: SettingsDep,
                        which: Literal["best", "last"] = "best") -> FileResponse:
    """The checkpoint file; load it with torch.load(f, weights_only=True)."""
    job = get_job(session, job_id)
    if job.last_epoch is None:
        raise Conflict(f"job {job_id} has no checkpoint yet ({job.status.value})")
    path = checkpoints.checkpoint_path(settings.checkpoint_dir, job.id, which)
    if not path.is_file():
        raise NotFound(f"job {job_id} has no {which} checkpoint on disk")
    epoch = job.best_epoch if which == "best" else job.last_epoch
    return FileResponse(path, media_type="application/octet-stream",
                        filename=f"mnistlab-job-{job.id}-{which}-epoch-{epoch}.pt")
