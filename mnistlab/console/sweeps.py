"""`mnistlab sweeps start | list | show | follow | cancel`."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from mnistlab.client import Client, Sweep
from mnistlab.console.output import (
    INTERRUPTED,
    OK,
    fixed,
    print_json,
    stderr,
    stdout,
    table,
)


def add_parsers(commands: argparse._SubParsersAction, connection: argparse.ArgumentParser) -> None:
    group = commands.add_parser("sweeps", help="grids and searches of jobs (over HTTP)",
                                description="Sweeps: many jobs over a grid or an Optuna search, with a leaderboard.")
    sweeps = group.add_subparsers(dest="sweeps_command", required=True, metavar="COMMAND")
    start = sweeps.add_parser("start", parents=[connection], help="start a sweep from a JSON spec",
                              description="Start a sweep: SPEC is a JSON file, '-' for stdin, or the JSON itself, "
                                          "as POST /sweeps takes it (README: Sweeps).")
    start.add_argument("spec", metavar="SPEC")
    start.add_argument("--follow", action="store_true", help="show progress until every trial ended")
    start.add_argument("--json", action="store_true")
    start.set_defaults(run=start_sweep)
    listing = sweeps.add_parser("list", parents=[connection], help="every sweep")
    listing.add_argument("--json", action="store_true")
    listing.set_defaults(run=list_sweeps)
    for name, run, text in (("show", show_sweep, "one sweep and its leaderboard"),
                            ("follow", follow_sweep, "progress until every trial ended"),
                            ("cancel", cancel_sweep, "stop asking trials and cancel the running ones")):
        command = sweeps.add_parser(name, parents=[connection], help=text)
        command.add_argument("sweep_id", type=int, metavar="ID")
        command.add_argument("--json", action="store_true")
        command.set_defaults(run=run)


def _spec(text: str) -> dict:
    if text == "-":
        import sys

        return json.load(sys.stdin)
    if text.lstrip().startswith("{"):
        return json.loads(text)
    return json.loads(Path(text).read_text())


def start_sweep(client: Client, args: argparse.Namespace) -> int:
    sweep = client.sweep(**_spec(args.spec))
    if args.follow:
        return _follow(sweep, as_json=args.json)
    if args.json:
        print_json(sweep.data)
    else:
        stdout().print(f"sweep {sweep.id} ({sweep.name}): {sweep.planned} trials planned\n"
                       f"follow it: mnistlab sweeps follow {sweep.id}")
    return OK


def _follow(sweep: Sweep, *, as_json: bool) -> int:
    try:
        sweep.wait(progress=not as_json)
    except KeyboardInterrupt:
        stderr().print(f"\nstopped following; sweep {sweep.id} goes on. Follow it again: mnistlab sweeps follow "
                       f"{sweep.id}")
        return INTERRUPTED
    if as_json:
        print_json(sweep.data)
    else:
        _print_sweep(sweep)
    return OK


def follow_sweep(client: Client, args: argparse.Namespace) -> int:
    return _follow(client.get_sweep(args.sweep_id), as_json=args.json)


def list_sweeps(client: Client, args: argparse.Namespace) -> int:
    sweeps = client.sweeps()
    if args.json:
        print_json([sweep.data for sweep in sweeps])
        return OK
    rows = [(s.id, s.name, s.kind, s.status, s.planned, sum(s.counts.values()),
             fixed(s.trials[0].best_test_accuracy if s.trials else None), s.best_job_id) for s in sweeps]
    stdout().print(table(None, ("id", "name", "kind", "status", "planned", "trials", "best", "best job"), rows))
    return OK


def _print_sweep(sweep: Sweep) -> None:
    counts = ", ".join(f"{count} {status}" for status, count in sweep.counts.items()) or "no trials yet"
    rows = [(t.trial, t.job_id, t.status, fixed(t.best_test_accuracy), t.epochs_run, fixed(t.seconds, 1),
             ", ".join(f"{k}={v}" for k, v in t.params.items())) for t in sweep.trials]
    stdout().print(table(f"sweep {sweep.id} {sweep.name} ({sweep.kind}, {sweep.status}): {counts}",
                         ("trial", "job", "status", "best", "epochs", "seconds", "params"), rows))
    if sweep.best_job_id is not None:
        stdout().print(f"best: job {sweep.best_job_id}; make it the default: mnistlab models promote "
                       f"{sweep.best_job_id}")


def show_sweep(client: Client, args: argparse.Namespace) -> int:
    sweep = client.get_sweep(args.sweep_id)
    if args.json:
        print_json(sweep.data)
    else:
        _print_sweep(sweep)
    return OK


def cancel_sweep(client: Client, args: argparse.Namespace) -> int:
    sweep = client.get_sweep(args.sweep_id).cancel()
    if args.json:
        print_json(sweep.data)
    else:
        stdout().print(f"sweep {sweep.id}: {sweep.status}")
    return OK
