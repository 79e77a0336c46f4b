"""The old-vs-new same-run comparison in one command: serve the same vectors from an older checkout
(``--old-python``: an interpreter whose ``sanny`` is that checkout), from this one, and from
this one with ``--null`` (the transport ceiling: the servicer over an engine that answers at
once), each in its own process by ``experiments/mixed_serve.py``; drive them in turn with
``mixed_load --target``; stop them.

    git worktree add --detach ../wt-old 43f939e
    python3 -m venv --system-site-packages ../venv-old
    ../venv-old/bin/pip install --no-deps -e ../wt-old
    python -m experiments.mixed_same_run --old-python ../venv-old/bin/python \\
        --old-name old-43f939e --out experiments/results/mixed-load
"""
from __future__ import annotations

import argparse
import contextlib
import os
import subprocess
import sys
import tempfile

from sanny.bench import mixed_load

SERVE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "mixed_serve.py")


@contextlib.contextmanager
def serving(python: str, data: str, S: int, *extra: str):
    """``mixed_serve.py`` under ``python``; yields ``HOST:PORT,PID`` once it serves, and stops it
    (its standard input closed) on the way out."""
    srv = subprocess.Popen([python, SERVE, data, "--S", str(S), *extra], stdin=subprocess.PIPE,
                           stdout=subprocess.PIPE, text=True)
    try:
        line = srv.stdout.readline().split()  # blocks until it serves, or '' when it died
        if line[:1] != ["PORT"]:
            raise RuntimeError(f"{python} {SERVE} did not start serving (exit code {srv.wait(60)})")
        yield f"127.0.0.1:{line[1]},{line[3]}"
    finally:
        srv.stdin.close()
        srv.wait(60)


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--old-python", required=True, help="interpreter that imports the older checkout's sanny")
    ap.add_argument("--old-name", default="old", help="its row's name (default old)")
    ap.add_argument("--n", type=int, default=5000)
    ap.add_argument("--dim", type=int, default=128)
    ap.add_argument("--S", type=int, default=4)
    ap.add_argument("--clients", type=int, default=8)
    ap.add_argument("--seconds", type=float, default=10.0)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--max-requests", type=int, default=100_000)
    ap.add_argument("--out", help="directory for mixed-load.json and mixed-load.md")
    args = ap.parse_args(argv)
    with tempfile.TemporaryDirectory() as d:
        data = os.path.join(d, f"mixed-{args.n}x{args.dim}.npy")
        mixed_load.main(["--save-data", data, "--n", str(args.n), "--dim", str(args.dim)])
        with serving(args.old_python, data, args.S) as old, serving(sys.executable, data, args.S) as new, \
                serving(sys.executable, data, args.S, "--null") as null:
            mixed_load.main([
                "--target", f"{args.old_name}={old}", "--target", f"new={new}", "--target", f"ceiling-null={null}",
                "--dim", str(args.dim), "--clients", str(args.clients), "--seconds", str(args.seconds),
                "--repeats", str(args.repeats), "--max-requests", str(args.max_requests),
                *(["--out", args.out] if args.out else [])], module="experiments.mixed_same_run")


if __name__ == "__main__":
    main()
