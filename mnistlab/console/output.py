"""How the client commands print (rich tables on a terminal, plain text in a pipe, JSON with --json) and
what their exit codes mean."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Iterable
from typing import Any

from rich.console import Console
from rich.table import Table

from mnistlab.client import (
    ApiError,
    Client,
    JobCancelled,
    JobFailed,
    MnistlabError,
    ServerUnavailable,
)

# Exit codes scripts can rely on (README, "The command line").
OK, FAILED, CANCELLED, REFUSED, UNAVAILABLE, USAGE, INTERRUPTED = 0, 1, 2, 3, 4, 64, 130
STATUS_EXIT = {"succeeded": OK, "failed": FAILED, "cancelled": CANCELLED, "pruned": CANCELLED}

Handler = Callable[[Client, argparse.Namespace], int]


def stdout() -> Console:
    # Wide enough in a pipe that tables are not squeezed; rich drops colour itself when not a terminal.
    return Console(width=None if sys.stdout.isatty() else 160, highlight=False)


def stderr() -> Console:
    return Console(stderr=True, highlight=False, soft_wrap=True)


def print_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, indent=2, default=str) + "\n")


def table(title: str | None, columns: Iterable[str], rows: Iterable[Iterable[Any]]) -> Table:
    view = Table(title=title, title_justify="left")
    for column in columns:
        view.add_column(column, justify="right" if column in NUMERIC else "left")
    for row in rows:
        view.add_row(*("-" if cell is None else str(cell) for cell in row))
    return view


NUMERIC = {"id", "job", "epoch", "epochs", "loss", "train acc", "test acc", "best", "seconds", "confidence",
           "label", "trial", "trials", "planned", "attempts", "batch size", "lr"}


def fixed(value: float | None, digits: int = 4) -> str | None:
    return None if value is None else f"{value:.{digits}f}"


def run_command(args: argparse.Namespace) -> int:
    """Run a client command; the client's errors become a message on stderr and their exit code."""
    handler: Handler = args.run
    try:
        with Client(url=args.url, api_key=args.api_key) as client:
            return handler(client, args)
    except ServerUnavailable as error:
        stderr().print(f"mnistlab: {error}")
        return UNAVAILABLE
    except ApiError as error:
        stderr().print(f"mnistlab: the server refused: {error.detail} (HTTP {error.status})")
        return REFUSED
    except (JobFailed, JobCancelled) as error:
        stderr().print(f"mnistlab: {error}")
        return STATUS_EXIT[error.job.status]  # type: ignore[attr-defined]
    except MnistlabError as error:
        stderr().print(f"mnistlab: {error}")
        return FAILED
    except (OSError, ValueError) as error:  # a file named on the command line that cannot be read or used
        stderr().print(f"mnistlab: {error}")
        return USAGE
