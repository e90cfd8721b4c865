"""A throwaway PostgreSQL server for the tests: Debian's binaries, initdb in a temp folder, loopback only.

Tests never share a database: each asks `create_database()` for a fresh one. Set
MNISTLAB_TEST_POSTGRES_URL to an existing server's admin URL to use that server instead.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import uuid
from pathlib import Path

import psycopg
import pytest
from sqlalchemy.engine import make_url

BIN_DIRS = sorted(Path("/usr/lib/postgresql").glob("*/bin"), key=lambda path: int(path.parent.name))


def binary(name: str) -> str:
    for folder in reversed(BIN_DIRS):
        if (folder / name).exists():
            return str(folder / name)
    found = shutil.which(name)
    if found is None:
        raise RuntimeError(f"PostgreSQL's {name} was not found: install Debian's postgresql package "
                           "(scripts/test does when run as root) or set MNISTLAB_TEST_POSTGRES_URL")
    return found


class PostgresServer:
    """One cluster. Runs as the `postgres` user when we are root, since PostgreSQL refuses root.
    durable=True keeps PostgreSQL's own defaults (fsync, synchronous commits, full-page writes): for benchmarks."""

    NOT_DURABLE = "-c fsync=off -c synchronous_commit=off -c full_page_writes=off"

    def __init__(self, *, port: int, listen: tuple[str, ...] = ("127.0.0.1",),
                 trusted_networks: tuple[str, ...] = (), run_in: list[str] | None = None, durable: bool = False) -> None:
        self.port, self.listen, self.durable = port, listen, durable
        self.root = Path(tempfile.mkdtemp(prefix="mnistlab-pg-"))
        self.data = self.root / "data"
        self.trusted_networks = trusted_networks
        # run_in: e.g. ["ip", "netns", "exec", NAME] to start the server on another test host.
        self.as_user = [*(run_in or []), *(["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else [])]
        if os.geteuid() == 0:
            shutil.chown(self.root, "postgres", "postgres")

    def _run(self, *command: str) -> None:
        subprocess.run([*self.as_user, *command], check=True, capture_output=True, cwd=self.root)

    def start(self) -> "PostgresServer":
        self._run(binary("initdb"), "-D", str(self.data), "-U", "postgres", "--auth=trust", "-E", "UTF8",
                  "--no-sync")
        with open(self.data / "pg_hba.conf", "a") as hba:
            for network in self.trusted_networks:
                hba.write(f"host all all {network} trust\n")
        options = (f"-c listen_addresses={','.join(self.listen)} -c port={self.port} "
                   f"-c unix_socket_directories={self.root} -c max_connections=200")
        if not self.durable:  # speed over durability: the tests kill mnistlab processes, never this server
            options += " " + self.NOT_DURABLE
        self._options = options
        return self.launch()

    def launch(self) -> "PostgresServer":
        """Start the server (again, after halt())."""
        self._run(binary("pg_ctl"), "-D", str(self.data), "-l", str(self.root / "server.log"), "-o", self._options,
                  "-w", "-t", "60", "start")
        return self

    def halt(self) -> None:
        """Stop the server as a restart does (fast: open connections are cut), keeping its data."""
        self._run(binary("pg_ctl"), "-D", str(self.data), "-m", "fast", "-w", "stop")

    def stop(self) -> None:
        if (self.data / "postmaster.pid").exists():
            self._run(binary("pg_ctl"), "-D", str(self.data), "-m", "immediate", "-w", "stop")
        shutil.rmtree(self.root, ignore_errors=True)

    def admin_url(self, host: str | None = None) -> str:
        return f"postgresql+psycopg://postgres@{host or self.listen[0]}:{self.port}/postgres"


def psycopg_url(url: str) -> str:
    """A SQLAlchemy URL (postgresql+psycopg://...) as psycopg.connect takes it."""
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


def create_database(admin_url: str, *, copy_of: str | None = None) -> str:
    """A new database on the server of admin_url, empty or a copy of the database `copy_of` names (which
    nobody may be connected to); returns its SQLAlchemy URL."""
    name = f"mnistlab_{uuid.uuid4().hex[:12]}"
    template = f' TEMPLATE "{copy_of}"' if copy_of else ""
    with psycopg.connect(psycopg_url(admin_url), autocommit=True) as connection:
        connection.execute(f'CREATE DATABASE "{name}"{template}')  # type: ignore[arg-type]
    return make_url(admin_url).set(database=name).render_as_string(hide_password=False)


# Tests that touch the queue or the database run on both (the `database` fixture in tests/conftest.py).
both_databases = pytest.mark.parametrize("database", ["sqlite", "postgresql"], indirect=True)
