"""The client is tested against live servers (scripts/serve.py in a subprocess), never a mock;
answers no live server gives (HTML, `{}`, a 302...) come from a small real HTTP server in the
test process (test_refusals.py), and the stdio bridge runs as the subprocess a host spawns."""

from __future__ import annotations

import json
import os
import selectors
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from somafractalmemory_client import SomaClient

from reliability.processes import MASTER_TOKEN, LiveServer
from reliability.tests.conftest import private_postgres, server_on_shared_database, start_server  # noqa: F401

_NAME = f"client_live_{os.environ.get('SOMA_TEST_DB', 'client')}_{os.getpid()}"


@pytest.fixture(scope="module")
def soma_live() -> Iterator[LiveServer]:
    with server_on_shared_database(_NAME) as server:
        yield server


@pytest.fixture
def soma(soma_live: LiveServer) -> Iterator[SomaClient]:
    with SomaClient(soma_live.url, token=MASTER_TOKEN) as client:
        yield client


class Bridge:
    """`soma-mcp-bridge` of this repository (its source, not an installed copy) as a host runs
    it: a subprocess on stdio, every wait bounded."""

    client_dir = Path(__file__).parents[1]

    def env(self, **env: str) -> dict[str, str]:
        base = {
            name: value
            for name, value in os.environ.items()
            if not name.startswith("SOMA_") and name.upper() not in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY")
        }
        base["PYTHONPATH"] = os.pathsep.join(filter(None, [str(self.client_dir), base.get("PYTHONPATH")]))
        return {**base, **env}

    def run(self, env: dict[str, str], *args: str, send: dict[str, Any] | None = None) -> tuple[Any, int, str]:
        """Spawn the bridge, send it one message, read one answer line, close its stdin: the
        answer (None if none came), the exit status and stderr."""
        process = subprocess.Popen(
            [sys.executable, "-m", "somafractalmemory_client.bridge", *args],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=env,
        )
        assert process.stdin is not None and process.stdout is not None and process.stderr is not None
        answer: Any = None
        try:
            if send is not None:
                try:
                    process.stdin.write(json.dumps(send).encode() + b"\n")
                    process.stdin.flush()
                except BrokenPipeError:
                    pass
                with selectors.DefaultSelector() as selector:
                    selector.register(process.stdout, selectors.EVENT_READ)
                    if selector.select(timeout=20):
                        line = process.stdout.readline()
                        answer = json.loads(line) if line.strip() else None
            process.stdin.close()
            code = process.wait(timeout=20)
        finally:
            if process.poll() is None:
                process.kill()
                process.wait(timeout=5)
        stderr = process.stderr.read().decode()
        process.stdout.close()
        process.stderr.close()
        return answer, code, stderr


@pytest.fixture
def bridge() -> Bridge:
    return Bridge()
