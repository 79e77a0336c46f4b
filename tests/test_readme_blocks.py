"""The README runs as written: every ```bash / ```python block, in order, in one temporary
directory, unless the line before it is ``<!-- skip-test: why -->``. ``<!-- test: background -->``
starts a block as a background process (a server), stopped with SIGTERM at the end.

Substitutions, so that the run stays small (the only differences from the README's text):
``pip install ... &&`` is dropped (the package is installed in the test environment) and
``sanny demo`` runs with ``--n 2000 --dim 32``."""
from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import pytest

README = Path(__file__).resolve().parent.parent / "README.md"
BLOCK = re.compile(r"(?:^(<!--[^\n]*-->)\n)?^```(bash|python)\n(.*?)^```", re.M | re.S)


def blocks() -> list[tuple[str, str, str]]:
    """``(marker, language, code)`` of every fenced bash/python block."""
    return [(m.group(1) or "", m.group(2), m.group(3)) for m in BLOCK.finditer(README.read_text())]


def small(code: str) -> str:
    code = re.sub(r"pip install [^\n]*?&&\s*", "", code)
    return re.sub(r"\bsanny demo\b", "sanny demo --n 2000 --dim 32", code)


def test_markers_are_known():
    found = blocks()
    assert len(found) >= 8
    for marker, _, code in found:
        assert marker == "" or marker.startswith(("<!-- skip-test", "<!-- test: background")), marker


def test_readme_blocks_run_as_written(tmp_path):
    if "vald" not in sys.modules:
        pytest.importorskip("vald")
    env = dict(os.environ, PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
               MPLBACKEND="Agg")
    background = []
    try:
        for i, (marker, lang, code) in enumerate(blocks()):
            if marker.startswith("<!-- skip-test"):
                continue
            cmd = ["bash", "-euo", "pipefail", "-c", small(code)] if lang == "bash" else [sys.executable, "-c", code]
            if marker.startswith("<!-- test: background"):
                background.append(subprocess.Popen(cmd, cwd=tmp_path, env=env, stdout=subprocess.DEVNULL,
                                                   stderr=open(tmp_path / f"background-{i}.log", "w")))
                continue
            p = subprocess.run(cmd, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600)
            assert p.returncode == 0, f"README block {i} ({lang}) failed:\n{code}\n--- stderr:\n{p.stderr[-3000:]}"
    finally:
        for p in background:
            p.send_signal(signal.SIGTERM)
        for p in background:
            p.wait(timeout=120)


def test_vald_block_runs_twice(tmp_path):
    """The README's Vald client block can be run again against the same server (no
    ALREADY_EXISTS on the second run)."""
    pytest.importorskip("vald.v1.vald.upsert_pb2_grpc")
    from sanny.engine import Index, IndexConfig
    from sanny.engine.api.server import run_server

    code = next(c for _, lang, c in blocks() if lang == "python" and "vald.v1" in c)
    with Index.create(str(tmp_path / "ix"), IndexConfig(dim=2048)) as ix, \
            run_server(ix, "127.0.0.1:0", grace=1.0) as (_server, port):
        code = code.replace("127.0.0.1:50051", f"127.0.0.1:{port}")
        for _ in range(2):
            exec(compile(code, "README-vald", "exec"), {})
        assert ix.exists(["img-1"]).all() and len(ix) == 1


def test_listed_result_directories_exist():
    """Every ``bench/results/...`` directory (or file) the README names is in the repository."""
    named = set(re.findall(r"`(bench/results/[\w./-]+?)/?`", README.read_text()))
    named |= {f"bench/results/{d}" for d in re.findall(r"`bench/results/[\w-]+` \(and `([\w-]+)`", README.read_text())}
    assert named
    root = README.parent
    assert [n for n in sorted(named) if not (root / n).exists()] == []
