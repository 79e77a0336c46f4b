"""WorkerHost, the server half of every remote worker: epoch guard, saves with their log seq,
reload of the newest save on start, per-index garbage collection of old saves."""
from __future__ import annotations

import numpy as np
import pytest

from sanny.workers import InnerParams, WorkerSpec
from sanny.workers.host import StaleState, WorkerHost

SPEC = WorkerSpec([0, 1], [3, 3], "l2", InnerParams(kind="exact")).to_dict()


def rows(n, seed=0):
    return np.random.default_rng(seed).normal(size=(n, 6)).astype(np.float32)


@pytest.fixture
def host(tmp_path):
    h = WorkerHost(str(tmp_path / "data"))
    yield h
    h.close()


def test_calls_need_the_current_epoch(host):
    with pytest.raises(StaleState, match="not configured"):
        host.call("search", None, queries=rows(1), T=3)
    pos = host.call("configure", spec=SPEC, lineage="L1")
    assert pos["configured"] and pos["lineage"] == "L1" and pos["applied_seq"] == 0
    with pytest.raises(StaleState, match="epoch"):
        host.call("insert", "not-the-epoch", seq=1, ids=np.arange(4), slices=rows(4))
    assert host.call("stats")["stats"]["count"] == 0  # nothing was applied
    host.call("insert", pos["epoch"], seq=1, ids=np.arange(4), slices=rows(4))
    ids, _ = host.call("search", pos["epoch"], queries=rows(4), T=1)
    assert ids.shape == (2, 4, 1) and (ids[:, :, 0] == np.arange(4)).all()


def test_restart_reloads_newest_save_with_its_seq(tmp_path):
    h = WorkerHost(str(tmp_path / "data"))
    e = h.call("configure", spec=SPEC, lineage="L1")["epoch"]
    h.call("insert", e, seq=1, ids=np.arange(10), slices=rows(10))
    h.call("save", e, tag="t1", seq=1)
    h.call("insert", e, seq=2, ids=np.arange(10, 20), slices=rows(10, 1))  # not saved
    h.close()  # the process dies

    h = WorkerHost(str(tmp_path / "data"))
    try:
        st = h.call("stats")
        pos = st["position"]
        assert (pos["lineage"], pos["applied_seq"], pos["base_tag"]) == ("L1", 1, "t1")
        assert pos["epoch"] != e  # a new incarnation: callers must catch it up first
        assert st["stats"]["count"] == 10
        with pytest.raises(StaleState):
            h.call("search", e, queries=rows(1), T=1)
    finally:
        h.close()


def test_one_host_per_data_dir(host):
    with pytest.raises(RuntimeError, match="in use"):
        WorkerHost(host.data_dir)


def test_save_keeps_two_per_index_and_never_rewinds(host):
    e = host.call("configure", spec=SPEC, lineage="A")["epoch"]
    host.call("save", e, tag="a1", seq=0)
    e = host.call("configure", spec=SPEC, lineage="B", secret="b-secret")["epoch"]
    for seq in (1, 2, 3):
        host.call("insert", e, seq=seq, ids=np.array([seq]), slices=rows(1, seq))
        host.call("save", e, tag=f"b{seq}", seq=seq, proof="b-secret")  # the owner evicts
    assert [(s["tag"], s["lineage"]) for s in host.call("stats")["saves"]] == [("b3", "B"), ("b2", "B"), ("a1", "A")]
    with pytest.raises(StaleState, match="already includes seq 3"):
        host.call("save", e, tag="old", seq=2)
    with pytest.raises(ValueError, match="tag"):
        host.call("save", e, tag="../escape", seq=3)


def test_load_checks_tag_and_subspaces(host):
    e = host.call("configure", spec=SPEC, lineage="A")["epoch"]
    host.call("insert", e, seq=1, ids=np.arange(3), slices=rows(3))
    host.call("save", e, tag="a1", seq=1)
    with pytest.raises(FileNotFoundError, match="no save 'nope'"):
        host.call("load", tag="nope")
    other = dict(SPEC, subspaces=[2, 3])
    with pytest.raises(ValueError, match="expected"):
        host.call("load", tag="a1", spec=other)
    pos = host.call("load", tag="a1", spec=SPEC)
    assert (pos["applied_seq"], pos["lineage"]) == (1, "A") and pos["epoch"] != e
