"""The `mnistlab` commands that talk to a server over HTTP (jobs, predict, models, sweeps), through
`mnistlab.client`; they import neither torch nor the server's code."""

from __future__ import annotations

import argparse

from mnistlab.console import jobs, models, sweeps
from mnistlab.console.output import run_command

GROUPS = (jobs, models, sweeps)
COMMANDS = ("jobs", "predict", "models", "sweeps")


def add_commands(commands: argparse._SubParsersAction) -> None:
    """Add the client commands beside the server's own (`serve`, `worker`, `datasets`)."""
    connection = argparse.ArgumentParser(add_help=False)
    connection.add_argument("--url", default=None,
                            help="the server (default: $MNISTLAB_URL, else http://127.0.0.1:8000)")
    connection.add_argument("--api-key", default=None, help="its API key (default: $MNISTLAB_API_KEY)")
    for group in GROUPS:
        group.add_parsers(commands, connection)


def run(args: argparse.Namespace) -> int:
    return run_command(args)
