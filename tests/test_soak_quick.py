"""The CI version of ``sanny soak``: crash loop x5 (SIGKILL of a coordinator with two writer
threads), ENOSPC on a small tmpfs (skipped row without root), WAL byte flips + repair, oversized
requests and malformed bytes, reopen after automatic checkpoints (served and embedded bounds),
bit flips in every durable file + repair, a damaged last WAL record, overflowing values and
control-character keys, a checkpoint on a full disk. Zero acknowledged writes lost, zero
phantoms, every bad input handled."""
from __future__ import annotations

import subprocess
import sys

from sanny.bench.soak_cli import run, table


def test_quick_soak_loses_nothing(tmp_path):
    rows = run(quick=True, work=str(tmp_path))
    text = table(rows)
    by = {r.fault.split(" x")[0]: r for r in rows}
    assert by["coordinator SIGKILL"].tried == 5 and by["coordinator SIGKILL"].survived == 5, text
    assert sum(r.lost for r in rows) == 0 and sum(r.phantoms for r in rows) == 0, text
    assert all(r.bad_handled == r.bad_tried for r in rows), text
    assert by["WAL byte flips"].bad_tried == 8, text
    assert all(r.survived == r.tried for r in rows), text
    reopen = by["reopen after 3,000 WAL records"]
    # automatic checkpoints bound the replay: without them all 3,000 records would be replayed
    assert reopen.extra["checkpoints"] >= 1 and reopen.extra["replayed"] < 3_000, text
    embedded = by["reopen after 3,000 embedded writes"]  # no start_checkpoints call: the defaults
    assert embedded.extra["checkpoints"] >= 1 and embedded.extra["replayed"] < 3_000, text
    for name in ("durable-file bit flips", "last WAL record flipped", "overflowing values, control-char keys"):
        assert by[name].tried >= 1 and by[name].bad_tried >= 1, text
    full = by["disk full (ENOSPC, tmpfs)"]
    assert full.tried >= 1 or "skipped" in full.note, text


def test_repair_wal_command(tmp_path):
    from sanny.engine import Index, IndexConfig, InnerParams
    from sanny.bench.soak import vec
    root = str(tmp_path / "i")
    ix = Index.create(root, IndexConfig(dim=8, S=2, inner=InnerParams(kind="exact")))
    for i in range(5):
        ix.insert([f"k{i}"], vec(i))
    ix.wal.close()
    ix._release()
    clean = subprocess.run([sys.executable, "-m", "sanny.engine", "repair-wal", root], capture_output=True, text=True)
    assert clean.returncode == 0 and "nothing to do" in clean.stdout
    with open(tmp_path / "i" / "wal.log", "r+b") as f:  # damage the second record's payload
        data = f.read()
        f.seek(len(data) // 3)
        f.write(bytes([data[len(data) // 3] ^ 0xFF]))
    fixed = subprocess.run([sys.executable, "-m", "sanny.engine", "repair-wal", root], capture_output=True, text=True)
    assert fixed.returncode == 0 and "kept 4 valid records" in fixed.stdout, fixed.stdout + fixed.stderr
    with Index.open(root) as again:
        assert int(again.exists([f"k{i}" for i in range(5)]).sum()) == 4
