"""A real, throwaway PostgreSQL for the team-ledger tests: ``initdb`` into a temporary
folder, ``postgres`` on a free loopback port, a fresh database per test.

One server serves the whole test session (``initdb`` takes a second or two); each test
that asks for ``pg_database_url`` gets a database of its own, created from
``template0`` and dropped after it. The server listens on 127.0.0.1 only, keeps its
socket in its own folder, and asks for a password over TCP (scram-sha-256), so the
tests exercise the URL's password as a team's server would. PostgreSQL refuses to run
as root: when the tests run as root (CI and these machines do), the server runs as the
``postgres`` OS user (``runuser``), which owns the folder. Tests are skipped, with the
reason, only when no PostgreSQL binaries exist; ``.ci/run`` installs them (the Debian
package ``postgresql``), so CI always runs them.
"""

from __future__ import annotations

import contextlib
import glob
import itertools
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.server_process import free_port, start_and_wait

USER = "sparklio"
PASSWORD = "pg-test-secret"  # a test server's; the tests check it never shows in a message
MISSING = "PostgreSQL is not installed (apt-get install postgresql; .ci/run installs it)"


def bin_dir() -> Path | None:
    """The newest PostgreSQL's binaries (Debian: /usr/lib/postgresql/<major>/bin), or
    the folder of an ``initdb`` on PATH; None when there is none."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(Path(p).parts[-3]))
    if found:
        return Path(found[-1]).parent
    initdb = shutil.which("initdb")
    return Path(initdb).parent if initdb else None


class PostgresServer:
    """One ``postgres`` process over a cluster of its own in a temporary folder."""

    def __init__(self, durable: bool = False) -> None:
        binaries = bin_dir()
        if binaries is None:
            pytest.skip(MISSING)
        self.bin = binaries
        self.port = free_port()
        self._folder = Path(tempfile.mkdtemp(prefix="sparklio-pg-"))
        self.data = self._folder / "data"
        self._process: subprocess.Popen[bytes] | None = None
        self._as: list[str] = []
        self._names = itertools.count(1)
        # Tests skip durability (a throwaway cluster); a benchmark keeps a server's defaults.
        self._settings = [] if durable else ["fsync=off", "synchronous_commit=off", "full_page_writes=off"]
        if getattr(os, "geteuid", lambda: -1)() == 0:  # postgres refuses root: run it as the postgres OS user
            import pwd  # POSIX only, like running as root

            try:
                owner = pwd.getpwnam("postgres")
            except KeyError:
                pytest.skip("running as root and there is no `postgres` OS user to run PostgreSQL as")
            os.chown(self._folder, owner.pw_uid, owner.pw_gid)
            self._as = ["runuser", "-u", "postgres", "--"]

    def url(self, database: str = "postgres", password: str | None = PASSWORD) -> str:
        auth = f"{USER}:{password}" if password is not None else USER
        return f"postgresql+psycopg://{auth}@127.0.0.1:{self.port}/{database}"

    def _run(self, *args: str) -> None:
        done = subprocess.run([*self._as, *args], capture_output=True, text=True, timeout=120)
        if done.returncode != 0:
            raise RuntimeError(f"{args[0]} failed ({done.returncode}): {done.stderr.strip()[-2000:]}")

    def start(self) -> PostgresServer:
        pwfile = self._folder / "pw"
        pwfile.write_text(PASSWORD + "\n")
        if self._as:
            shutil.chown(pwfile, "postgres", "postgres")
        self._run(
            str(self.bin / "initdb"),
            "-D", str(self.data),
            "-U", USER,
            f"--pwfile={pwfile}",
            "--auth-local=trust",
            "--auth-host=scram-sha-256",
            "-E", "UTF8",
            "--locale=C",
            "--no-sync",
        )  # fmt: skip
        pwfile.unlink()
        server = [str(self.bin / "postgres"), "-D", str(self.data), "-p", str(self.port), "-h", "127.0.0.1"]
        server += ["-k", str(self._folder), "-c", "max_connections=200"]
        server += [part for setting in self._settings for part in ("-c", setting)]
        self._process = start_and_wait(
            [*self._as, *server], name="postgres", port=self.port, answers=self._answers, timeout_s=30, poll_s=0.05
        )
        return self

    def _answers(self) -> bool:
        import psycopg

        try:
            with psycopg.connect(self._dsn("postgres"), connect_timeout=2):
                return True
        except psycopg.OperationalError:
            return False

    def _dsn(self, database: str) -> str:
        return f"host=127.0.0.1 port={self.port} user={USER} password={PASSWORD} dbname={database}"

    def execute(self, sql: str, database: str = "postgres") -> None:
        """One statement outside a transaction (CREATE/DROP DATABASE need that)."""
        import psycopg

        with psycopg.connect(self._dsn(database), autocommit=True) as conn:
            conn.execute(sql.encode())

    def create_database(self) -> str:
        """A new empty database; returns its name."""
        name = f"t{os.getpid()}_{next(self._names)}"
        self.execute(f'CREATE DATABASE "{name}" TEMPLATE template0')
        return name

    def drop_database(self, name: str) -> None:
        with contextlib.suppress(Exception):
            self.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    def stop(self) -> None:
        if self._process is not None:
            with contextlib.suppress(RuntimeError, subprocess.TimeoutExpired):  # fast: clients are cut off
                self._run(str(self.bin / "pg_ctl"), "stop", "-D", str(self.data), "-m", "fast", "-w")
            try:
                self._process.wait(20)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()
            self._process = None

    def close(self) -> None:
        self.stop()
        shutil.rmtree(self._folder, ignore_errors=True)


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    """The session's PostgreSQL (started on first use, stopped at the session's end)."""
    server = PostgresServer().start()
    yield server
    server.close()


@pytest.fixture(scope="session")
def postgres_url(postgres_server: PostgresServer) -> str:
    """The session server's URL (its ``postgres`` database), password included."""
    return postgres_server.url()


@pytest.fixture
def pg_database_url(postgres_server: PostgresServer) -> Iterator[str]:
    """A fresh, empty database of this test's own on the session's server; dropped after."""
    name = postgres_server.create_database()
    yield postgres_server.url(name)
    postgres_server.drop_database(name)


@pytest.fixture(params=["sqlite", "postgresql"])
def ledger_target(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Path | str]:
    """Where a ledger test opens its store, once per backend: a file in the test's folder,
    then a fresh database on the session's PostgreSQL (skipped only without its binaries)."""
    if request.param == "sqlite":
        yield tmp_path / "ledger.sqlite3"
    else:
        yield request.getfixturevalue("pg_database_url")
