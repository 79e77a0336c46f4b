"""A remote worker never discards the save its coordinator's committed snapshot names: the
coordinator passes that tag with every Save (``keep``), so checkpoints that fail after the
workers saved (a crash before CURRENT switches) cannot evict it, however many there are. Once a
checkpoint commits, Release drops what neither committed snapshot names (two saves, not three)."""
from __future__ import annotations

import os

import numpy as np
import pytest

from sanny.engine import Index, IndexConfig, InnerParams
from sanny.engine import snapshot as snapshot_module
from sanny.workers.host import WorkerHost
from sanny.workers.transports import factory_from_config

from transport_helpers import WorkerProcess, build, dataset

SPEC = {"subspaces": [0], "widths": [2], "metric": "l2", "inner": {"kind": "exact"}}


def test_host_keeps_the_named_saves_and_only_those(tmp_path):
    host = WorkerHost(str(tmp_path / "w"))
    try:
        e = host.call("configure", spec=SPEC, lineage="A", secret="s3cret")["epoch"]
        host.call("save", e, tag="s0", seq=0, proof="s3cret")
        for seq in (1, 2, 3):
            host.call("insert", e, seq=seq, ids=np.array([seq]), slices=np.ones((1, 2), np.float32))
            host.call("save", e, tag=f"s{seq}", seq=seq, keep=["s0"], proof="s3cret")
        assert [s["tag"] for s in host.call("stats")["saves"]] == ["s3", "s0"]
        host.call("save", e, tag="s4", seq=3, keep=["s3"], proof="s3cret")
        assert [s["tag"] for s in host.call("stats")["saves"]] == ["s4", "s3"]
    finally:
        host.close()


def test_release_keeps_the_named_saves_and_the_base_for_the_owner_only(tmp_path):
    host = WorkerHost(str(tmp_path / "w"))
    try:
        e = host.call("configure", spec=SPEC, lineage="A", secret="s3cret")["epoch"]
        for seq in range(4):
            host.call("save", e, tag=f"s{seq}", seq=seq, keep=[f"s{i}" for i in range(seq)], proof="s3cret")
        assert tags(host) == ["s3", "s2", "s1", "s0"]
        host.call("release", keep=["s1", "s2"], proof="guess")   # not the owner: nothing goes
        assert tags(host) == ["s3", "s2", "s1", "s0"]
        host.call("release", keep=["s1"], proof="s3cret")        # s3 is the state's base: it stays
        assert tags(host) == ["s3", "s1"]
    finally:
        host.close()


def tags(host):
    return [s["tag"] for s in host.call("stats")["saves"]]


def test_no_other_caller_can_evict_the_owners_saves(tmp_path):
    """Saves without the lineage owner's secret (no token needed to try, or a stolen token)
    evict nothing: with no keep, with a keep naming only their own save, after loading the
    owner's save, or from a lineage of their own; the secret is never sent back."""
    host = WorkerHost(str(tmp_path / "w"))
    try:
        e = host.call("configure", spec=SPEC, lineage="A", secret="s3cret")["epoch"]
        host.call("save", e, tag="committed", seq=0, proof="s3cret")
        for i, kw in enumerate([{}, {"keep": ["x1"]}, {"keep": ["x2"], "proof": "guess"}, {"keep": []}]):
            host.call("save", e, tag=f"x{i}", seq=0, **kw)
        e = host.call("load", tag="committed")["epoch"]  # an attacker may load it...
        host.call("save", e, tag="x9", seq=0, keep=["x9"])  # ...and save: still nothing evicted
        assert "committed" in tags(host) and len(tags(host)) == 6
        st = host.call("stats")
        assert "s3cret" not in repr(st) and "secret" not in st["position"]
        e = host.call("configure", spec=SPEC, lineage="B", secret="mine")["epoch"]
        host.call("save", e, tag="b0", seq=0, keep=["b0"], proof="mine")
        assert "committed" in tags(host)  # another lineage's saves are never touched
    finally:
        host.close()
    again = WorkerHost(str(tmp_path / "w"))  # a restart keeps the secret with the save
    try:
        e = again.call("load", tag="committed")["epoch"]
        again.call("save", e, tag="next", seq=0, keep=["committed"], proof="s3cret")
        assert set(tags(again)) == {"next", "committed", "b0"}
    finally:
        again.close()


def test_failed_checkpoints_never_evict_the_committed_save(tmp_path, monkeypatch):
    x, q, keys = dataset(n=600)
    procs = [WorkerProcess(tmp_path / f"w{i}") for i in range(2)]
    try:
        factory = factory_from_config({"workers": {"transport": "grpc", "addresses": [p.address for p in procs]}})
        cfg = IndexConfig(dim=32, S=2, workers=2, inner=InnerParams(kind="exact"))
        ix = build(tmp_path / "idx", cfg, x[:500], keys[:500], factory)  # ends with a committed save
        committed = {p.data_dir: max(os.listdir(os.path.join(p.data_dir, "saves"))) for p in procs}  # newest
        real = snapshot_module.commit

        def crash_before_current(root, seq, write):  # the workers save, then the coordinator "dies"
            os.makedirs(tmp_path / f"lost-{seq}")
            write(str(tmp_path / f"lost-{seq}"))
            raise OSError("simulated crash before CURRENT switched")

        monkeypatch.setattr(snapshot_module, "commit", crash_before_current)
        for r in range(3):  # more failed checkpoints than the old "newest 2" rule survived
            ix.insert(keys[500 + 30 * r: 530 + 30 * r], x[500 + 30 * r: 530 + 30 * r])
            with pytest.raises(OSError, match="simulated crash"):
                ix.save()
        monkeypatch.setattr(snapshot_module, "commit", real)
        ix.close(save=False)
        ix = Index.open(str(tmp_path / "idx"), worker_factory=factory)  # committed snapshot + WAL
        try:
            got, _ = ix.search(x[5:590], 1)  # build() removed the first 5
            assert list(got[:, 0]) == keys[5:590]  # every acknowledged write is there
            ix.save()  # and a checkpoint now succeeds, evicting what nobody names
        finally:
            ix.close(save=False)
        for p in procs:  # the saves the two committed snapshots name (the new one and the reopened
            saves = sorted(os.listdir(os.path.join(p.data_dir, "saves")))  # one); no failed ones
            assert len(saves) == 2 and committed[p.data_dir] in saves, saves
    finally:
        for p in procs:
            p.stop()
