"""Segments and compaction as the coordinator sees them: one summary of every worker's
segments (``info``, ``IndexInfo``, ``sanny info``), and waiting for background compaction
(``Index.wait_compaction``; the churn benchmark's "settled" state).

In-process workers settle on request (their compactor treats the index as idle); remote ones
report their compactor's state in ``stats()`` and are polled until it is idle.
"""
from __future__ import annotations

import time

STATES = ("idle", "pending")  # anything else: the reason of a merge in progress


def _walk(st, out: list) -> None:
    """Every worker stats dict with segments, however deep (grid cells, replicas)."""
    if isinstance(st, dict):
        if "segments" in st and "growing" in st:
            out.append(st)
            return
        for v in st.values():
            _walk(v, out)
    elif isinstance(st, list):
        for v in st:
            _walk(v, out)


def summary(worker_stats) -> dict | None:
    """Totals over every worker (and replica) that has segments, or None when none has (ngt,
    exact). ``compaction``: ``idle``, ``pending`` or what is running, the busiest worker's."""
    found: list = []
    _walk([s for s in worker_stats if isinstance(s, dict)], found)
    if not found:
        return None
    sealed = sum(int(x["rows"]) for st in found for x in st["segments"])
    deleted = sum(int(x["deleted"]) for st in found for x in st["segments"])
    growing = sum(int(st["growing"]["rows"]) - int(st["growing"].get("deleted", 0)) for st in found)
    states = [str(st.get("compaction", {}).get("state", "idle")) for st in found]
    busy = [s for s in states if s not in STATES]
    return {"workers": len(found), "segments": sum(len(st["segments"]) for st in found),
            "sealed_rows": sealed, "deleted_rows": deleted, "growing_rows": growing,
            "deleted_share": round(deleted / sealed, 4) if sealed else 0.0,
            "compaction": busy[0] if busy else ("pending" if "pending" in states else "idle"),
            "compaction_cpu_seconds": round(sum(float(st.get("compaction", {}).get("cpu_seconds", 0))
                                                for st in found), 3),
            "merges": sum(int(st.get("merges", 0)) for st in found)}


def wait(workers, timeout: float | None = None, poll: float = 0.1) -> bool:
    """Until no worker has compaction left to do; False when ``timeout`` passes first."""
    deadline = None if timeout is None else time.monotonic() + timeout
    for w in list(workers):
        left = lambda: None if deadline is None else max(0.0, deadline - time.monotonic())  # noqa: E731
        settle = getattr(w, "settle", None)
        if settle is not None:
            if not settle(left()):
                return False
            continue
        while True:
            s = summary([w.stats()])
            if s is None or s["compaction"] == "idle":
                break
            if deadline is not None and time.monotonic() >= deadline:
                return False
            time.sleep(poll)
    return True
