"""Cost of one rate-limit check on Redis: our fixed-window counter vs ninja's sliding log.

    SOMA_TEST_REDIS_DB=2 .venv/bin/python bench/throttle_bench.py [--requests 3000]

Needs Redis on 127.0.0.1:6379 (uses db SOMA_TEST_REDIS_DB, default 15, and flushes it).
Loopback only; runs a few seconds.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=3000)
    args = parser.parse_args()
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "soma_project.settings")
    os.environ["REDIS_URL"] = f"redis://127.0.0.1:6379/{os.environ.get('SOMA_TEST_REDIS_DB', '15')}"
    os.environ.setdefault("SOMA_DATA_DIR", "/tmp/soma-bench")
    os.environ.setdefault("SOMA_ENV", "development")
    import django

    django.setup()
    from django.core.cache import cache
    from django.test import RequestFactory, override_settings
    from ninja.throttling import AuthRateThrottle

    from core.tenancy import Principal
    from soma_project.throttling import PrincipalRateThrottle

    cache.clear()
    request = RequestFactory().get("/memories")
    request.auth = Principal(tenant="bench", is_master=False, key_id="0123456789abcdef")
    rate = "6000/m"

    def measure(throttle) -> list[float]:
        timings = []
        for _ in range(args.requests):
            started = time.perf_counter()
            assert throttle.allow_request(request)
            timings.append((time.perf_counter() - started) * 1000)
        return timings

    print(f"$ {' '.join(sys.argv)}   ({args.requests} checks, one key, rate {rate}, Redis loopback)")
    with override_settings(SOMA_THROTTLE_KEY_RATE=rate):
        ours = measure(PrincipalRateThrottle())
    ninja = measure(AuthRateThrottle(rate))
    for name, timings in [("fixed window (soma)", ours), ("sliding log (ninja AuthRateThrottle)", ninja)]:
        tail = timings[-500:]
        print(
            f"{name:40s} p50 {statistics.median(timings):.3f} ms   "
            f"p50 of last 500 {statistics.median(tail):.3f} ms   max {max(timings):.2f} ms"
        )
    cache.clear()


if __name__ == "__main__":
    main()
