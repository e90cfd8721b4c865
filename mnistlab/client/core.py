"""`Client`, `Job` and `Sweep`: the HTTP API as Python calls (httpx underneath; no torch, no pydantic)."""

from __future__ import annotations

import os
import re
import tempfile
import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx

from mnistlab.client import images as image_inputs
from mnistlab.client.errors import (
    ApiError,
    JobCancelled,
    JobFailed,
    ServerUnavailable,
    WaitTimeout,
)
from mnistlab.client.events import KEEPALIVE_GRACE, follow
from mnistlab.client.records import (
    ClassProbability,
    Event,
    Metric,
    ModelInfo,
    Models,
    Prediction,
    Predictions,
    Trial,
)

DEFAULT_URL = "http://127.0.0.1:8000"
FILES_PER_REQUEST = 64     # the server's limit for /predict (MNISTLAB: uploads.MAX_FILES)
IMAGES_PER_REQUEST = 1024  # and for one OIP tensor (inference_v2.MAX_IMAGES)
DATES = ("created_at", "started_at", "finished_at")


def _detail(response: httpx.Response) -> str:
    """The server's message: `detail` (FastAPI; a 422's list flattened to `where: what`) or OIP's `error`."""
    try:
        body = response.json()
    except ValueError:
        return response.text.strip() or response.reason_phrase
    detail = body.get("detail", body.get("error")) if isinstance(body, dict) else body
    if isinstance(detail, list):
        return "; ".join(f"{'.'.join(str(part) for part in item.get('loc', [])[1:]) or 'request'}: {item.get('msg')}"
                         for item in detail)
    return str(detail)


class _Record:
    """The API's JSON fields as attributes (dates parsed); `data` holds them as they came."""

    def __init__(self, client: Client, data: dict[str, Any]) -> None:
        self.client, self.data = client, data

    def __getattr__(self, name: str) -> Any:
        try:
            value = self.__dict__["data"][name]
        except KeyError:
            raise AttributeError(f"{type(self).__name__} has no field {name!r}") from None
        return datetime.fromisoformat(value) if name in DATES and value else value

    def __dir__(self) -> list[str]:
        return sorted({*super().__dir__(), *self.data})


class Job(_Record):
    """A training job as the server last described it; `refresh()` asks again."""

    def __repr__(self) -> str:
        return f"Job(id={self.id}, status={self.status!r}, {self.dataset}/{self.model}/{self.optimizer})"

    @property
    def ended(self) -> bool:
        return self.status in ("succeeded", "failed", "cancelled", "pruned")

    def refresh(self) -> Job:
        self.data = self.client._json("GET", f"/jobs/{self.id}")
        return self

    def events(self, *, last_event_id: str | None = None) -> Iterator[Event]:
        """Progress, each finished epoch and the final status, as they happen; survives dropped connections."""
        return self.client._events(f"/jobs/{self.id}/events", last_event_id=last_event_id)

    def wait(self, timeout: float | None = None, progress: bool = False) -> Job:
        """Until the job ends: itself when it succeeded, else JobFailed / JobCancelled with the server's message.
        progress=True draws a live progress bar (rich) while waiting."""
        deadline = None if timeout is None else time.monotonic() + timeout
        if progress:
            from mnistlab.client.display import JobProgress

            with JobProgress(self) as display:
                self._follow_until_end(deadline, display.update)
        else:
            self._follow_until_end(deadline, None)
        self.refresh()
        if self.status == "failed":
            raise JobFailed(self, f"job {self.id} failed: {self.error}")
        if self.status in ("cancelled", "pruned"):
            why = "its sweep's pruner stopped it" if self.status == "pruned" else "it was cancelled"
            raise JobCancelled(self, f"job {self.id} {self.status}: {self.error or why}")
        return self

    def _follow_until_end(self, deadline: float | None, on_event: Any) -> None:
        try:
            for event in self.client._events(f"/jobs/{self.id}/events", deadline=deadline):
                if on_event is not None:
                    on_event(event)
                if deadline is not None and time.monotonic() > deadline:
                    break
        except httpx.TimeoutException:
            pass
        if deadline is not None and time.monotonic() > deadline and not self.refresh().ended:
            raise WaitTimeout(f"job {self.id} still {self.status} after the timeout")

    def metrics(self) -> list[Metric]:
        return [Metric.of(row) for row in self.client._json("GET", f"/jobs/{self.id}/metrics")]

    def download_checkpoint(self, path: str | os.PathLike[str], which: str = "best") -> Path:
        """Save the `best` or `last` checkpoint (a state_dict: torch.load(path, weights_only=True)).
        A folder for `path` keeps the server's file name."""
        return self.client._download(f"/jobs/{self.id}/checkpoint", {"which": which}, Path(path))

    def export(self, path: str | os.PathLike[str], format: str = "onnx", which: str = "best") -> Path:
        """Save the model in another runtime's format (ONNX: runs in onnxruntime without torch)."""
        return self.client._download(f"/jobs/{self.id}/export", {"format": format, "which": which}, Path(path))

    def cancel(self) -> Job:
        self.data = self.client._json("POST", f"/jobs/{self.id}/cancel")
        return self

    def promote(self) -> ModelInfo:
        """Make this job's best checkpoint its data set's default model (what /predict uses)."""
        return self.client.promote(self.id, dataset=self.dataset)


class Sweep(_Record):
    """A grid or search of jobs (its trials); `refresh()` asks again."""

    def __repr__(self) -> str:
        return f"Sweep(id={self.id}, name={self.name!r}, status={self.status!r})"

    @property
    def ended(self) -> bool:
        return self.status in ("finished", "cancelled")

    @property
    def trials(self) -> list[Trial]:
        """The leaderboard: trials by best test accuracy, best first."""
        return [Trial.of(row) for row in self.data["leaderboard"]]

    def refresh(self) -> Sweep:
        self.data = self.client._json("GET", f"/sweeps/{self.id}")
        return self

    def best_job(self) -> Job | None:
        return None if self.best_job_id is None else self.client.job(self.best_job_id)

    def cancel(self) -> Sweep:
        self.data = self.client._json("POST", f"/sweeps/{self.id}/cancel")
        return self

    def wait(self, timeout: float | None = None, progress: bool = False, poll: float = 1.0) -> Sweep:
        """Until every trial has ended (the sweep `finished` or `cancelled`); progress=True draws a bar."""
        deadline = None if timeout is None else time.monotonic() + timeout
        display = None
        if progress:
            from mnistlab.client.display import SweepProgress

            display = SweepProgress(self).__enter__()
        try:
            while not self.refresh().ended:
                if display is not None:
                    display.update(self)
                if deadline is not None and time.monotonic() > deadline:
                    raise WaitTimeout(f"sweep {self.id} still {self.status} after the timeout")
                time.sleep(poll)
            if display is not None:
                display.update(self)
        finally:
            if display is not None:
                display.__exit__(None, None, None)
        return self


class Client:
    """mnistlab's HTTP API. url and api_key default to $MNISTLAB_URL (else http://127.0.0.1:8000) and
    $MNISTLAB_API_KEY. Every error is an `MnistlabError`: `ApiError` (status, detail) when the server said
    no, `ServerUnavailable` when it did not answer."""

    def __init__(self, url: str | None = None, api_key: str | None = None, timeout: float = 30.0) -> None:
        self.url = (url or os.environ.get("MNISTLAB_URL") or DEFAULT_URL).rstrip("/")
        key = api_key if api_key is not None else os.environ.get("MNISTLAB_API_KEY")
        headers = {"Authorization": f"Bearer {key}"} if key else {}
        self.timeout = timeout
        self._http = httpx.Client(base_url=self.url, headers=headers, timeout=timeout)
        self._class_names: dict[str, list[str]] = {}

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._http.close()

    # jobs
    def submit(self, *, dataset: str, model: str, optimizer: str, epochs: int | None = None,
               batch_size: int | None = None, lr: float | None = None, seed: int | None = None,
               device: str | None = None, idempotency_key: str | None = None, **fields: Any) -> Job:
        """Queue a training job; fields left out take the server's defaults (see GET /spec). The same
        idempotency_key twice gives the first job back instead of a second one."""
        body = {"dataset": dataset, "model": model, "optimizer": optimizer, "epochs": epochs,
                "batch_size": batch_size, "lr": lr, "seed": seed, "device": device, **fields}
        headers = {"Idempotency-Key": idempotency_key} if idempotency_key else {}
        data = self._json("POST", "/jobs", json={k: v for k, v in body.items() if v is not None}, headers=headers)
        return Job(self, data)

    def job(self, job_id: int) -> Job:
        return Job(self, self._json("GET", f"/jobs/{int(job_id)}"))

    def jobs(self, status: str | None = None, dataset: str | None = None, limit: int = 50,
             offset: int = 0) -> list[Job]:
        """Jobs, newest first."""
        params = {k: v for k, v in {"status": status, "dataset": dataset, "limit": limit, "offset": offset}.items()
                  if v is not None}
        return [Job(self, row) for row in self._json("GET", "/jobs", params=params)["jobs"]]

    # predictions
    def predict(self, images: Any, dataset: str = "mnist", job: int | Job | None = None,
                top_k: int = 3) -> Predictions:
        """Classify images: paths, bytes or PIL images (through /predict, the server preprocesses them), or an
        N x 28 x 28 array already in the data set's form (UINT8, or floats in [0, 1]; through the OIP route).
        job: a job's best checkpoint instead of the data set's default model."""
        job_id = job.id if isinstance(job, Job) else job
        if image_inputs.is_array(images):
            return self._predict_arrays(images, dataset, job_id, top_k)
        uploads = image_inputs.as_uploads(images)
        params: dict[str, Any] = {"dataset": dataset, "top_k": top_k}
        if job_id is not None:
            params["job_id"] = job_id
        model, predictions = None, []
        for start in range(0, len(uploads), FILES_PER_REQUEST):
            chunk = uploads[start:start + FILES_PER_REQUEST]
            data = self._json("POST", "/predict", params=params,
                              files=[("file", (upload.name, upload.data)) for upload in chunk])
            model = model or ModelInfo.of(data["model"])
            predictions += [Prediction.of(row) for row in data["predictions"]]
        if model is None:
            raise ValueError("no images given")
        return Predictions(model, predictions)

    def _predict_arrays(self, images: Any, dataset: str, job_id: int | None, top_k: int) -> Predictions:
        name = f"job-{job_id}" if job_id is not None else dataset
        metadata = self._json("GET", f"/v2/models/{name}")
        parameters, version = metadata["parameters"], metadata["versions"][0]
        model = ModelInfo(job_id=parameters["job_id"], dataset=parameters["dataset"],
                          model=parameters["architecture"], epoch=int(version),
                          test_accuracy=parameters["test_accuracy"])
        class_names = parameters["class_names"]
        tensor = image_inputs.as_tensor(images)
        k = max(1, min(top_k, len(class_names)))
        predictions: list[Prediction] = []
        for start in range(0, len(tensor), IMAGES_PER_REQUEST):
            body, headers = image_inputs.infer_body(tensor[start:start + IMAGES_PER_REQUEST])
            # The version pins the weights read above: a promotion in between is a 404, not a mixed answer.
            response = self._request("POST", f"/v2/models/{name}/versions/{version}/infer", content=body,
                                     headers=headers)
            probabilities = image_inputs.probabilities_of(response.content,
                                                          response.headers.get(image_inputs.HEADER_LENGTH))
            for offset, row in enumerate(probabilities):
                ranked = sorted(range(len(row)), key=lambda label: -row[label])[:k]
                top = [ClassProbability(int(label), class_names[label], float(row[label])) for label in ranked]
                predictions.append(Prediction(f"images[{start + offset}]", top[0].label, top[0].class_name,
                                              top[0].probability, top))
        return Predictions(model, predictions)

    # models
    def models(self) -> Models:
        data = self._json("GET", "/models")
        return Models(defaults={name: ModelInfo.of(row) for name, row in data["defaults"].items()},
                      jobs=[ModelInfo.of(row) for row in data["jobs"]])

    def promote(self, job_id: int, dataset: str | None = None) -> ModelInfo:
        """Make a job's best checkpoint the default model of its data set."""
        dataset = dataset or self.job(job_id).dataset
        return ModelInfo.of(self._json("PUT", f"/models/{dataset}/default", json={"job_id": int(job_id)}))

    def export_model(self, dataset: str, path: str | os.PathLike[str], format: str = "onnx") -> Path:
        """Save the data set's current default model (promoted or shipped) as ONNX."""
        return self._download(f"/models/{dataset}/export", {"format": format}, Path(path))

    def reset(self, dataset: str) -> ModelInfo:
        """Go back to the model shipped with mnistlab for this data set."""
        return ModelInfo.of(self._json("DELETE", f"/models/{dataset}/default"))

    # sweeps
    def sweep(self, *, name: str, base: dict[str, Any], grid: dict[str, list[Any]] | None = None,
              search: dict[str, Any] | None = None, pruner: str | None = None,
              max_parallel: int | None = None) -> Sweep:
        """Start a sweep: every combination of `grid`, or `search` ({"trials", "space", "sampler", "seed"})."""
        body = {"name": name, "base": base, "grid": grid, "search": search, "pruner": pruner,
                "max_parallel": max_parallel}
        return Sweep(self, self._json("POST", "/sweeps", json={k: v for k, v in body.items() if v is not None}))

    def get_sweep(self, sweep_id: int) -> Sweep:
        return Sweep(self, self._json("GET", f"/sweeps/{int(sweep_id)}"))

    def sweeps(self) -> list[Sweep]:
        return [Sweep(self, row) for row in self._json("GET", "/sweeps")]

    def health(self) -> dict[str, Any]:
        return self._json("GET", "/health")

    # plumbing
    def _request(self, method: str, path: str, **options: Any) -> httpx.Response:
        try:
            response = self._http.request(method, path, **options)
        except httpx.TransportError as error:
            raise self._unavailable(error) from error
        self._check(response)
        return response

    def _json(self, method: str, path: str, **options: Any) -> Any:
        return self._request(method, path, **options).json()

    def _check(self, response: httpx.Response) -> None:
        if response.status_code >= 400:
            response.read()
            raise ApiError(response.status_code, _detail(response), method=response.request.method,
                           url=str(response.request.url))

    def _unavailable(self, error: httpx.TransportError) -> ServerUnavailable:
        if isinstance(error, httpx.ConnectError):
            return ServerUnavailable(self.url, f"no server is answering at {self.url}: the connection failed "
                                               f"({error})")
        if isinstance(error, httpx.TimeoutException):
            return ServerUnavailable(self.url, f"the server at {self.url} accepted the connection but did not "
                                               f"answer within {self.timeout:g}s")
        return ServerUnavailable(self.url, f"the server at {self.url} broke off the exchange ({error!r})")

    def _events(self, path: str, *, last_event_id: str | None = None,
                deadline: float | None = None) -> Iterator[Event]:
        def open_stream(headers: dict[str, str]) -> httpx.Response:
            read = KEEPALIVE_GRACE if deadline is None else max(0.01, min(KEEPALIVE_GRACE, deadline - time.monotonic()))
            request = self._http.build_request("GET", path, headers=headers,
                                               timeout=httpx.Timeout(self.timeout, read=read))
            return self._http.send(request, stream=True)

        try:
            yield from follow(open_stream, url=self.url, last_event_id=last_event_id, check=self._check,
                              deadline=deadline)
        except httpx.TransportError as error:
            if isinstance(error, httpx.TimeoutException) and deadline is not None and time.monotonic() >= deadline:
                raise  # Job.wait turns its expired deadline into WaitTimeout
            raise self._unavailable(error) from error

    def _download(self, path: str, params: dict[str, str], target: Path) -> Path:
        """Stream a file to `target` (a folder: the server's file name), atomically: all of it or nothing."""
        try:
            with self._http.stream("GET", path, params=params) as response:
                self._check(response)
                if target.is_dir():
                    disposition = response.headers.get("content-disposition", "")
                    match = re.search(r'filename="?([^";]+)"?', disposition)
                    target = target / (match[1] if match else Path(path).name)
                handle, partial = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.")
                try:
                    with os.fdopen(handle, "wb") as out:
                        for chunk in response.iter_bytes():
                            out.write(chunk)
                    os.replace(partial, target)
                except BaseException:
                    os.unlink(partial)
                    raise
        except httpx.TransportError as error:
            raise self._unavailable(error) from error
        return target
