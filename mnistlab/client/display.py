"""Live progress for a job or a sweep (rich): animated on a terminal, one plain line an epoch otherwise."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from rich.console import Console
from rich.progress import BarColumn, Progress, TaskProgressColumn, TextColumn

from mnistlab.client.records import Event

if TYPE_CHECKING:
    from mnistlab.client.core import Job, Sweep


def _eta(seconds: float | None) -> str:
    if seconds is None:
        return "ETA -:--"
    minutes, seconds = divmod(int(seconds + 0.5), 60)
    return f"ETA {minutes}:{seconds:02d}"


class JobProgress:
    """epoch i/N, the bar of this epoch's batches, the last epoch's loss and test accuracy, the job's ETA."""

    def __init__(self, job: Job, console: Console | None = None) -> None:
        self.job, self.console = job, console or Console(stderr=True)
        self.live = self.console.is_terminal
        self.fields: dict[str, Any] = {"epoch": f"epoch 0/{job.epochs}", "status": job.status, "loss": "loss -",
                                       "accuracy": "test acc -", "eta": _eta(None)}
        self.progress = Progress(TextColumn(f"job {job.id}"), TextColumn("{task.fields[status]:<9}"),
                                 TextColumn("{task.fields[epoch]}"), BarColumn(), TaskProgressColumn(),
                                 TextColumn("{task.fields[loss]}"), TextColumn("{task.fields[accuracy]}"),
                                 TextColumn("{task.fields[eta]}"), console=self.console,
                                 disable=not self.live)
        self.task = self.progress.add_task("batches", total=1.0, **self.fields)

    def __enter__(self) -> JobProgress:
        self.progress.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        self.progress.__exit__(*exc)  # type: ignore[arg-type]

    def update(self, event: Event) -> None:
        data, epochs = event.data, self.job.epochs
        if event.kind == "progress":
            running = min(data["epoch"] + (1 if data["status"] == "running" else 0), epochs)
            self.fields.update(status=data["status"], epoch=f"epoch {running}/{epochs}", eta=_eta(data["eta_seconds"]))
            self.progress.update(self.task, completed=data["fraction"], **self.fields)
        elif event.kind == "epoch":
            self.fields.update(epoch=f"epoch {data['epoch']}/{epochs}", loss=f"loss {data['loss']:.4f}",
                               accuracy=f"test acc {data['test_accuracy']:.4f}")
            self.progress.update(self.task, completed=1.0, **self.fields)
            if not self.live:
                self.console.print(f"job {self.job.id} epoch {data['epoch']}/{epochs}: loss {data['loss']:.4f}, "
                                   f"train acc {data['train_accuracy']:.4f}, test acc {data['test_accuracy']:.4f}, "
                                   f"{data['seconds']:.1f}s", highlight=False)
        elif event.kind == "status":
            self.fields.update(status=data["status"], eta="")
            self.progress.update(self.task, **self.fields)
            if not self.live:
                self.console.print(f"job {self.job.id} {data['status']}", highlight=False)


class SweepProgress:
    """Trials ended out of planned, and the best test accuracy so far."""

    def __init__(self, sweep: Sweep, console: Console | None = None) -> None:
        self.console = console or Console(stderr=True)
        self.live, self.last = self.console.is_terminal, ""
        self.progress = Progress(TextColumn(f"sweep {sweep.id} {sweep.name}"), TextColumn("{task.fields[status]}"),
                                 BarColumn(), TextColumn("{task.completed:.0f}/{task.total:.0f} trials"),
                                 TextColumn("{task.fields[best]}"), console=self.console, disable=not self.live)
        self.task = self.progress.add_task("trials", total=sweep.planned, status=sweep.status, best="best -")

    def __enter__(self) -> SweepProgress:
        self.progress.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        self.progress.__exit__(*exc)  # type: ignore[arg-type]

    def update(self, sweep: Sweep) -> None:
        ended = sum(count for status, count in sweep.counts.items() if status not in ("queued", "running"))
        scores = [trial.best_test_accuracy for trial in sweep.trials if trial.best_test_accuracy is not None]
        best = f"best {max(scores):.4f}" if scores else "best -"
        self.progress.update(self.task, completed=ended, status=sweep.status, best=best)
        line = f"sweep {sweep.id} {sweep.status}: {ended}/{sweep.planned} trials ended, {best}"
        if not self.live and line != self.last:
            self.last = line
            self.console.print(line, highlight=False)
