"""factory_from_config: the [workers] table picks the transport and maps subspace groups to
workers; mistakes are InvalidArgument naming the key. `sanny worker` is a CLI subcommand."""
from __future__ import annotations

import pytest

from sanny.engine import InvalidArgument
from sanny.engine.cli import parser
from sanny.workers import InnerParams, LocalWorker, WorkerSpec
from sanny.workers.grpc_client import GrpcWorker
from sanny.workers import WorkerSite
from sanny.workers.transports import factory_from_config, worker_count

SPEC = WorkerSpec([2, 3], [4, 4], "l2", InnerParams(kind="exact"))


def test_embedded_by_default(tmp_path):
    for cfg in ({}, {"workers": {"transport": "embedded"}}):
        w = factory_from_config(cfg)(SPEC, site(tmp_path, 1))
        assert isinstance(w, LocalWorker)
        w.close()


def test_grpc_groups_pick_the_address(tmp_path):
    cfg = {"workers": {"transport": "grpc", "addresses": ["127.0.0.1:7001", "127.0.0.1:7002"],
                       "groups": [[0, 1], [2, 3]], "timeout": 3}}
    assert worker_count(cfg) == 2
    w = factory_from_config(cfg)(SPEC, site(tmp_path, 9))
    try:
        assert isinstance(w, GrpcWorker) and w.address == "127.0.0.1:7002" and w.timeout == 3.0
    finally:
        w.close()


def test_grpc_without_groups_follows_the_worker_number(tmp_path):
    cfg = {"workers": {"transport": "grpc", "addresses": ["127.0.0.1:7001", "127.0.0.1:7002"]}}
    w = factory_from_config(cfg)(SPEC, site(tmp_path, 1))
    assert w.address == "127.0.0.1:7002"
    w.close()
    with pytest.raises(InvalidArgument, match="more than 2 subspace groups.*at least 3 addresses, the table lists 2"):
        factory_from_config(cfg)(SPEC, site(tmp_path, 2))


@pytest.mark.parametrize("table,field", [
    ({"transport": "carrier-pigeon"}, "workers.transport"),
    ({"transport": "grpc"}, "workers.addresses"),
    ({"transport": "grpc", "addresses": ["a:1"], "groups": [[0], [1]]}, "workers.groups"),
])
def test_bad_tables_name_the_key(table, field):
    with pytest.raises(InvalidArgument) as e:
        factory_from_config({"workers": table})
    assert e.value.field == field


def test_unknown_group_is_reported(tmp_path):
    cfg = {"workers": {"transport": "grpc", "addresses": ["a:1", "b:2"], "groups": [[0, 1, 2], [3]]}}
    with pytest.raises(InvalidArgument, match=r"no configured worker holds subspaces \[2, 3\]"):
        factory_from_config(cfg)(SPEC, site(tmp_path, 1))


def test_worker_subcommand_is_registered():
    args = parser().parse_args(["worker", "--listen", "127.0.0.1:0", "--data-dir", "d"])
    assert args.listen == "127.0.0.1:0" and args.data_dir == "d" and callable(args.fn)


def site(tmp_path, rank: int) -> WorkerSite:
    """Worker ``rank`` of an index under tmp_path (the rank is given, never parsed from the folder)."""
    return WorkerSite(rank, str(tmp_path / "work" / f"worker-{rank}"))
