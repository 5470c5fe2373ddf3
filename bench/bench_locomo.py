"""Retrieval quality over HTTP on conversations: the LoCoMo protocol (dialogue turns as memories).

    .venv/bin/python bench/bench_locomo.py [--data DIR] [--url http://127.0.0.1:9595 --token T]
                                           [--degraded] [--context 1]

DIR (default $SOMA_BENCHDATA/locomo-dev, see bench/README.md) holds `turns.jsonl` and `queries.jsonl` made from LoCoMo
(Maharana et al., ACL 2024, github.com/snap-research/locomo, data/locomo10.json; CC BY-NC 4.0:
measure with it, never ship it): one row per turn {"id": "conv:dia_id", "conv_id", "dia_id",
"session", "speaker", "text", "blip_caption"?}, one per question {"qid", "conv_id",
"question", "category_name", "evidence": [turn ids]}.

The paper's "Dialog" retrieval unit (Table 3): each turn is one memory with text
`{speaker} said, "{text}"` (plus ` and shared {blip_caption}` when the turn shared an image),
one namespace per conversation, each question searched in its own conversation's namespace;
recall@k = the fraction of the question's evidence turns in the top k, averaged over the
questions that have evidence. Published DRAGON on all 10 conversations: R@5 56.7, R@10 66.2.

Without --url it starts `scripts/serve.py` on the embedded default in a temporary data dir
(port 9594), loads the turns through POST /memories/batch (metadata {"seq": turn index} so
`context` can bring the neighbouring turns), runs every question with top_k=10 in each mode
and prints R@5 / R@10 overall and per category, and the search latency. --degraded then
restarts the server on the same data with the vector store unreachable, so the same
questions are answered by the PostgreSQL full-text fallback. --context N also counts an
evidence turn as found when it is among the N turns around a hit (`context` search option).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
import uuid
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))

from benchlib import BenchServer, TimingClient, add_server_arguments, benchdata_dir, percentile, print_command  # noqa: E402

MODES = ("vector", "keyword", "hybrid")
CATEGORIES = ("single_hop", "multi_hop", "temporal", "open_domain", "adversarial")
BATCH = 500


def turn_text(turn: dict) -> str:
    text = f'{turn["speaker"]} said, "{turn["text"]}"'
    return text + (f" and shared {turn['blip_caption']}" if turn.get("blip_caption") else "")


def namespace_for(conv_id: str) -> str:
    return "locomo-" + "".join(c if c.isalnum() or c in "_.-" else "_" for c in conv_id)


def load(data: Path) -> tuple[list[dict], list[dict]]:
    turns = [json.loads(line) for line in (data / "turns.jsonl").open()]
    queries = [q for q in map(json.loads, (data / "queries.jsonl").open()) if q.get("evidence")]
    return turns, queries


def ingest(client: TimingClient, turns: list[dict]) -> float:
    started = time.perf_counter()
    seq: dict[str, int] = defaultdict(int)
    items = []
    for turn in turns:
        seq[turn["conv_id"]] += 1
        items.append(
            {
                "namespace": namespace_for(turn["conv_id"]),
                "payload": {"content": turn_text(turn), "turn_id": turn["id"], "speaker": turn["speaker"]},
                "metadata": {"seq": seq[turn["conv_id"]], "session": turn.get("session")},
            }
        )
    for i in range(0, len(items), BATCH):
        client.post("/memories/batch", {"memories": items[i : i + BATCH]})
    return len(items) / (time.perf_counter() - started)


def evaluate(client: TimingClient, queries: list[dict], mode: str | None, context: int) -> bool:
    """Prints one row per mode (None: the server's default) and per category; False if any answer was degraded."""
    recalls: dict[str, list[tuple[float, float, float]]] = defaultdict(list)
    latencies, degraded = [], 0
    for query in queries:
        body = {"query": query["question"], "top_k": 10, "namespace": namespace_for(query["conv_id"])}
        if mode:
            body["mode"] = mode
        if context:
            body["context"] = context
        elapsed, answer = client.post("/memories/search", body)
        latencies.append(elapsed)
        degraded += bool(answer["degraded"])
        ranked = [hit["payload"]["turn_id"] for hit in answer["memories"]]
        evidence = set(query["evidence"])
        seen = set(ranked[:10])
        for hit in answer["memories"][:10]:
            seen |= {turn["payload"]["turn_id"] for turn in hit.get("context") or []}
        row = (
            len(evidence & set(ranked[:5])) / len(evidence),
            len(evidence & set(ranked[:10])) / len(evidence),
            len(evidence & seen) / len(evidence),
        )
        recalls["all"].append(row)
        recalls[query["category_name"]].append(row)
    label = (mode or "default") + (" (degraded)" if degraded else "")
    parts = []
    for name in ("all", *CATEGORIES):
        rows = recalls.get(name)
        if rows:
            r5, r10 = (100 * statistics.fmean(r[i] for r in rows) for i in (0, 1))
            parts.append(f"{name} {r5:.1f}/{r10:.1f}")
    print(f"{label:<20} R@5/R@10 " + "  ".join(parts))
    ctx = f"  R@10 with context={context}: {100 * statistics.fmean(r[2] for r in recalls['all']):.1f}"
    print(
        f"{'':<20} latency p50 {percentile(latencies, 0.5):.1f} ms  p99 {percentile(latencies, 0.99):.1f} ms"
        + (ctx if context else "")
        + (f"  degraded answers {degraded}/{len(queries)}" if degraded else "")
    )
    return not degraded


def main() -> None:
    parser = argparse.ArgumentParser()
    add_server_arguments(parser, port=9594)
    parser.add_argument("--data", default=str(benchdata_dir("locomo-dev")))
    parser.add_argument("--degraded", action="store_true", help="then the PostgreSQL full-text fallback")
    parser.add_argument("--context", type=int, default=0, help="turns around each hit (search option `context`)")
    args = parser.parse_args()
    print_command()
    turns, queries = load(Path(args.data))
    conversations = len({t["conv_id"] for t in turns})

    tenant = "locomo-" + uuid.uuid4().hex[:8]
    with BenchServer(args) as server:
        headers = {"Authorization": f"Bearer {server.token}", "X-Soma-Tenant": tenant}
        client = TimingClient(server.url, headers)
        try:
            rate = ingest(client, turns)
            print(f"ingested {len(turns)} turns of {conversations} conversations at {rate:.0f} memories/s")
            print(f"{len(queries)} questions with evidence, top_k=10; published DRAGON (10 conversations): 56.7/66.2")
            for mode in MODES:
                evaluate(client, queries, mode, args.context)
            if args.degraded and server.started_here:
                client.close()
                server.restart_degraded()
                client = TimingClient(server.url, headers)
                evaluate(client, queries, None, args.context)
        finally:
            client.close()


if __name__ == "__main__":
    main()
