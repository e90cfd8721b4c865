"""The `mnistlab` command: serve the API (with workers), run a worker, import data sets; and, as a client
of a running server, submit and follow jobs, predict, manage models and sweeps."""

from __future__ import annotations

import argparse
import ipaddress
import logging
import os
import signal
import sys
import threading
import typing
from pathlib import Path

from mnistlab import console, logs

if typing.TYPE_CHECKING:
    from mnistlab.settings import Settings

# Measured on 2 cores (docs/benchmarks.md): two API processes serve 1.8x one; more than the cores
# only adds memory (each holds its own models) and database connections.
DEFAULT_API_WORKERS = min(len(os.sched_getaffinity(0)), 4)  # the cores this process may use, not the host's

EPILOG = """settings come from the environment: MNISTLAB_HOME (state directory, default ./var),
MNISTLAB_DATA_DIR, MNISTLAB_DATABASE_URL (sqlite:///PATH or postgresql+psycopg://USER:PASS@HOST/DB),
MNISTLAB_CHECKPOINTS (may be a shared mount), MNISTLAB_API_KEY, MNISTLAB_LOG_JSON, ... (see README.md).

exit status: 0 done (a followed job succeeded), 1 a followed job failed, 2 it was cancelled, 3 the server
refused the request (its message is printed), 4 no server answered, 64 a bad command line, 130 Ctrl-C.

examples:
  mnistlab datasets import ../shared/datasets
  mnistlab serve --workers 1
  mnistlab jobs submit --dataset mnist --model cnn --optimizer adam --epochs 3 --follow
  mnistlab predict seven.png --top-k 2
  mnistlab serve --workers 0 --api-workers 2
  mnistlab worker --burst
  mnistlab worker --max-jobs 100
  MNISTLAB_DATABASE_URL=postgresql+psycopg://mnistlab:secret@db.internal/mnistlab mnistlab worker"""


class _Parser(argparse.ArgumentParser):
    """argparse with a usage error's exit status moved from 2 to 64 (EX_USAGE): 2 means a cancelled job."""

    def error(self, message: str) -> typing.NoReturn:
        self.print_usage(sys.stderr)
        self.exit(64, f"{self.prog}: error: {message}\n")


def _parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="mnistlab", description=__doc__, epilog=EPILOG,
                     formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    serve = commands.add_parser("serve", help="run the HTTP API and N worker processes")
    serve.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    serve.add_argument("--port", type=int, default=8000, help="port (default 8000)")
    serve.add_argument("--workers", type=int, default=1, help="worker processes to run beside the API (0: API only)")
    serve.add_argument("--api-workers", type=_positive, default=DEFAULT_API_WORKERS,
                       help="API processes sharing the port (default: %(default)s, one per core up to 4; "
                            "see docs/benchmarks.md)")
    serve.add_argument("--grace", type=float, default=30.0,
                       help="seconds workers get to hand their jobs back on shutdown (default 30)")
    serve.add_argument("--access-log", action="store_true", help="log every HTTP request (off: it costs throughput)")

    worker = commands.add_parser("worker", help="run one training worker process")
    worker.add_argument("--burst", action="store_true", help="drain the queue, then exit")
    worker.add_argument("--max-jobs", type=int, default=None, metavar="N",
                        help="exit after N jobs (recycles a worker's memory under a process supervisor)")
    worker.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's choice)")
    worker.add_argument("--parent-pid", type=int, default=None,
                        help="hand the job back and exit when process PID is no longer the parent (used by `serve`)")

    data = commands.add_parser("datasets", help="manage the data sets on disk")
    data_commands = data.add_subparsers(dest="datasets_command", required=True)
    importer = data_commands.add_parser("import", help="copy MNIST/Fashion-MNIST IDX files (.gz or raw) from DIR")
    importer.add_argument("source", type=Path, metavar="DIR", help="folder holding MNIST/raw and/or FashionMNIST/raw")
    data_commands.add_parser("status", help="which data sets are on disk")
    console.add_commands(commands)
    return parser


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, not {value}")
    return value


def _is_loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host == "localhost"


def serve(settings: "Settings", args: argparse.Namespace) -> int:
    from mnistlab.supervisor import WorkerPool
    from service.serving import run_api

    host = args.host
    if settings.key is None and not _is_loopback(host):
        logging.getLogger("mnistlab.serve").warning(
            "MNISTLAB_API_KEY is not set: binding to 127.0.0.1 only instead of %s. Set MNISTLAB_API_KEY to serve "
            "other machines (every request but GET /health then needs 'Authorization: Bearer <key>').", host)
        host = "127.0.0.1"
    elif settings.key is None:
        logging.getLogger("mnistlab.serve").info("no MNISTLAB_API_KEY: serving on loopback only, without authentication")
    settings.ensure_dirs()
    # Several workers share the cores; one keeps torch's own choice (setting it to the core count anyway was
    # 0.88-1.04x the plain loop in bench/epoch_turns.py, torch's choice 0.98-1.04x).
    threads = max(1, (os.cpu_count() or 1) // args.workers) if args.workers > 1 else None
    pool = WorkerPool(args.workers, threads=threads, grace=args.grace)
    # uvicorn re-raises the signal that stopped it once it is done; handlers that ignore it let us
    # stop the workers in order afterwards instead of dying with them half-way.
    signal.signal(signal.SIGTERM, lambda *_: None)
    signal.signal(signal.SIGINT, lambda *_: None)
    pool.start()
    try:
        run_api(settings, host=host, port=args.port, api_workers=args.api_workers, access_log=args.access_log)
    finally:
        pool.stop()
    return 0


def _stop_when_orphaned(stop: threading.Event, parent: int) -> None:
    """A worker of `serve` must not outlive it (even a SIGKILLed one): it would train unsupervised.
    The parent's pid is given, not read at start-up: the parent may already be gone by then."""

    def watch() -> None:
        while True:
            if os.getppid() != parent:
                logging.getLogger("mnistlab.worker").warning("parent %s is gone: handing back and exiting", parent)
                stop.set()
            if stop.wait(1.0):
                return

    threading.Thread(target=watch, name="parent-watch", daemon=True).start()


def worker(settings: "Settings", args: argparse.Namespace) -> int:
    import torch

    from workers.worker import Worker

    if args.threads:
        torch.set_num_threads(args.threads)
    process = Worker(settings)
    process.install_signal_handlers()
    if args.parent_pid is not None:
        _stop_when_orphaned(process.shutting_down, args.parent_pid)
    processed = process.run(burst=args.burst, max_jobs=args.max_jobs)
    logging.getLogger("mnistlab.worker").info("worker exiting after %d jobs", processed)
    return 0


def datasets(settings: "Settings", args: argparse.Namespace) -> int:
    from mnistlab.datasets import DATASETS, InvalidDatasetFile, import_all, is_on_disk

    if args.datasets_command == "import":
        try:
            imported = import_all(args.source, settings.datasets_dir)
        except (FileNotFoundError, InvalidDatasetFile) as error:
            print(f"mnistlab datasets import: {error}", file=sys.stderr)
            return 1
        for name, path in imported.items():
            print(f"{name}: imported into {path}")
        return 0
    for name in DATASETS:
        print(f"{name}: {'on disk' if is_on_disk(settings.datasets_dir, name) else 'missing'} ({settings.datasets_dir})")
    return 0


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.command in console.COMMANDS:  # a client of a server: no server settings, no torch
        return console.run(args)
    from mnistlab.settings import Settings

    settings = Settings()
    logs.configure(level=settings.log_level, json_lines=settings.log_json)
    handler = {"serve": serve, "worker": worker, "datasets": datasets}[args.command]
    return handler(settings, args)


def run() -> typing.NoReturn:
    """The `mnistlab` command: main(), then an exit that skips the interpreter's clean-up of torch's modules
    (a second or more per process, paid at every worker restart and every `serve` stop). Everything that must
    outlive the process is committed or flushed by then: the database by its transactions, files by their
    atomic renames, and the logs and standard streams here."""
    code = main()
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


if __name__ == "__main__":
    run()
