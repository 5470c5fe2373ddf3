"""Optimize one embedded shard folder and exit: the child process of `EdgeStore.index_aside`.

Run as a script (`python vectors/stores/index_child.py FOLDER`), it imports only the engine, never
Django. The engine's optimize() holds the GIL for its whole run; in this process that stalls
nobody. Niced, so the server's own threads come first on a small machine.
"""

from __future__ import annotations

import os
import sys

import qdrant_edge as qe


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print(f"usage: {argv[0]} SHARD_FOLDER", file=sys.stderr)
        return 2
    os.nice(10)
    shard = qe.EdgeShard.load(argv[1])  # its persisted config: the serving store's own
    try:
        shard.optimize()
        shard.flush()
    finally:
        shard.close()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
