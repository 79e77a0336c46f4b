"""Mixed load on a grid while one replica fails: the coordinator side of the namespace tests.

``python -m sanny.bench.netns_load --addresses A,B,C,D --index DIR`` (run inside the
coordinator's namespace) builds a 2-shard x 1-group x 2-replica grid over the four workers,
then runs ``--clients`` search threads and one writer. Half-way through the writes it prints
``{"event": "fault"}`` and waits for a line on stdin (the caller kills, pauses or cuts the first
worker, shard 0 / replica 0); after the writes it prints ``{"event": "heal"}`` and waits again
(the caller restarts / resumes / reconnects it), waits until the cell is ready (caught up) and
prints ``{"event": "result", ...}``: failed searches, acknowledged and lost writes, catch-up time.
"""
from __future__ import annotations

import argparse
import json
import sys
import threading
import time

import numpy as np

WAIT = 120.0  # bound on every wait for a state


def _say(**kw) -> None:
    print(json.dumps(kw), flush=True)


def run(addresses: list[str], root: str, clients: int = 4, n0: int = 600, writes: int = 40, batch: int = 10,
        on_fault=None, on_heal=None, failover_after: float = 1.0, seconds: float | None = None) -> dict:
    """``writes`` batches of ``batch`` inserts; with ``seconds``, as many as fit in that time (at
    most ``writes``), the fault half-way through the time."""
    from sanny.engine import Index, IndexConfig, InnerParams
    from sanny.workers.transports import factory_from_config

    from .synthetic import clustered

    n = n0 + writes * batch
    x = clustered(n, 32, 0, n_clusters=16, center_seed=100)
    q = clustered(20, 32, 1, n_clusters=16, center_seed=100)
    keys = [f"k{i}" for i in range(n)]
    table = {"transport": "grpc", "shards": 2, "replicas": 2, "addresses": addresses,
             "failover_after": failover_after, "probe_every": 0.1, "timeout": 20, "slow_timeout": 20}
    ix = Index.create(root, IndexConfig(dim=32, S=2, workers=1, inner=InnerParams(kind="exact"), shards=2, T=20),
                      worker_factory=factory_from_config({"workers": table}))
    try:
        ix.insert(keys[:n0], x[:n0])
        ix.save()
        cell = ix.workers[0].cells[0]
        stop, failed, lat, acked = threading.Event(), [], [], []

        def searcher():
            while not stop.is_set():
                t0 = time.perf_counter()
                try:
                    ix.search(q[:1], k=10)
                    lat.append(time.perf_counter() - t0)
                except Exception as e:  # noqa: BLE001 - counted and reported
                    failed.append(repr(e))

        threads = [threading.Thread(target=searcher, daemon=True) for _ in range(clients)]
        for t in threads:
            t.start()
        degraded, faulted, t_start = False, False, time.monotonic()
        for j in range(writes):
            a = n0 + j * batch
            elapsed = time.monotonic() - t_start
            if seconds is not None and elapsed >= seconds:
                break
            half = elapsed >= seconds / 2 if seconds is not None else j == writes // 2
            if half and not faulted and on_fault:
                on_fault()
                faulted = True
            ix.insert(keys[a: a + batch], x[a: a + batch])
            acked.extend(keys[a: a + batch])
            degraded |= cell.state != "ready"
        if on_heal:
            on_heal()
        t0 = time.monotonic()
        ready = cell.wait_state("ready", WAIT)
        waited = time.monotonic() - t0
        stop.set()
        for t in threads:
            t.join(WAIT)
        n = n0 + len(acked)  # checked in chunks: each replica attempt is capped by failover_after
        found = np.concatenate([ix.search(x[a: min(a + 500, n)], k=1)[0] for a in range(n0, n, 500)]
                               or [np.empty((0, 1), object)])
        victim, sibling = cell.replicas
        return {"failed": failed, "searches": len(lat), "acked": len(acked),
                "lost": int((~ix.exists(acked)).sum()), "misfound": int((found[:, 0] != np.array(keys[n0:n], object)).sum()),
                "degraded_seen": degraded, "ready": ready, "wait_ready_s": waited, "catchup_s": cell.catchups,
                "counts": [victim.stats()["count"], sibling.stats()["count"]],
                "search_p50_ms": 1e3 * float(np.median(lat)) if lat else None,
                "seconds": time.monotonic() - t_start}
    finally:
        ix.close(save=False)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m sanny.bench.netns_load")
    ap.add_argument("--addresses", required=True, help="four HOST:PORT, comma-separated")
    ap.add_argument("--index", required=True)
    ap.add_argument("--clients", type=int, default=4)
    ap.add_argument("--seconds", type=float, default=None, help="write for this long (fault half-way)")
    ap.add_argument("--writes", type=int, default=40, help="batches of 10 inserts (at most, with --seconds)")
    args = ap.parse_args(argv)

    def ask(event):
        def fn():
            _say(event=event)
            sys.stdin.readline()
        return fn

    res = run(args.addresses.split(","), args.index, args.clients, writes=args.writes, on_fault=ask("fault"),
              on_heal=ask("heal"), seconds=args.seconds)
    _say(event="result", **res)
    return 0


if __name__ == "__main__":
    sys.exit(main())
