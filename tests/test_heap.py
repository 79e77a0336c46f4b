"""``sanny.workers.heap``: a process that holds an index keeps its large arrays in their own
mappings, so freeing one returns its pages to the OS at once, whatever sizes it freed before."""
import os
import subprocess
import sys
import textwrap

PROBE = textwrap.dedent("""
    import numpy as np
    from sanny.workers import LocalWorker, WorkerSpec, InnerParams, heap

    def rss():
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * 4096

    if {before}:
        LocalWorker(WorkerSpec([0], [4], "l2", InnerParams(kind="exact"))).close()
    big = np.ones(16 << 18, np.float32)  # 16 MiB, mmap'd, then freed: glibc raises its threshold to it
    del big
    a = np.ones(8 << 18, np.float32)     # 8 MiB, every page touched
    held = rss()
    del a                                # its own mapping: unmapped at once; in an arena: kept
    returned = held - rss() > 6 << 20
    b = np.ones(2 << 18, np.float32)     # 2 MiB: below the threshold, from the heap's top
    held = rss()
    del b                                # kept for the next batch unless the trim threshold is small
    print(heap._held, returned, held - rss() < 1 << 20)
""")


def _run(before: bool, env_threshold: str | None = None, env_trim: str | None = None) -> list[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("MALLOC_MMAP_THRESHOLD_", "MALLOC_TRIM_THRESHOLD_")}
    if env_threshold is not None:
        env["MALLOC_MMAP_THRESHOLD_"] = env_threshold
    if env_trim is not None:
        env["MALLOC_TRIM_THRESHOLD_"] = env_trim
    out = subprocess.run([sys.executable, "-c", PROBE.format(before=before)], env=env, capture_output=True,
                         text=True, check=True)
    return out.stdout.split()


def test_a_worker_process_returns_a_freed_large_array_at_once_and_keeps_small_ones():
    """Kept: fixing the mmap threshold alone would freeze glibc's trim threshold at 128 KiB, and
    every write batch would fault its pages in again (ingest measured 2.3x slower)."""
    assert _run(before=True) == ["True", "True", "True"]


def test_without_it_glibc_keeps_it_after_a_larger_free():
    """The control: the probe can tell the two apart (glibc's dynamic threshold, unfixed)."""
    assert _run(before=False)[:2] == ["False", "False"]


def test_the_operators_setting_wins():
    assert _run(before=True, env_threshold=str(64 << 20))[0] == "False"
    assert _run(before=True, env_trim=str(128 << 10)) == ["True", "True", "False"]
