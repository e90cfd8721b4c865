"""Keeps N worker subprocesses alive beside the API (`mnistlab serve --workers N`)."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import threading
import time

log = logging.getLogger(__name__)


class WorkerPool:
    def __init__(self, count: int, *, threads: int | None, grace: float) -> None:
        self.count, self.threads, self.grace = count, threads, grace
        self._processes: list[subprocess.Popen[bytes]] = []
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._watch, name="worker-pool", daemon=True)

    def _spawn(self) -> subprocess.Popen[bytes]:
        command = [sys.executable, "-m", "mnistlab.cli", "worker", "--parent-pid", str(os.getpid())]
        if self.threads:
            command += ["--threads", str(self.threads)]
        # Own session: a Ctrl-C in the terminal reaches the pool, which then stops workers in order.
        return subprocess.Popen(command, start_new_session=True)

    def start(self) -> None:
        self._processes = [self._spawn() for _ in range(self.count)]
        if self.count:
            self._thread.start()

    def _watch(self) -> None:
        while not self._stopping.wait(1.0):
            for index, process in enumerate(self._processes):
                if process.poll() is not None and not self._stopping.is_set():
                    log.warning("worker pid %s exited with %s; starting a new one", process.pid, process.returncode)
                    self._processes[index] = self._spawn()

    def stop(self) -> None:
        """SIGTERM every worker (they hand their jobs back), then SIGKILL what is left after the grace period."""
        self._stopping.set()
        for process in self._processes:
            if process.poll() is None:
                process.terminate()
        deadline = time.monotonic() + self.grace
        for process in self._processes:
            try:
                process.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                log.warning("worker pid %s did not stop in %.0fs; killing it", process.pid, self.grace)
                process.kill()
                process.wait()
