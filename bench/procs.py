"""Child processes for the service benchmark: started as ``python -m sanny.engine ...`` with a log
file, ready once the log shows their port, stopped by PID (SIGTERM, SIGKILL after a timeout),
and any descendant that outlives them (e.g. Ray's own processes) killed by PID as well.
Linux only (reads ``/proc``)."""
from __future__ import annotations

import contextlib
import logging
import os
import re
import signal
import subprocess
import sys
import time

log = logging.getLogger(__name__)

START_TIMEOUT = 180.0  # Ray start plus loading a 2048-d index on a busy 2-core machine
STOP_TIMEOUT = 60.0    # the coordinator saves the index on SIGTERM


# -- /proc ---------------------------------------------------------------------------------
def _stat_fields(pid: int) -> list[str] | None:
    """The fields of ``/proc/<pid>/stat`` after the command name (field 3 on), None when gone."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None


def _stat(pid: int) -> tuple[str, int, int] | None:
    """``(state, ppid, starttime)`` of a live process, None when it is gone."""
    rest = _stat_fields(pid)
    return None if rest is None else (rest[0], int(rest[1]), int(rest[19]))


def cpu_seconds(pid: int) -> float | None:
    """User + system CPU seconds a live process (every thread) has used, None when it is gone."""
    rest = _stat_fields(pid)
    return None if rest is None else (int(rest[11]) + int(rest[12])) / os.sysconf("SC_CLK_TCK")


def alive(pid: int, start: int | None = None) -> bool:
    """Running (not a zombie), and the same process when ``start`` (its start time) is given."""
    st = _stat(pid)
    return st is not None and st[0] != "Z" and (start is None or st[2] == start)


def status_bytes(field: str, pid: int | str = "self") -> int | None:
    """A ``/proc/<pid>/status`` memory field (``VmRSS``, ``VmHWM``) in bytes; None when the
    process is gone or the field is missing (Linux only)."""
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1]) * 1024
    except OSError:
        return None
    return None


def rss_mb(pid: int) -> float | None:
    b = status_bytes("VmRSS", pid)
    return None if b is None else b / (1 << 20)


def cmdline(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return f.read().replace(b"\0", b" ").decode(errors="replace").strip()
    except OSError:
        return ""


def descendants(pid: int) -> dict[int, int]:
    """``{pid: starttime}`` of every live descendant of ``pid``."""
    children: dict[int, list[int]] = {}
    for name in os.listdir("/proc"):
        if name.isdigit() and (st := _stat(int(name))) is not None and st[0] != "Z":
            children.setdefault(st[1], []).append(int(name))
    out, todo = {}, list(children.get(pid, []))
    while todo:
        p = todo.pop()
        if (st := _stat(p)) is not None:
            out[p] = st[2]
            todo += children.get(p, [])
    return out


# -- processes -----------------------------------------------------------------------------
class Proc:
    """``python -m sanny.engine ARGS`` (or another ``module``), started at once; :meth:`wait_ready`
    waits until its log shows ``ready`` (a regex whose group 1, if any, is the port it listens on)."""

    def __init__(self, name: str, args: list[str], log_path: str, ready: str, prefix: tuple = (),
                 host: str = "127.0.0.1", module: str = "sanny.engine", env: dict | None = None):
        """``prefix``: command words before python (e.g. ``ip netns exec NS``); ``host``: the
        address it listens on (:attr:`address` is ``host:port``, or ``host`` itself for ``unix:PATH``);
        ``env``: variables added to this process's environment."""
        self.name, self.log_path, self.ready, self.host, self.port = name, log_path, ready, host, None
        with open(log_path, "w") as out:  # own session: a terminal's Ctrl-C reaches only us
            self.proc = subprocess.Popen([*prefix, sys.executable, "-m", module, *args], stdout=out,
                                         stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                         start_new_session=True, env={**os.environ, **env} if env else None)
        self.pid = self.proc.pid
        self.seen: dict[int, int] = {}  # descendants ever observed: pid -> start time

    def wait_ready(self, timeout: float = START_TIMEOUT) -> "Proc":
        """Raises RuntimeError (with the log's tail) if it exits or times out first; the caller stops it."""
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            with open(self.log_path, errors="replace") as f:
                m = re.search(self.ready, f.read())
            if m:
                self.port = int(m.group(1)) if m.groups() else None  # None: a Unix socket
                return self
            if self.proc.poll() is not None:
                break
            time.sleep(0.05)
        with open(self.log_path, errors="replace") as f:
            raise RuntimeError(f"{self.name} did not start (log {self.log_path}):\n{f.read()[-3000:]}")

    @property
    def address(self) -> str:
        return self.host if self.host.startswith("unix:") else f"{self.host}:{self.port}"

    def watch(self) -> dict[int, int]:
        """Record (and return) the current descendants."""
        now = descendants(self.pid) if self.proc.poll() is None else {}
        self.seen.update(now)
        return now

    def stop(self, timeout: float = STOP_TIMEOUT) -> None:
        """SIGTERM, SIGKILL after ``timeout``; then SIGKILL any recorded descendant still alive."""
        if self.proc.poll() is None:
            self.watch()
            os.kill(self.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                log.warning("%s (pid %d) ignored SIGTERM for %.0f s: killing it", self.name, self.pid, timeout)
                os.kill(self.pid, signal.SIGKILL)
                self.proc.wait(10)
        left = {p: s for p, s in self.seen.items() if alive(p, s)}
        end = time.monotonic() + 10
        while left and time.monotonic() < end:  # e.g. Ray's own processes, given a moment to exit
            time.sleep(0.2)
            left = {p: s for p, s in left.items() if alive(p, s)}
        for p in left:
            log.warning("%s: killing leftover pid %d (%s)", self.name, p, cmdline(p)[:80])
            with contextlib.suppress(ProcessLookupError):
                os.kill(p, signal.SIGKILL)

    def pids(self) -> list[int]:
        return [self.pid, *self.seen]
