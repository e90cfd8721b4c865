"""Running the API: one process, or several on one port (`mnistlab serve --api-workers N`).

With N > 1 the parent binds the socket and uvicorn's supervisor keeps N processes serving it (and
replaces one that dies); the kernel hands each new connection to one of them. What must stay
whole across them: /metrics (Prometheus's multi-process mode: every process writes its counters to
files in one folder, each scrape sums them) and the sweep of silent jobs (one process at a time holds
a lock file and sweeps: service/sweeper.py).
"""

from __future__ import annotations

import multiprocessing
import os
import shutil
import signal
import tempfile
import threading
from multiprocessing.connection import wait

import uvicorn
from fastapi import FastAPI

from mnistlab import logs
from mnistlab.settings import Settings
from service.metrics import METRICS_DIR_VARIABLE


def tune_torch_for_serving() -> None:
    import torch  # here, not at the top: the supervisor of several API processes never loads it (~300 MB)

    # The API answers many small requests: one thread each avoids oversubscribing the cores, and
    # for one 28x28 image oneDNN's set-up costs more than the convolution (measured: 750 -> 375 us).
    torch.set_num_threads(1)
    torch.backends.mkldnn.enabled = False


def _stop_when_parent_dies() -> None:
    """An API process of `serve` must not outlive it (even a SIGKILLed one): it would hold the port."""
    parent = multiprocessing.parent_process()
    if parent is None:
        return

    def watch() -> None:
        wait([parent.sentinel])
        os.kill(os.getpid(), signal.SIGTERM)

    threading.Thread(target=watch, name="parent-watch", daemon=True).start()


def serving_app() -> FastAPI:
    """The app of one of several API processes (uvicorn imports this in each of them)."""
    from service.app import create_app

    settings = Settings()
    logs.configure(level=settings.log_level, json_lines=settings.log_json)
    tune_torch_for_serving()
    _stop_when_parent_dies()
    return create_app(settings, freeze_after_startup=True)


def run_api(settings: Settings, *, host: str, port: int, api_workers: int, access_log: bool) -> None:
    """Serve until SIGTERM or SIGINT, then return (after every API process has stopped)."""
    # log_config=None: uvicorn's lines go through our handler, as text or JSON like the rest.
    options = dict(host=host, port=port, log_config=None, access_log=access_log)
    if api_workers == 1:
        from service.app import create_app

        tune_torch_for_serving()
        app = create_app(settings, freeze_after_startup=True)
        uvicorn.Server(uvicorn.Config(app, **options)).run()  # type: ignore[arg-type]
        return
    metrics_dir = tempfile.mkdtemp(prefix="mnistlab-metrics-")
    os.environ[METRICS_DIR_VARIABLE] = metrics_dir  # inherited by the API processes, read before they count
    try:
        config = uvicorn.Config("service.serving:serving_app", factory=True, workers=api_workers,
                                **options)  # type: ignore[arg-type]
        uvicorn.supervisors.Multiprocess(config, sockets=[config.bind_socket()]).run()
    finally:
        shutil.rmtree(metrics_dir, ignore_errors=True)
