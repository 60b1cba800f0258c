"""A throw-away PostgreSQL cluster on a Unix socket for the tests, which can be stopped and started again."""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest


def postgres_binaries() -> Path:
    found = shutil.which("initdb") or next(iter(sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))), None)
    if found is None:  # make test installs it (deploy/system_deps.sh): a missing server is a set-up error
        pytest.fail("PostgreSQL server binaries (initdb, pg_ctl) are not installed: run `make system-deps`")
    return Path(found).parent


@dataclass(frozen=True)
class PostgresCluster:
    """One initdb'd cluster, run as user postgres when the tests run as root (the server refuses root)."""

    root: Path
    port: int
    binaries: Path

    @property
    def as_user(self) -> list[str]:
        return ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []

    @property
    def url(self) -> str:
        return f"postgresql://postgres@/postgres?host={self.root}&port={self.port}"

    def _pg_ctl(self, *arguments: str | Path) -> None:
        command = [*self.as_user, self.binaries / "pg_ctl", "-D", self.root / "data", *arguments]
        subprocess.run(command, check=True, capture_output=True, timeout=120)

    def start(self) -> None:
        options = f"-p {self.port} -k {self.root} -c listen_addresses=''"
        self._pg_ctl("-o", options, "-l", self.root / "log", "-w", "start")

    def stop(self) -> None:
        self._pg_ctl("-m", "fast", "-w", "stop")


def new_cluster() -> PostgresCluster:
    binaries = postgres_binaries()
    # Not under pytest's tmp folder: its parents are private to root, and the server runs as postgres.
    # The server listens on a socket in its own folder only, so the default port cannot collide.
    cluster = PostgresCluster(Path(tempfile.mkdtemp(prefix="credit-postgres-")), 5432, binaries)
    if cluster.as_user:
        shutil.chown(cluster.root, "postgres")
    initdb = [*cluster.as_user, binaries / "initdb", "-D", cluster.root / "data", "-A", "trust"]
    subprocess.run([*initdb, "-U", "postgres"], check=True, capture_output=True)
    return cluster


@pytest.fixture(scope="module")
def postgres_cluster() -> Iterator[PostgresCluster]:
    """A running cluster for a test module, removed afterwards."""
    cluster = new_cluster()
    cluster.start()
    try:
        yield cluster
    finally:
        subprocess.run([*cluster.as_user, cluster.binaries / "pg_ctl", "-D", cluster.root / "data",
                        "-m", "immediate", "-w", "stop"], capture_output=True)  # fmt: skip
        shutil.rmtree(cluster.root, ignore_errors=True)


@pytest.fixture(scope="module")
def postgres_url(postgres_cluster: PostgresCluster) -> str:
    """The cluster's libpq URL (psycopg is a dependency of the project)."""
    return postgres_cluster.url
