"""The serving floor: p50/p99 of the cheapest requests over HTTP, and of the same requests in-process.

    .venv/bin/python bench/serving_probe.py [--requests 1000]
    .venv/bin/python bench/serving_probe.py --url http://127.0.0.1:9595 --token T   # a running server

Without --url it starts `scripts/serve.py` on the embedded default in a temporary data dir,
stores one memory at coordinate 1,2 and times, on one keep-alive http.client connection:
GET /healthz (no database, no auth), GET /memories/1,2 (auth, throttle, one query) and a
repeated POST /memories/search (embedding and engine answer cached, one query). Then it stops
the server and times the same three requests through Django's WSGI handler in this process
(no HTTP, no server threads): the difference is what the HTTP server costs.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchlib import EXTERNAL_SERVICES, TimingClient, percentile, serve_embedded, wsgi_call

MEMORY = {"coord": "1,2", "payload": {"text": "The cat sat on the mat by the kitchen door."}}
SEARCH = {"query": "a cat sitting on a mat", "top_k": 10}
TOKEN = "serving-probe-token"


def timed(label: str, call: Callable[[], int], requests: int) -> None:
    for _ in range(50):
        call()
    samples = []
    for _ in range(requests):
        started = time.perf_counter()
        status = call()
        samples.append((time.perf_counter() - started) * 1000)
        if status != 200:
            raise SystemExit(f"{label}: status {status}")
    print(f"  {label:<34} p50 {percentile(samples, 0.5):6.2f} ms   p99 {percentile(samples, 0.99):6.2f} ms")


def over_http(url: str, token: str, requests: int) -> None:
    client = TimingClient(url, {"Authorization": f"Bearer {token}"})

    def request(method: str, path: str, body: dict | None = None) -> int:
        return client.request(method, path, body)[1]

    request("POST", "/memories", MEMORY)
    print(f"over HTTP ({url}, one keep-alive http.client connection):")
    timed("GET /healthz", lambda: request("GET", "/healthz"), requests)
    timed("GET /memories/1,2", lambda: request("GET", "/memories/1,2"), requests)
    timed("POST /memories/search (repeated)", lambda: request("POST", "/memories/search", SEARCH), requests)
    client.close()


def in_process(data_dir: Path, requests: int) -> None:
    os.environ.update(SOMA_DATA_DIR=str(data_dir), SOMA_API_TOKEN=TOKEN, DJANGO_SETTINGS_MODULE="soma_project.settings")
    os.environ.update(SOMA_THROTTLE_KEY_RATE="1000000/m", SOMA_THROTTLE_PUBLIC_RATE="1000000/m")
    for key in EXTERNAL_SERVICES:
        os.environ.pop(key, None)
    from django.core.wsgi import get_wsgi_application

    application = get_wsgi_application()

    def request(method: str, path: str, body: dict | None = None) -> int:
        return wsgi_call(application, method, path, body, token=TOKEN)

    print("in-process (Django's WSGI handler, no HTTP server):")
    timed("GET /healthz", lambda: request("GET", "/healthz"), requests)
    timed("GET /memories/1,2", lambda: request("GET", "/memories/1,2"), requests)
    timed("POST /memories/search (repeated)", lambda: request("POST", "/memories/search", SEARCH), requests)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--url")
    parser.add_argument("--token", default="")
    parser.add_argument("--port", type=int, default=9598)
    parser.add_argument("--requests", type=int, default=1000)
    args = parser.parse_args()
    print(f"command: {' '.join([Path(sys.executable).name, *sys.argv])}")
    if args.url:
        over_http(args.url, args.token, args.requests)
        return
    data_dir = Path(tempfile.mkdtemp(prefix="soma-probe-"))
    process = serve_embedded(port=args.port, data_dir=data_dir, token=TOKEN)
    try:
        over_http(f"http://127.0.0.1:{args.port}", TOKEN, args.requests)
    finally:
        process.terminate()
        process.wait(60)
    in_process(data_dir, args.requests)


if __name__ == "__main__":
    main()
