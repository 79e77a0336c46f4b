"""A LAN on one machine: Linux network namespaces as hosts, for multi-host tests and benchmarks.

``Lab(n)`` makes n+1 namespaces ``<prefix>-h0`` (the coordinator) .. ``<prefix>-hN`` (workers),
each with its own address ``10.213.0.<i+1>/24`` on ``eth0``, one end of a veth pair whose other
end hangs on a bridge in a further namespace ``<prefix>-sw`` — the root namespace is never
touched, so all traffic stays inside the namespaces made here. Optional ``tc netem`` delay on
every ``eth0`` (one way) emulates a LAN's latency. Needs root (``ip netns``); ``close()``
stops the processes started in them (SIGTERM), kills by PID any process still in one of its
namespaces, and removes every namespace (and with them the links).
"""
from __future__ import annotations

import contextlib
import os
import signal
import subprocess

from .procs import Proc

SUBNET = "10.213.0"


class LabUnavailable(RuntimeError):
    """The kernel or the user's rights do not allow namespaces here (callers skip)."""


def _ip(*args: str) -> None:
    r = subprocess.run(["ip", *args], capture_output=True, text=True)
    if r.returncode:
        raise LabUnavailable(f"`ip {' '.join(args)}` failed: {r.stderr.strip()}")


def unavailable() -> str | None:
    """Why namespaces cannot be made here (a one-host :class:`Lab` is tried and removed), or None."""
    try:
        Lab(0, prefix=f"sanny{os.getpid()}-probe").up().close()
    except LabUnavailable as e:
        return str(e)
    return None


class Lab:
    def __init__(self, workers: int, prefix: str | None = None):
        self.n = workers
        self.prefix = prefix or f"sanny{os.getpid()}"
        self.netem: str | None = None
        self.env: dict[str, str] = {}  # added to the environment of every process run here
        self.procs: list[Proc] = []
        self._made: list[str] = []

    def ns(self, i: int) -> str:
        return f"{self.prefix}-h{i}"

    def address(self, i: int) -> str:
        return f"{SUBNET}.{i + 1}"

    def up(self) -> "Lab":
        if os.geteuid() != 0:
            raise LabUnavailable("network namespaces need root (CI runs as root)")
        try:
            sw = f"{self.prefix}-sw"
            self._add_ns(sw)
            _ip("-n", sw, "link", "add", "br0", "type", "bridge")
            _ip("-n", sw, "link", "set", "br0", "up")
            for i in range(self.n + 1):
                ns = self.ns(i)
                self._add_ns(ns)
                _ip("-n", sw, "link", "add", f"v{i}", "type", "veth", "peer", "name", "eth0", "netns", ns)
                _ip("-n", sw, "link", "set", f"v{i}", "master", "br0", "up")
                _ip("-n", ns, "addr", "add", f"{self.address(i)}/24", "dev", "eth0")
                _ip("-n", ns, "link", "set", "eth0", "up")
                _ip("-n", ns, "link", "set", "lo", "up")
        except BaseException:
            self.close()
            raise
        return self

    def __enter__(self) -> "Lab":
        return self.up()

    def __exit__(self, *exc) -> None:
        self.close()

    def _add_ns(self, name: str) -> None:
        _ip("netns", "add", name)
        self._made.append(name)

    def delay(self, ms: float) -> bool:
        """``tc netem delay`` on every host's eth0; False (nothing changed) when netem is missing."""
        for i in range(self.n + 1):
            r = subprocess.run(["ip", "netns", "exec", self.ns(i), "tc", "qdisc", "add", "dev", "eth0", "root",
                                "netem", "delay", f"{ms}ms"], capture_output=True, text=True)
            if r.returncode:
                self.netem = r.stderr.strip()
                return False
        return True

    def link(self, i: int, up: bool) -> None:
        """Cut (or restore) host i's only link."""
        _ip("-n", self.ns(i), "link", "set", "eth0", "up" if up else "down")

    def run(self, i: int, name: str, args: list[str], log_path: str, ready: str, host: str | None = None,
            module: str = "sanny.engine") -> Proc:
        """``python -m MODULE ARGS`` inside host i (ready once its log matches ``ready``), listening
        on ``host`` (default: host i's address), with :attr:`env` added to its environment."""
        p = Proc(name, args, log_path, ready, prefix=("ip", "netns", "exec", self.ns(i)), host=host or self.address(i),
                 module=module, env=self.env)
        self.procs.append(p)
        return p

    def close(self) -> None:
        for p in reversed(self.procs):  # the last started first (e.g. Ray nodes before their head)
            with contextlib.suppress(ProcessLookupError):
                os.kill(p.pid, signal.SIGCONT)  # a paused process cannot act on SIGTERM
            p.stop(timeout=10)
        self.procs.clear()
        for name in self._made:  # what the processes left (e.g. Ray's daemons): every pid in our namespaces
            for pid in subprocess.run(["ip", "netns", "pids", name], capture_output=True, text=True).stdout.split():
                with contextlib.suppress(ProcessLookupError):
                    os.kill(int(pid), signal.SIGKILL)
        for name in reversed(self._made):
            subprocess.run(["ip", "netns", "del", name], capture_output=True)
        self._made.clear()
