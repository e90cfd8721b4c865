"""`mnistlab jobs ...`: submit, list, show, follow, metrics, cancel, download a job's checkpoint."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from mnistlab.client import Client, Job
from mnistlab.client.display import JobProgress
from mnistlab.console.output import (
    INTERRUPTED,
    OK,
    STATUS_EXIT,
    fixed,
    print_json,
    stderr,
    stdout,
    table,
)

STATUSES = ("queued", "running", "succeeded", "failed", "cancelled", "pruned")


def add_parsers(commands: argparse._SubParsersAction, connection: argparse.ArgumentParser) -> None:
    group = commands.add_parser("jobs", help="submit, list, follow and cancel training jobs (over HTTP)",
                                description="Training jobs on a mnistlab server.")
    jobs = group.add_subparsers(dest="jobs_command", required=True, metavar="COMMAND")

    submit = jobs.add_parser("submit", parents=[connection], help="queue a training job",
                             description="Queue a training job; fields left out take the server's defaults.",
                             epilog="exit status with --follow: 0 succeeded, 1 failed, 2 cancelled")
    submit.add_argument("--dataset", required=True, help="mnist or fashion-mnist")
    submit.add_argument("--model", required=True, help="linear, ffnn or cnn")
    submit.add_argument("--optimizer", required=True, help="sgd, adam, ... (GET /spec lists them)")
    submit.add_argument("--epochs", type=int)
    submit.add_argument("--batch-size", type=int)
    submit.add_argument("--lr", type=float)
    submit.add_argument("--seed", type=int)
    submit.add_argument("--device", help="auto, cpu, cuda, mps")
    submit.add_argument("--hidden", type=int, help="ffnn only: hidden units")
    submit.add_argument("--lr-schedule", help="constant, cosine or onecycle")
    submit.add_argument("--set", action="append", default=[], metavar="FIELD=VALUE", dest="fields",
                        help="any other job field, VALUE as JSON (e.g. --set momentum=0.9 "
                             "--set 'early_stopping={\"patience\": 2}'); repeatable")
    submit.add_argument("--idempotency-key", help="the same key twice gives the first job back")
    submit.add_argument("--follow", action="store_true", help="show live progress until the job ends")
    submit.add_argument("--json", action="store_true", help="print the job as JSON (with --follow: once it ended)")
    submit.set_defaults(run=submit_job)

    listing = jobs.add_parser("list", parents=[connection], help="jobs, newest first")
    listing.add_argument("--status", choices=STATUSES)
    listing.add_argument("--dataset")
    listing.add_argument("--limit", type=int, default=20, help="at most this many (default 20)")
    listing.add_argument("--json", action="store_true")
    listing.set_defaults(run=list_jobs)

    for name, run, text in (("show", show_job, "one job in full"), ("metrics", show_metrics, "its epochs"),
                            ("cancel", cancel_job, "cancel a queued or running job")):
        command = jobs.add_parser(name, parents=[connection], help=text)
        command.add_argument("job_id", type=int, metavar="ID")
        command.add_argument("--json", action="store_true")
        command.set_defaults(run=run)

    follow = jobs.add_parser("follow", parents=[connection], help="live progress until the job ends",
                             epilog="exit status: 0 succeeded, 1 failed, 2 cancelled; Ctrl-C leaves the job running")
    follow.add_argument("job_id", type=int, metavar="ID")
    follow.add_argument("--json", action="store_true", help="print each event as a JSON line instead")
    follow.set_defaults(run=follow_job)

    checkpoint = jobs.add_parser("checkpoint", parents=[connection], help="download a checkpoint (a state_dict)")
    checkpoint.add_argument("job_id", type=int, metavar="ID")
    checkpoint.add_argument("-o", "--output", type=Path, default=Path("."),
                            help="file or folder to write (default: the server's file name, here)")
    checkpoint.add_argument("--which", choices=("best", "last"), default="best")
    checkpoint.set_defaults(run=download_checkpoint)

    export = jobs.add_parser("export", parents=[connection], help="download the model as ONNX (runs without torch)")
    export.add_argument("job_id", type=int, metavar="ID")
    export.add_argument("--format", choices=("onnx",), default="onnx")
    export.add_argument("-o", "--output", type=Path, default=Path("."),
                        help="file or folder to write (default: the server's file name, here)")
    export.add_argument("--which", choices=("best", "last"), default="best")
    export.set_defaults(run=export_model)


def _fields(pairs: list[str]) -> dict[str, Any]:
    fields: dict[str, Any] = {}
    for pair in pairs:
        name, sep, text = pair.partition("=")
        if not sep or not name:
            raise ValueError(f"--set needs FIELD=VALUE, not {pair!r}")
        try:
            fields[name.replace("-", "_")] = json.loads(text)
        except json.JSONDecodeError:
            fields[name.replace("-", "_")] = text  # a bare word: a string
    return fields


def submit_job(client: Client, args: argparse.Namespace) -> int:
    job = client.submit(dataset=args.dataset, model=args.model, optimizer=args.optimizer, epochs=args.epochs,
                        batch_size=args.batch_size, lr=args.lr, seed=args.seed, device=args.device,
                        hidden=args.hidden, lr_schedule=args.lr_schedule, idempotency_key=args.idempotency_key,
                        **_fields(args.fields))
    if args.follow:
        return _follow(job, as_json=args.json, quiet_events=args.json)
    if args.json:
        print_json(job.data)
    else:
        stdout().print(f"job {job.id} {job.status}: {job.dataset} {job.model} {job.optimizer}, {job.epochs} epochs, "
                       f"batch {job.batch_size}, lr {job.lr:g}, seed {job.seed}\n"
                       f"follow it: mnistlab jobs follow {job.id}")
    return OK


def follow_job(client: Client, args: argparse.Namespace) -> int:
    job = client.job(args.job_id)
    if args.json:
        try:
            for event in job.events():
                print(json.dumps({"event": event.kind, "id": event.id, "data": event.data}), flush=True)
        except KeyboardInterrupt:
            return _left_running(job)
        return STATUS_EXIT[job.refresh().status]
    return _follow(job, as_json=False, quiet_events=False)


def _follow(job: Job, *, as_json: bool, quiet_events: bool) -> int:
    try:
        if quiet_events:
            for _ in job.events():
                pass
        else:
            with JobProgress(job) as display:
                for event in job.events():
                    display.update(event)
    except KeyboardInterrupt:
        return _left_running(job)
    job.refresh()
    if as_json:
        print_json(job.data)
    else:
        _print_metrics(job)
        message = f"job {job.id} {job.status}"
        if job.error:
            message += f": {job.error}"
        elif job.best:
            message += f": best test accuracy {job.best['test_accuracy']:.4f} at epoch {job.best['epoch']}"
        stdout().print(message)
    return STATUS_EXIT[job.status]


def _left_running(job: Job) -> int:
    stderr().print(f"\nstopped following; job {job.id} goes on on the server. Follow it again: "
                   f"mnistlab jobs follow {job.id}  (or cancel it: mnistlab jobs cancel {job.id})")
    return INTERRUPTED


def list_jobs(client: Client, args: argparse.Namespace) -> int:
    jobs = client.jobs(status=args.status, dataset=args.dataset, limit=args.limit)
    if args.json:
        print_json([job.data for job in jobs])
        return OK
    rows = [(job.id, job.status, job.dataset, job.model, job.optimizer, f"{job.progress['epoch']}/{job.epochs}",
             fixed(job.best and job.best["test_accuracy"]), job.created_at.strftime("%Y-%m-%d %H:%M:%S"))
            for job in jobs]
    stdout().print(table(None, ("id", "status", "dataset", "model", "optimizer", "epochs", "best", "created"), rows))
    return OK


def show_job(client: Client, args: argparse.Namespace) -> int:
    job = client.job(args.job_id)
    if args.json:
        print_json(job.data)
        return OK
    shown = {key: value for key, value in job.data.items() if value is not None and not isinstance(value, dict)}
    shown["progress"] = f"epoch {job.progress['epoch']}/{job.epochs}, ETA {job.progress['eta_seconds'] or '-'}"
    if job.best:
        shown["best"] = f"{job.best['test_accuracy']:.4f} at epoch {job.best['epoch']}"
    stdout().print(table(f"job {job.id}", ("field", "value"), sorted(shown.items())))
    return OK


def _print_metrics(job: Job) -> None:
    rows = [(m.epoch, fixed(m.loss), fixed(m.train_accuracy), fixed(m.test_accuracy), fixed(m.seconds, 1))
            for m in job.metrics()]
    stdout().print(table(f"job {job.id} metrics", ("epoch", "loss", "train acc", "test acc", "seconds"), rows))


def show_metrics(client: Client, args: argparse.Namespace) -> int:
    job = client.job(args.job_id)
    if args.json:
        print_json([metric.__dict__ for metric in job.metrics()])
    else:
        _print_metrics(job)
    return OK


def cancel_job(client: Client, args: argparse.Namespace) -> int:
    job = client.job(args.job_id).cancel()
    if args.json:
        print_json(job.data)
    else:
        stdout().print(f"job {job.id}: {job.status}" + (" (stops at its next batch)" if job.status == "running" else ""))
    return OK


def download_checkpoint(client: Client, args: argparse.Namespace) -> int:
    path = client.job(args.job_id).download_checkpoint(args.output, which=args.which)
    stdout().print(f"wrote {path} ({path.stat().st_size:,} bytes)")
    return OK


def export_model(client: Client, args: argparse.Namespace) -> int:
    path = client.job(args.job_id).export(args.output, format=args.format, which=args.which)
    stdout().print(f"wrote {path} ({path.stat().st_size:,} bytes)")
    return OK
