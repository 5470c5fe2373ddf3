"""The MCP conformance suite (npm `@modelcontextprotocol/conformance`) against /mcp.

    .venv/bin/python bench/mcp_conformance.py [--suite active] [--scenario tools-list ...]

It starts `scripts/serve.py` on the embedded default in a temporary data dir, and in front of it
a small local proxy that adds the bearer token (the suite's client sends none, and /mcp, like
every route but the probes, refuses requests without one), then runs `npx -y
@modelcontextprotocol/conformance@VERSION server --url <proxy>/mcp` and prints the summary.
Version 0.1.13 is the newest that runs on Node 20 (later ones need Node 22's `fs.globSync`).

Measured here (suite "active", 0.1.13): 9 of 30 scenarios pass (server-initialize, ping,
tools-list, tools-call-simple-text, tools-call-error, server-sse-multiple-streams, resources-list,
prompts-list, dns-rebinding-protection); the 21 accepted failures (ACCEPTED below) call fixture
tools, prompts and resources of the suite's reference server (`test_image_content`, ...) that a
memory service does not have, or need the completion and logging capabilities it does not offer.
"""

from __future__ import annotations

import argparse
import asyncio
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from benchlib import serve_embedded

VERSION = "0.1.13"
TOKEN = "conformance-token"
ACCEPTED = {
    "logging-set-level": "no logging capability",
    "completion-complete": "no completions",
    "tools-call-image": "calls a fixture tool of the suite's reference server",
    "tools-call-audio": "calls a fixture tool of the suite's reference server",
    "tools-call-embedded-resource": "calls a fixture tool of the suite's reference server",
    "tools-call-mixed-content": "calls a fixture tool of the suite's reference server",
    "tools-call-with-logging": "calls a fixture tool of the suite's reference server",
    "tools-call-with-progress": "calls a fixture tool of the suite's reference server",
    "tools-call-sampling": "calls a fixture tool of the suite's reference server",
    "tools-call-elicitation": "calls a fixture tool of the suite's reference server",
    "elicitation-sep1034-defaults": "calls a fixture tool of the suite's reference server",
    "elicitation-sep1330-enums": "calls a fixture tool of the suite's reference server",
    "resources-read-text": "no resources",
    "resources-read-binary": "no resources",
    "resources-templates-read": "no resources",
    "resources-subscribe": "no resources",
    "resources-unsubscribe": "no resources",
    "prompts-get-simple": "no prompts",
    "prompts-get-with-args": "no prompts",
    "prompts-get-embedded-resource": "no prompts",
    "prompts-get-with-image": "no prompts",
}


def start_proxy(upstream: str, port: int) -> None:
    """Forward every request to `upstream` with the bearer token added, streaming the answer back."""
    import httpx
    import uvicorn

    client = httpx.AsyncClient(base_url=upstream, timeout=60)

    async def app(scope, receive, send):  # type: ignore[no-untyped-def]
        if scope["type"] != "http":
            return
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        # The Host header is kept, so the server judges it (ALLOWED_HOSTS) as it would without the proxy.
        headers = [(k, v) for k, v in scope["headers"] if k.lower() != b"authorization"]
        headers.append((b"authorization", f"Bearer {TOKEN}".encode()))
        request = client.build_request(
            scope["method"], scope["path"], params=scope["query_string"].decode(), headers=headers, content=body
        )
        response = await client.send(request, stream=True)
        await send(
            {
                "type": "http.response.start",
                "status": response.status_code,
                "headers": [
                    (k.encode(), v.encode()) for k, v in response.headers.items() if k.lower() != "content-length"
                ],
            }
        )
        async for chunk in response.aiter_raw():
            await send({"type": "http.response.body", "body": chunk, "more_body": True})
        await send({"type": "http.response.body", "body": b""})
        await response.aclose()

    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="off")
    threading.Thread(target=lambda: asyncio.run(uvicorn.Server(config).serve()), daemon=True).start()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, default=9593)
    parser.add_argument("--proxy-port", type=int, default=9594)
    parser.add_argument("--suite", default="active")
    parser.add_argument("--scenario", action="append", default=[])
    args = parser.parse_args()
    print(f"command: {' '.join([Path(sys.executable).name, *sys.argv])}")
    data_dir = Path(tempfile.mkdtemp(prefix="soma-conformance-"))
    process = serve_embedded(port=args.port, data_dir=data_dir, token=TOKEN)
    try:
        start_proxy(f"http://127.0.0.1:{args.port}", args.proxy_port)
        url = f"http://127.0.0.1:{args.proxy_port}/mcp"
        runs = [["--scenario", name] for name in args.scenario] or [["--suite", args.suite]]
        for run in runs:
            command = ["npx", "-y", f"@modelcontextprotocol/conformance@{VERSION}", "server", "--url", url, *run]
            print("$", " ".join(command), flush=True)
            subprocess.run(command, check=False, timeout=900)
        print("\naccepted failures:")
        for name, why in ACCEPTED.items():
            print(f"  {name:<32} {why}")
    finally:
        process.terminate()
        process.wait(60)


if __name__ == "__main__":
    main()
