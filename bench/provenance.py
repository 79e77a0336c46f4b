"""Where a benchmark row came from: code commit, library versions, thread counts, CPU, date and
the dataset's checksum, so two result files can be told apart (and a rerun matched) later."""
from __future__ import annotations

import datetime
import hashlib
import json
import logging
import os
import platform
import subprocess
import sys
from importlib import metadata

log = logging.getLogger(__name__)

LIBRARIES = ("numpy", "faiss-cpu", "ngt", "usearch", "scann", "rabitqlib", "threadpoolctl")
CACHE = os.path.join(os.path.expanduser("~"), ".cache", "sanny", "sha256.json")
_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))  # the project checkout


def git_state(root: str = _ROOT) -> dict:
    """``{"commit": sha or None, "dirty": bool or None}`` of the checkout holding this code."""
    def git(*args):
        return subprocess.run(["git", "-C", root, *args], capture_output=True, text=True, timeout=30)
    try:
        head = git("rev-parse", "HEAD")
        if head.returncode:
            return {"commit": None, "dirty": None}
        status = git("status", "--porcelain", "--untracked-files=no")
        return {"commit": head.stdout.strip(), "dirty": bool(status.stdout.strip())}
    except (OSError, subprocess.SubprocessError):
        return {"commit": None, "dirty": None}


def versions() -> dict:
    out = {"python": platform.python_version()}
    for lib in LIBRARIES:
        try:
            out[lib] = metadata.version(lib)
        except metadata.PackageNotFoundError:
            out[lib] = None
    return out


def threads() -> dict:
    """OpenMP / BLAS thread pools as threadpoolctl sees them (env variables as a fallback)."""
    out = {v: os.environ.get(v) for v in ("OMP_NUM_THREADS", "OMP_WAIT_POLICY", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")}
    try:
        from threadpoolctl import threadpool_info
    except ImportError:
        return {"env": out, "pools": None}
    import faiss  # noqa: F401  (load faiss' OpenMP so it is listed)
    pools = [{"api": p.get("user_api"), "lib": p.get("internal_api"), "threads": p.get("num_threads"),
              "file": os.path.basename(p.get("filepath", ""))} for p in threadpool_info()]
    return {"env": out, "pools": pools}


def cpu() -> dict:
    model = platform.processor() or None
    try:
        with open("/proc/cpuinfo") as f:
            model = next((line.split(":", 1)[1].strip() for line in f if line.startswith("model name")), model)
    except OSError:
        pass
    try:
        usable = len(os.sched_getaffinity(0))
    except AttributeError:
        usable = os.cpu_count()
    return {"model": model, "count": os.cpu_count(), "usable": usable}


def sha256(path: str, cache: str = CACHE) -> str:
    """SHA-256 of a file, cached by (absolute path, size, mtime) so large files hash once."""
    st = os.stat(path)
    key = f"{os.path.abspath(path)}|{st.st_size}|{st.st_mtime_ns}"
    try:
        with open(cache) as f:
            known = json.load(f)
    except (OSError, ValueError):
        known = {}
    if key in known:
        return known[key]
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 22), b""):
            h.update(block)
    known[key] = h.hexdigest()
    try:
        os.makedirs(os.path.dirname(cache), exist_ok=True)
        tmp = f"{cache}.{os.getpid()}"
        with open(tmp, "w") as f:
            json.dump(known, f)
        os.replace(tmp, cache)
    except OSError:
        log.debug("checksum cache %s not writable", cache)
    return known[key]


def portable(argv: list[str], root: str = _ROOT) -> list[str]:
    """A command line that points nowhere outside the repository: an absolute path inside the
    checkout becomes relative to it, any other absolute path its file name (a dataset is
    identified by its file name and ``dataset_sha256``). ``--opt=/path`` is handled too."""
    root = os.path.abspath(root)

    def one(arg: str) -> str:
        opt, eq, value = arg.partition("=") if arg.startswith("-") else ("", "", arg)
        if not os.path.isabs(value):
            return arg
        value = os.path.normpath(value)
        inside = os.path.commonpath([root, value]) == root
        return opt + eq + (os.path.relpath(value, root) if inside else os.path.basename(value) or value)

    return [one(a) for a in argv]


def collect(dataset_path: str | None = None) -> dict:
    """Everything above for one run (computed once, copied into each row under ``provenance``)."""
    out = {**git_state(), "versions": versions(), "threads": threads(), "cpu": cpu(),
           "platform": platform.platform(), "argv": portable(sys.argv[1:]),
           "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")}
    if dataset_path:
        out["dataset_file"] = os.path.basename(dataset_path)
        out["dataset_sha256"] = sha256(dataset_path)
    return out
