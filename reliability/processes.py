"""Real processes for reliability tests and benchmarks: a server, a private Redis, a private PostgreSQL.

Nothing here touches the shared PostgreSQL on 5432 or Redis on 6379 beyond creating and dropping
databases whose names this module is given: other test runs use those servers concurrently.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parent.parent
PG_BIN = Path(os.environ.get("SOMA_PG_BIN", "/usr/lib/postgresql/15/bin"))
SHARED_PG = "postgres://postgres@127.0.0.1:5432"
MASTER_TOKEN = "rely-master-token-7f3c9a"  # noqa: S105 - a throwaway server's token


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for_port(port: int, *, timeout: float, up: bool = True) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                if up:
                    return
        except OSError:
            if not up:
                return
        time.sleep(0.05)
    raise TimeoutError(f"port {port} did not come {'up' if up else 'down'} in {timeout}s")


def _stop(process: subprocess.Popen[Any], *, sig: int = signal.SIGTERM, timeout: float = 15.0) -> None:
    if process.poll() is not None:
        return
    try:
        os.killpg(process.pid, sig)
    except ProcessLookupError:
        return
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=10)


class PrivateRedis:
    """A redis-server of our own, so stopping it cannot disturb anyone else."""

    def __init__(self) -> None:
        self.port = free_port()
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.process = subprocess.Popen(
            [
                "redis-server",
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--daemonize",
                "no",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        wait_for_port(self.port, timeout=10)

    def stop(self) -> None:
        if self.process is not None:
            _stop(self.process, sig=signal.SIGKILL)
            wait_for_port(self.port, timeout=10, up=False)


class PrivatePostgres:
    """A throwaway PostgreSQL cluster (initdb in a temp dir), run as the `postgres` user when we are root."""

    def __init__(self, *, database: str = "soma") -> None:
        self.port = free_port()
        self.database = database
        self.directory = Path(tempfile.mkdtemp(prefix="rely-pg-"))
        self.data = self.directory / "data"

    @property
    def url(self) -> str:
        return f"postgres://postgres@127.0.0.1:{self.port}/{self.database}"

    def _run(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        command = [str(PG_BIN / args[0]), *args[1:]]
        if os.geteuid() == 0:
            command = ["runuser", "-u", "postgres", "--", *command]
        return subprocess.run(command, check=check, capture_output=True, text=True, timeout=120)

    def init(self) -> None:
        if os.geteuid() == 0:
            shutil.chown(self.directory, "postgres", "postgres")
        self._run("initdb", "-D", str(self.data), "-U", "postgres", "-A", "trust", "--no-sync", "-E", "UTF8")
        self.start()
        self.psql(f"CREATE DATABASE {self.database}")

    def start(self) -> None:
        options = f"-p {self.port} -k {self.directory} -c listen_addresses=127.0.0.1 -c fsync=off"
        self._run("pg_ctl", "-D", str(self.data), "-o", options, "-l", str(self.directory / "log"), "-w", "start")
        wait_for_port(self.port, timeout=30)

    def stop(self, *, mode: str = "immediate") -> None:
        self._run("pg_ctl", "-D", str(self.data), "-m", mode, "-w", "stop", check=False)
        wait_for_port(self.port, timeout=30, up=False)

    def psql(self, sql: str, *, database: str = "postgres") -> str:
        result = self._run("psql", "-h", "127.0.0.1", "-p", str(self.port), "-d", database, "-tAc", sql)
        return result.stdout.strip()

    def destroy(self) -> None:
        self.stop()
        shutil.rmtree(self.directory, ignore_errors=True)


def shared_database(name: str, *, drop_only: bool = False) -> str:
    """(Re)create database `name` on the shared PostgreSQL; return its URL."""
    import psycopg

    with psycopg.connect(f"{SHARED_PG}/postgres", autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        if not drop_only:
            conn.execute(f'CREATE DATABASE "{name}"')
    return f"{SHARED_PG}/{name}"


class LiveServer:
    """`scripts/serve.py` (waitress; gunicorn with uvicorn workers when QDRANT_URL is set) in its own process group."""

    def __init__(self, *, database_url: str, redis_url: str = "", env: Mapping[str, str] | None = None) -> None:
        self.port = free_port()
        self.directory = Path(tempfile.mkdtemp(prefix="rely-server-"))
        self.log_path = self.directory / "server.log"
        self.env = {
            key: value
            for key, value in os.environ.items()
            if not key.startswith(("SOMA_", "DATABASE_URL", "REDIS_URL", "QDRANT_", "DJANGO_", "PYTEST", "PROMETHEUS"))
        }
        self.env.update(
            {
                "DJANGO_SETTINGS_MODULE": "soma_project.settings",
                "SOMA_ENV": "development",
                "SOMA_DATA_DIR": str(self.directory / "data"),
                "SOMA_API_TOKEN": MASTER_TOKEN,
                "DJANGO_SECRET_KEY": "rely-secret-key",
                "DATABASE_URL": database_url,
                "SOMA_BIND": f"127.0.0.1:{self.port}",
                "SOMA_VECTOR_STORE": "edge",
                "SOMA_THROTTLE_KEY_RATE": "1000000/m",
                "SOMA_THROTTLE_PUBLIC_RATE": "1000000/m",
                "PROMETHEUS_MULTIPROC_DIR": str(self.directory / "prometheus"),
                "SOMA_DB_CONNECT_TIMEOUT": "2",
                "SOMA_DB_POOL_TIMEOUT": "3",
            }
        )
        if redis_url:
            self.env["REDIS_URL"] = redis_url
        self.env.update(env or {})
        (self.directory / "prometheus").mkdir()
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def client(
        self, *, timeout: float = 30.0, token: str | None = MASTER_TOKEN, tenant: str | None = None
    ) -> httpx.Client:
        headers = {}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        if tenant:
            headers["X-Soma-Tenant"] = tenant
        return httpx.Client(base_url=self.url, headers=headers, timeout=timeout)

    def start(self, *, timeout: float = 120.0) -> None:
        log = open(self.log_path, "ab")  # noqa: SIM115 - the child writes to it for its whole life
        self.process = subprocess.Popen(
            [sys.executable, str(ROOT / "scripts" / "serve.py")],
            cwd=ROOT,
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        log.close()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"server exited with {self.process.returncode}:\n{self.log_tail()}")
            try:
                if httpx.get(f"{self.url}/healthz", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        self.stop()
        raise TimeoutError(f"server not up in {timeout}s:\n{self.log_tail()}")

    def stop(self) -> None:
        if self.process is not None:
            _stop(self.process)

    def kill(self) -> None:
        if self.process is not None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=10)

    def manage(
        self,
        *args: str,
        stdin: bytes | None = None,
        timeout: float = 600,
        env: Mapping[str, str] | None = None,
    ) -> subprocess.CompletedProcess[bytes]:
        """`manage.py` with this server's settings (same database, same data folder), plus `env`."""
        return subprocess.run(
            [sys.executable, str(ROOT / "manage.py"), *args],
            cwd=ROOT,
            env={**self.env, **(env or {})},
            input=stdin,
            capture_output=True,
            timeout=timeout,
            check=True,
        )

    def log_text(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def log_tail(self, lines: int = 60) -> str:
        return "\n".join(self.log_text().splitlines()[-lines:])

    def cleanup(self) -> None:
        self.stop()
        shutil.rmtree(self.directory, ignore_errors=True)
