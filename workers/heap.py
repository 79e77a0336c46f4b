"""The process heap: where an index's large arrays live, and giving freed pages back to the OS.

A worker under churn allocates and frees arrays of megabytes again and again (a merge's copies of
the live rows, the graph it replaces, a save's buffers). glibc serves an allocation from the
mmap'd pages of its own if it is at least ``M_MMAP_THRESHOLD``, else from an arena, and it raises
that threshold to the size of every mmap'd block freed (up to 32 MiB). After the first merge the
index's arrays therefore land in arenas, where arrays that stay pin the pages around the freed
ones: measured, a served worker grew from 166 to 205-215 MB over 6 churn cycles with
``malloc_trim`` after every step; with the threshold held at 4 MiB it stayed at 152-162 MB.

Fixing that threshold also freezes glibc's trim threshold at 128 KiB, so every free at the top
of the heap would hand its pages back and the next allocation fault them in again; it is held
at 64 MiB (``give_back`` returns the heap after merges and saves). 1 MiB instead of 4 put a
write batch's arrays (1,000 x 384 floats: 1.5 MB) in mappings of their own: embedded ingest ran
2.3x slower; at 4 MiB it runs as fast as with glibc's own thresholds.
"""
from __future__ import annotations

import ctypes
import ctypes.util
import os

M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3  # glibc's mallopt parameter numbers
LARGE = 4 << 20         # bytes: arrays from here on get their own mapping, returned when freed
TOP = 64 << 20          # bytes of free heap top glibc may keep between two ``give_back`` calls


def _libc():
    """glibc's ``malloc_trim`` and ``mallopt``, or (None, None) with another libc: nothing to do."""
    try:
        c = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        return c.malloc_trim, c.mallopt
    except (OSError, AttributeError):
        return None, None


_trim, _mallopt = _libc()
_held = False


def hold_large_apart() -> bool:
    """Fix glibc's mmap threshold at ``LARGE`` and its trim threshold at ``TOP`` for this process
    (once), unless the operator set ``MALLOC_MMAP_THRESHOLD_`` (theirs wins; an operator's
    ``MALLOC_TRIM_THRESHOLD_`` too). True when the mmap threshold is fixed here."""
    global _held
    if _held or _mallopt is None or "MALLOC_MMAP_THRESHOLD_" in os.environ:
        return _held
    if "MALLOC_TRIM_THRESHOLD_" not in os.environ:
        _mallopt(M_TRIM_THRESHOLD, TOP)
    _held = bool(_mallopt(M_MMAP_THRESHOLD, LARGE))
    return _held


def give_back() -> bool:
    """Return freed heap pages to the OS. A merge frees the graphs it replaced, but glibc keeps
    their pages in its arenas (the compactor thread's own among them), so a churned worker's RSS
    would sit at its peak; measured: a served worker at 1.2-1.9x a fresh one's, up and down."""
    if _trim is None:
        return False
    _trim(0)
    return True
