"""A bounded burst of concurrent prediction requests to a served model, from a process of its own.

Run by tests/reliability/test_concurrent_load.py: ``python burst_client.py URL REQUEST.json N CONCURRENCY
OUT.json``. Sends exactly N POSTs of REQUEST.json to URL/invocations (127.0.0.1 only), at most CONCURRENCY
at a time, and writes each one's status, latency and any error to OUT.json.
"""

from __future__ import annotations

import json
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import urlparse

import requests


def one(url: str, body: bytes) -> dict:
    started = time.perf_counter()
    try:
        response = requests.post(f"{url}/invocations", data=body, headers={"Content-Type": "application/json"},
                                 timeout=120)
        seconds = time.perf_counter() - started
        record = {"status": response.status_code, "seconds": seconds}
        if response.status_code == 200:
            predictions = response.json()["predictions"]
            record["rows"] = len(predictions)
            record["probability_sums"] = [sum(p[f"p_{e}"] for e in ("ang", "hap", "neu", "sad")) for p in predictions]
        else:
            record["error"] = response.text[:500]
        return record
    except Exception as exc:  # a refused or dropped connection is an error of the burst, not of this script
        return {"status": None, "seconds": time.perf_counter() - started, "error": f"{type(exc).__name__}: {exc}"}


def main(url: str, request_path: str, n: int, concurrency: int, out: str) -> None:
    if urlparse(url).hostname != "127.0.0.1":
        raise SystemExit(f"refusing to send a burst anywhere but 127.0.0.1: {url}")
    body = open(request_path, "rb").read()
    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=concurrency) as pool:
        records = list(pool.map(lambda _: one(url, body), range(n)))
    with open(out, "w") as handle:
        json.dump({"records": records, "wall_seconds": time.perf_counter() - started,
                   "concurrency": concurrency}, handle, indent=1)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), sys.argv[5])
