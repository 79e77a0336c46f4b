"""The merge policy of segmented inner indexes (``segments``): a pure function from segment
sizes to the next compaction step, so it is tested on its own and the knobs (``InnerParams``:
``seal_rows``, ``merge_ratio``, ``max_deleted``) are read in one place."""
from __future__ import annotations

from dataclasses import dataclass

from .base import InnerParams


@dataclass(frozen=True)
class Step:
    """One compaction: merge ``sources`` (sealed serials) with the growing rows before ``upto``."""

    sources: tuple
    upto: int
    reason: str


def plan(live: dict, dead: dict, growing_live: int, growing_rows: int, p: InnerParams, idle: bool):
    """The merge policy, a pure function of segment sizes. ``live``/``dead``: rows by sealed serial.
    Returns ``Step`` or None. Merges aim at one graph, as long as its cost stays proportional
    to what it fixes: every extra segment costs a whole graph
    search (its hops barely shrink with its size) and growing rows an exact scan."""
    big = max(live, key=live.get) if live else None
    if big is not None and live[big] == 0:
        big = None
    big_live = live[big] if big is not None else 0
    pending = sum(live.values()) - big_live + growing_rows + sum(dead.values())  # rows a merge would fix
    empty = tuple(sorted(k for k, v in live.items() if v == 0))
    if empty:  # every row deleted (a burst of upserts): dropped, nothing to build
        return Step(empty, 0, "drop")
    reason = None
    if big is not None and dead[big] >= p.max_deleted * max(1, big_live + dead[big]):
        reason = "deleted share"
    elif big is not None and pending >= p.merge_ratio * big_live and len(live) + (growing_rows > 0) > 1:
        reason = "merge ratio"
    elif idle and pending > 0 and big_live + pending <= p.idle_merge_rows:
        reason = "idle merge"  # never just "idle": that word is the compactor state "nothing left"
    elif idle:  # a trickle: the small segments and the growing rows into one, the largest left alone
        rest = tuple(sorted(k for k in live if k != big))
        if growing_rows > 0 or len(rest) > 1 or any(dead[k] for k in rest):
            return Step(rest, growing_rows, "idle small")
    if growing_rows >= p.seal_rows and growing_rows - growing_live >= growing_rows // 2:
        return Step((), 0, "vacuum")  # mostly rewritten rows (an upsert storm): dropped, nothing built
    if growing_rows >= p.seal_rows or (reason and growing_rows >= p.seal_rows // 4 and live):
        # seal first: a long merge must not leave searches scanning many growing rows exactly
        return Step((), growing_rows, "seal")
    if reason:
        return Step(tuple(sorted(live)), growing_rows, reason)
    return None
