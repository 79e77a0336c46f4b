"""RayWorker: the Worker interface over a Ray actor hosting a :class:`WorkerHost`.

The actor keeps its saves in ``data_dir`` on the node it runs on. It is created with
``max_restarts`` (default: unlimited), so when it dies Ray starts it again with the same
arguments, the host reloads its newest save, its epoch changes, and the next call from the
coordinator catches it up from the write-ahead log (``remote.RemoteWorker``): no acknowledged
write is lost. Actors are spread over the cluster (``scheduling_strategy="SPREAD"``) and
reserve ``num_cpus`` each (match it to the inner index's build/search threads).
"""
from __future__ import annotations

import functools

import numpy as np
import ray
from ray import exceptions as rex

from .errors import SannyError, WorkerUnavailable

from .base import WorkerSpec
from .host import StaleState, WorkerHost
from .remote import RemoteWorker, Stale


class HostActor:
    """Actor body: one WorkerHost per actor process."""

    def __init__(self, data_dir: str):
        self.host = WorkerHost(data_dir)

    def call(self, method: str, epoch: str | None, kw: dict):
        return self.host.call(method, epoch, **kw)


@functools.cache
def _actor_class():
    return ray.remote(HostActor)


class RayWorker(RemoteWorker):
    transport = "ray"

    def __init__(self, spec: WorkerSpec, data_dir: str, num_cpus: float = 1, max_restarts: int = -1,
                 max_task_retries: int = -1, name: str | None = None, placement: dict | None = None, **kw):
        """``placement``: Ray actor options that place it (``scheduling_strategy`` — a placement
        group bundle — or ``resources`` such as ``{"node:10.0.0.2": 0.001}``); default SPREAD.
        ``kw``: ``rank``, ``log`` and the timeouts of :class:`RemoteWorker`."""
        kw.setdefault("connect_grace", kw.get("timeout", 30.0))  # allow for an actor restart
        super().__init__(spec, name or f"ray:{data_dir}", **kw)
        self.data_dir, self.placement = data_dir, placement
        self.actor = _actor_class().options(
            num_cpus=num_cpus, max_restarts=max_restarts, max_task_retries=max_task_retries,
            **(placement or {"scheduling_strategy": "SPREAD"})).remote(data_dir)

    def _invoke(self, method: str, timeout: float, epoch: str | None, kw: dict):
        ref = self.actor.call.remote(method, epoch, kw)
        try:
            out = ray.get(ref, timeout=timeout)
        except rex.GetTimeoutError:
            ray.cancel(ref)
            raise TimeoutError(f"{method} timed out") from None
        except rex.RayTaskError as e:
            cause = getattr(e, "cause", None) or e
            if isinstance(cause, StaleState):
                raise Stale(str(cause)) from None
            if isinstance(cause, (ValueError, FileNotFoundError)):
                raise type(cause)(f"worker {self.name}: {cause}") from None
            raise SannyError(f"worker {self.name} failed {method}: {type(cause).__name__}: {cause}") from None
        except (rex.RayActorError, rex.ActorUnavailableError) as e:
            raise WorkerUnavailable(f"worker {self.name} is unavailable ({method}): {e}") from None
        # results come from the object store read-only; hand out ordinary arrays
        if isinstance(out, tuple):
            return tuple(np.array(a) for a in out)
        return np.array(out) if isinstance(out, np.ndarray) else out

    def close(self) -> None:
        try:
            ray.kill(self.actor, no_restart=True)
        except Exception:  # noqa: BLE001 - the cluster may already be gone at shutdown
            pass
