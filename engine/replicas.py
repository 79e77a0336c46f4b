"""One grid cell: F replicas of the same (row shard, subspace group), with failover and catch-up.

Searches go to one healthy replica (round-robin) and, when it fails with a transport error,
to the next one within the caller's deadline; each attempt is bounded by a cap so a paused
replica (SIGSTOP, cut link) costs one bounded wait, not the whole deadline. The cap grows with
the request: ``failover_after`` plus ``SLACK`` times the slowest recent seconds per query row
times its rows. A replica that misses its cap but answers a status call is slow, not gone: it
stays up and the request is tried again without a cap (within the caller's deadline), so a big
batch never marks healthy replicas down. Writes go
to every healthy replica; a replica that fails one is marked *down* and skipped — the write is
acknowledged when at least one replica applied it, because the coordinator's WAL stays the
source of truth. A down replica is probed in a background thread; once it answers it is caught
up from the coordinator's log (``RemoteWorker`` replays what it missed on its next call) under
the cell's write lock, and only then serves again.

Why this is ours and not grpc's round_robin / retry policy: a replica may only serve once it
holds every acknowledged write, which a channel-level balancer cannot know; the catch-up needs
the coordinator's log. grpc still does reconnection and backoff per channel.
"""
from __future__ import annotations

import logging
import threading
import time

from sanny.workers.deadline import deadline, remaining
from sanny.workers.errors import DeadlineExceeded, WorkerUnavailable

log = logging.getLogger(__name__)

DOWN_ERRORS = (WorkerUnavailable, DeadlineExceeded)
SLACK = 4.0  # cap = failover_after + SLACK * (recent seconds per row) * rows


class Cell:
    """F replicas (``Worker`` objects) holding the same rows and subspaces."""

    def __init__(self, replicas: list, name: str, failover_after: float = 2.0, probe_every: float = 0.2):
        self.replicas, self.name = list(replicas), name
        self.failover_after, self.probe_every = float(failover_after), float(probe_every)
        self.up = [True] * len(self.replicas)
        self.catchups: list[float] = []   # seconds each rejoin took (catch-up included)
        self.failovers = 0                # searches answered by another replica after an error
        self.slow = 0                     # attempts past their cap on a replica that was alive
        self.row_seconds = 0.0            # recent seconds per query row of an answered read
        self._rr = 0
        self._state = threading.Lock()    # up / _rr
        self._writes = threading.Lock()   # writes vs. a replica rejoining
        self._stop = threading.Event()
        self._prober: threading.Thread | None = None
        self._changed = threading.Condition(self._state)

    # -- health --------------------------------------------------------------------------
    @property
    def state(self) -> str:
        n = sum(self.up)
        return "ready" if n == len(self.up) else ("degraded" if n else "down")

    def _down(self, i: int, err: Exception) -> None:
        with self._state:
            if not self.up[i]:
                return
            self.up[i] = False
            log.warning("cell %s: replica %d down (%s)", self.name, i, err)
            if self._prober is None or not self._prober.is_alive():
                self._prober = threading.Thread(target=self._probe, name=f"sanny-probe-{self.name}", daemon=True)
                self._prober.start()
            self._changed.notify_all()

    def _probe(self) -> None:
        """Until every replica is up again (or the cell closes): try each down one in turn."""
        while not self._stop.wait(self.probe_every):
            down = [i for i, u in enumerate(self.up) if not u]
            if not down:
                return
            for i in down:
                self._rejoin(i)

    def _rejoin(self, i: int) -> bool:
        r = self.replicas[i]
        try:
            r.stats()  # reachable at all? (bounded by the transport's connect grace)
        except Exception:  # noqa: BLE001 - still down
            return False
        t0 = time.monotonic()
        with self._writes:  # no write may slip between the catch-up and going live
            try:
                r.build(False)  # a remote replica first replays the log records it missed
            except Exception as e:  # noqa: BLE001 - try again on the next probe
                log.info("cell %s: replica %d not caught up yet (%s)", self.name, i, e)
                return False
            with self._state:
                self.up[i] = True
                self.catchups.append(time.monotonic() - t0)
                self._changed.notify_all()
        log.warning("cell %s: replica %d back after %.3f s of catch-up", self.name, i, self.catchups[-1])
        return True

    def wait_state(self, state: str, timeout: float) -> bool:
        """Block until the cell reaches ``state`` (tests and tools wait on states, not sleeps)."""
        with self._state:
            return self._changed.wait_for(lambda: self.state == state, timeout)

    # -- reads ---------------------------------------------------------------------------
    def _order(self) -> list[int]:
        with self._state:
            live = [i for i, u in enumerate(self.up) if u]
            self._rr += 1
            start = self._rr
        return live[start % len(live):] + live[: start % len(live)] if live else []

    def cap(self, rows: int) -> float:
        """Seconds one attempt of a ``rows``-row read may take before the next replica is tried."""
        return self.failover_after + SLACK * self.row_seconds * max(1, rows)

    def _learn(self, rows: int, seconds: float) -> None:
        """Follow the cost per row: up at once, down slowly (one fast answer must not shrink the
        cap for the next big batch)."""
        rate = seconds / max(1, rows)
        self.row_seconds = rate if rate > self.row_seconds else 0.8 * self.row_seconds + 0.2 * rate

    def _alive(self, i: int) -> bool:
        """Whether replica ``i`` answers a status call within ``failover_after`` (slow vs. gone)."""
        try:
            with deadline(self.failover_after):
                self.replicas[i].stats()
            return True
        except Exception:  # noqa: BLE001 - any failure: treat it as down
            return False

    def read(self, fn, rows: int = 1):
        """``fn(replica)`` on one healthy replica, failing over to the others on transport errors;
        ``rows`` (the request's query rows) sizes each attempt's cap."""
        err: Exception | None = None
        order, patient, n = self._order(), len(self.replicas) == 1, 0
        while order:
            i = order.pop(0)
            left = remaining()
            if left is not None and left <= 0:
                break
            cap = None if patient else self.cap(rows)
            if cap is not None and left is not None:
                cap = min(cap, left)
            t0 = time.monotonic()
            try:
                with deadline(cap):
                    out = fn(self.replicas[i])
            except DOWN_ERRORS as e:
                outer = remaining()
                if outer is not None and outer <= 0:
                    raise  # the caller's deadline, not the replica's fault
                err = e
                if cap is not None and isinstance(e, DeadlineExceeded) and self._alive(i):
                    with self._state:
                        self.slow += 1
                    log.info("cell %s: replica %d slow, not down (%d rows past %.3g s): trying again "
                             "without a cap", self.name, i, rows, cap)
                    patient = True
                    order.append(i)  # after the others (if any), this time without a cap
                    continue
                self._down(i, e)
                n += 1
                continue
            self._learn(rows, time.monotonic() - t0)
            if n:
                self.failovers += 1
            return out
        left = remaining()
        if left is not None and left <= 0:
            raise DeadlineExceeded(f"cell {self.name}: deadline passed ({err})")
        raise WorkerUnavailable(f"cell {self.name}: no replica answered ({err or 'all are down'})")

    # -- writes --------------------------------------------------------------------------
    def write(self, fn, each) -> None:
        """``fn(replica)`` on every healthy replica (``each(fn, replicas)`` runs them, in parallel
        when remote). Acknowledged when at least one replica applied it."""
        with self._writes:
            live = [i for i, u in enumerate(self.up) if u]
            if not live:
                raise WorkerUnavailable(f"cell {self.name}: every replica is down")

            def one(r, j):
                try:
                    fn(r)
                    return None
                except DOWN_ERRORS as e:
                    return e

            errs = each([self.replicas[i] for i in live], one)
            for i, e in zip(live, errs):
                if e is not None:
                    self._down(i, e)
            if all(e is not None for e in errs):
                raise WorkerUnavailable(f"cell {self.name}: no replica applied the write ({errs[0]})")

    def each_replica(self, fn) -> list:
        """``fn(replica)`` on every replica, down ones included (save/load/close)."""
        return [fn(r) for r in self.replicas]

    def stats(self) -> dict:
        reps = []
        for i, r in enumerate(self.replicas):
            try:
                st = r.stats()
            except Exception as e:  # noqa: BLE001 - reported per replica
                st = {"error": str(e)}
            reps.append({**st, "up": self.up[i]})
        return {"cell": self.name, "state": self.state, "replicas": reps, "failovers": self.failovers,
                "slow": self.slow, "catchup_s": list(self.catchups)}

    def close(self) -> None:
        self._stop.set()
        if self._prober is not None:
            self._prober.join(timeout=30)
        for r in self.replicas:
            r.close()
