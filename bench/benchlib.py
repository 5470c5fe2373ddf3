"""What the HTTP benchmarks share: the server they measure (one at --url, or a server process on
loopback), timed requests, percentiles and the data sets."""

from __future__ import annotations

import argparse
import contextlib
import http.client
import io
import json
import os
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
from prometheus_client.parser import text_string_to_metric_families

ROOT = Path(__file__).resolve().parent.parent
# Unset for the embedded default, so a developer's shell cannot point a benchmark elsewhere.
EXTERNAL_SERVICES = ("DATABASE_URL", "REDIS_URL", "QDRANT_URL", "SOMA_ENV")
NO_THROTTLE = {"SOMA_THROTTLE_KEY_RATE": "1000000/m", "SOMA_THROTTLE_PUBLIC_RATE": "1000000/m"}


class TimingClient:
    """One keep-alive connection with the standard library's http.client, for timing requests.

    httpx costs ~0.5 ms of client CPU per request here, on the same two cores as the server;
    the latency figures should be the server's, as a C load generator would see them.
    """

    def __init__(self, url: str, headers: dict[str, str]) -> None:
        host, _, port = url.removeprefix("http://").rstrip("/").partition(":")
        self.connection = http.client.HTTPConnection(host, int(port or 80), timeout=600)
        self.headers = {**headers, "Content-Type": "application/json"}

    def request(self, method: str, path: str, body: dict | None = None) -> tuple[float, int, bytes]:
        """(milliseconds from sending to the last byte of the answer, its status, its body)."""
        payload = json.dumps(body).encode() if body is not None else None
        started = time.perf_counter()
        self.connection.request(method, path, body=payload, headers=self.headers)
        response = self.connection.getresponse()
        data = response.read()
        return (time.perf_counter() - started) * 1000, response.status, data

    def post(self, path: str, body: dict) -> tuple[float, dict]:
        """(milliseconds, the decoded answer) of a POST that must answer 200."""
        elapsed, status, data = self.request("POST", path, body)
        if status != 200:
            raise RuntimeError(f"POST {path}: {status} {data[:300]!r}")
        return elapsed, json.loads(data)

    def close(self) -> None:
        self.connection.close()


def wsgi_call(application: Any, method: str, path: str, body: dict | None = None, *, token: str) -> int:
    """One request through a WSGI application in this process (no HTTP server); its status.
    The response is closed, so request_finished runs as a server would make it."""
    data = json.dumps(body).encode() if body else b""
    environ = {
        "REQUEST_METHOD": method,
        "PATH_INFO": path,
        "QUERY_STRING": "",
        "SERVER_NAME": "127.0.0.1",
        "SERVER_PORT": "9595",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "HTTP_HOST": "127.0.0.1:9595",
        "REMOTE_ADDR": "127.0.0.1",
        "HTTP_AUTHORIZATION": f"Bearer {token}",
        "CONTENT_TYPE": "application/json",
        "CONTENT_LENGTH": str(len(data)),
        "wsgi.input": io.BytesIO(data),
        "wsgi.url_scheme": "http",
    }
    statuses: list[str] = []
    response = application(environ, lambda status, headers: statuses.append(status))
    b"".join(response)
    response.close()
    return int(statuses[0].split()[0])


def percentile(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def metric_values(exposition: str) -> dict[str, float]:
    """The unlabelled samples of a /metrics page, by sample name (`..._total`, `..._sum`)."""
    return {
        sample.name: sample.value
        for family in text_string_to_metric_families(exposition)
        for sample in family.samples
        if not sample.labels
    }


def serve(env: dict[str, str], *, port: int, data_dir: Path, probe: str = "/readyz") -> subprocess.Popen[bytes]:
    """Run scripts/serve.py with exactly `env`, logging to data_dir/server.log, until `probe` answers 200."""
    log = (data_dir / "server.log").open("ab")
    process = subprocess.Popen([sys.executable, str(ROOT / "scripts" / "serve.py")], env=env, stdout=log, stderr=log)
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline and process.poll() is None:
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(f"http://127.0.0.1:{port}{probe}", timeout=1).status_code == 200:
                return process
        time.sleep(0.5)
    process.terminate()
    raise SystemExit(f"server did not become ready; see {data_dir / 'server.log'}")


def serve_embedded(*, port: int, data_dir: Path, token: str) -> subprocess.Popen[bytes]:
    """The embedded default (no servers), throttles off."""
    env = {key: value for key, value in os.environ.items() if key not in EXTERNAL_SERVICES}
    env.update(SOMA_DATA_DIR=str(data_dir), SOMA_BIND=f"127.0.0.1:{port}", SOMA_API_TOKEN=token, **NO_THROTTLE)
    return serve(env, port=port, data_dir=data_dir)


def print_command() -> None:
    print(f"command: {' '.join([Path(sys.executable).name, *sys.argv])}")


def add_server_arguments(parser: argparse.ArgumentParser, *, port: int) -> None:
    parser.add_argument("--url", help="a running server (default: start scripts/serve.py on the embedded default)")
    parser.add_argument("--token", help="its bearer token (default: $SOMA_API_TOKEN)")
    parser.add_argument("--port", type=int, default=port, help="for the server started here")


class BenchServer:
    """The server a benchmark measures: the one at --url, or `scripts/serve.py` started here on the
    embedded default in a temporary data dir (stopped on leaving the `with`)."""

    def __init__(self, args: argparse.Namespace) -> None:
        self.port: int = args.port
        self.process: subprocess.Popen[bytes] | None = None
        self.data_dir: Path | None = None
        if args.url:
            self.url, self.token = args.url.rstrip("/"), args.token or os.environ.get("SOMA_API_TOKEN", "")
            return
        self.data_dir = Path(tempfile.mkdtemp(prefix="soma-bench-"))
        self.token = "bench-" + uuid.uuid4().hex
        self.url = f"http://127.0.0.1:{self.port}"
        self.process = serve_embedded(port=self.port, data_dir=self.data_dir, token=self.token)
        print(f"started scripts/serve.py on the embedded default, data in {self.data_dir}")

    def __enter__(self) -> BenchServer:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            self.process.wait(60)
            self.process = None

    @property
    def started_here(self) -> bool:
        return self.data_dir is not None

    def restart_degraded(self) -> None:
        """Restart the server started here on its data with the vector store unreachable (serve_degraded)."""
        if self.data_dir is None:
            raise RuntimeError("only a server started here can be restarted")
        self.stop()
        self.process = serve_degraded(port=self.port, data_dir=self.data_dir, token=self.token)


def benchdata_dir(name: str) -> Path:
    """A benchmark data set's folder: $SOMA_BENCHDATA/<name>, by default bench/data/<name> (not shipped)."""
    return Path(os.environ.get("SOMA_BENCHDATA", ROOT / "bench" / "data")) / name


def serve_degraded(*, port: int, data_dir: Path, token: str) -> subprocess.Popen[bytes]:
    """The server on a data dir an embedded run left, with the vector store unreachable: every
    search answers `"degraded": true` from PostgreSQL full text."""
    env = {key: value for key, value in os.environ.items() if key not in EXTERNAL_SERVICES}
    env.update(
        SOMA_DATA_DIR=str(data_dir),
        SOMA_BIND=f"127.0.0.1:{port}",
        SOMA_API_TOKEN=token,
        SOMA_VECTOR_STORE="qdrant",
        QDRANT_URL="http://127.0.0.1:9",  # nothing listens: the store is down
        SOMA_REINDEX_INTERVAL="0",
        **NO_THROTTLE,
    )
    return serve(env, port=port, data_dir=data_dir, probe="/healthz")


def scifact_load(data: Path) -> tuple[list[dict], dict[str, str], dict[str, set[str]]]:
    """BEIR SciFact: the corpus, the test claims that have judgements, and those judgements."""
    docs = [json.loads(line) for line in (data / "corpus.jsonl").open()]
    queries = {q["_id"]: q["text"] for q in map(json.loads, (data / "queries.jsonl").open())}
    qrels: dict[str, set[str]] = {}
    for line in list((data / "qrels_test.tsv").open())[1:]:
        qid, did, score = line.split()
        if int(score) > 0:
            qrels.setdefault(qid, set()).add(did)
    return docs, {q: queries[q] for q in qrels}, qrels
