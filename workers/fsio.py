"""fsync helpers shared by the coordinator's WAL / snapshots and the worker host's saves, and
the directory lock both take (one process per index / data directory)."""
from __future__ import annotations

import fcntl
import os


def lock_dir(directory: str, busy):
    """``directory/LOCK`` opened and flock'ed exclusively (closing the file unlocks it);
    ``raise busy()`` when another process holds it."""
    f = open(os.path.join(directory, "LOCK"), "a")
    try:
        fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        f.close()
        raise busy() from None
    return f


def fsync_dir(path: str) -> None:
    """Make a directory's entries (new, renamed or removed files) durable."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def fsync_tree(path: str) -> None:
    """fsync every file and directory below ``path`` (a finished snapshot before it is published)."""
    for d, _, files in os.walk(path):
        for name in files:
            fd = os.open(os.path.join(d, name), os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
        fsync_dir(d)
