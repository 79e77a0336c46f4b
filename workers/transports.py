"""Pick the worker transport from configuration: embedded, gRPC worker processes or Ray actors.

``factory_from_config(cfg)`` turns the ``[workers]`` table of a config file (as a dict) into
the ``worker_factory(spec, site)`` that ``Index.create`` / ``Index.open`` take (``site``: a
:class:`~sanny.workers.base.WorkerSite`: the worker's rank, scratch folder and the
coordinator's log)::

    [workers]                       # gRPC: one `sanny worker` process per address
    transport = "grpc"
    addresses = ["127.0.0.1:7001", "127.0.0.1:7002"]
    groups = [[0, 1], [2, 3]]       # optional: subspaces per address (default: the index's
                                    # own grouping, worker i -> addresses[i])
    timeout = 30                    # s, searches and small calls (a caller's deadline may cut it)
    slow_timeout = 600              # s, inserts, builds, saves, loads
    tls_ca = "ca.crt"               # optional TLS; with tls_cert + tls_key: mutual TLS

    [workers]                       # Ray: one actor per worker group
    transport = "ray"
    address = "auto"                # join a running cluster (`ray start --head`); omit: start one here
    num_cpus = 1                    # reserved per actor
    max_restarts = -1               # -1: restart forever (state reloaded from the actor's saves)
    data_dir = "/var/lib/sanny"     # node-local folder for the actors' saves (default: inside the index)
    shards = 2                      # a grid, as for grpc; with replicas > 1 each cell's replicas go to
    replicas = 2                    #   different nodes (a STRICT_SPREAD placement group per cell)
    nodes = ["10.0.0.2", ...]       # optional: pin each actor to a node by IP, laid out like grpc's
                                    #   addresses (shard, group, replica)

    [workers]                       # a grid: R row shards x groups x F replicas (see engine/grid.py)
    transport = "grpc"
    shards = 2                      # R: must equal the index's `shards` (fixed at creation)
    replicas = 2                    # F: each cell on F workers; searches fail over between them
    failover_after = 2              # s, bound on one replica's answer before trying the next
    addresses = [...]               # R * groups * F addresses, in the order shard, group, replica:
                                    # address[(r * groups + g) * F + f]

``transport = "embedded"`` (or no table) keeps the in-process workers. The index must have as
many worker groups as the config lists (``IndexConfig.workers = worker_count(cfg)``).
"""
from __future__ import annotations

import os

from .errors import InvalidArgument

from .base import WorkerSite, WorkerSpec
from .local import local_factory

TRANSPORTS = ("embedded", "grpc", "ray")
_TIMEOUTS = ("timeout", "slow_timeout", "connect_grace")


def _table(cfg: dict | None) -> dict:
    w = (cfg or {}).get("workers") or {}
    if not isinstance(w, dict):
        raise InvalidArgument("workers", f"must be a table, got {type(w).__name__}")
    return w


def _int(w: dict, name: str) -> int:
    v = w.get(name, 1)
    if not isinstance(v, int) or isinstance(v, bool) or v < 1:
        raise InvalidArgument(f"workers.{name}", f"must be a positive integer, got {v!r}")
    return v


def worker_count(cfg: dict | None) -> int | None:
    """How many worker groups the config provides (None: embedded, or Ray without groups)."""
    w = _table(cfg)
    if w.get("transport", "embedded") == "grpc":
        return len(w.get("addresses") or []) // (_int(w, "shards") * _int(w, "replicas"))
    return len(w["groups"]) if w.get("groups") else None


def _grid(factory, w: dict):
    """Tag ``factory`` with the grid it lays out (read by ``sanny.engine.grid.column``)."""
    factory.shards, factory.replicas = _int(w, "shards"), _int(w, "replicas")
    factory.cell_options = {k: float(w[k]) for k in ("failover_after", "probe_every") if k in w}
    return factory


def _slot(w: dict, spec: WorkerSpec, rank: int, n: int) -> int:
    """Which configured worker holds ``spec``'s subspaces."""
    groups = w.get("groups")
    if groups:
        for i, g in enumerate(groups):
            if [int(s) for s in g] == list(spec.subspaces):
                if i >= n:
                    break
                return i
        raise InvalidArgument("workers.groups", f"no configured worker holds subspaces {list(spec.subspaces)} "
                                                f"(groups {groups}); the index's grouping must match")
    i = rank
    if i >= n:
        raise InvalidArgument("workers", f"the index needs more than the {n} configured workers "
                                         "(set the index's workers to match)")
    return i


def _timeouts(w: dict) -> dict:
    return {k: float(w[k]) for k in _TIMEOUTS if k in w}


def factory_from_config(cfg: dict | None):
    """``worker_factory(spec, site)`` for the configured transport."""
    w = _table(cfg)
    transport = w.get("transport", "embedded")
    if transport not in TRANSPORTS:
        raise InvalidArgument("workers.transport", f"must be one of {TRANSPORTS}, got {transport!r}")
    if transport == "embedded":
        return local_factory
    if transport == "grpc":
        index_groups = ((cfg or {}).get("index") or {}).get("workers")
        return _grpc_factory({**w, "_index_groups": index_groups} if isinstance(index_groups, int) else w)
    return _ray_factory(w)


def _grpc_factory(w: dict):
    from .grpc_client import GrpcWorker
    from .tls import channel_credentials, read_token

    addresses = w.get("addresses")
    if not addresses or not all(isinstance(a, str) and a for a in addresses):
        raise InvalidArgument("workers.addresses", "the grpc transport needs a list of HOST:PORT addresses")
    R, F = _int(w, "shards"), _int(w, "replicas")
    seen = {}
    for i, a in enumerate(addresses):
        if a in seen:  # two cells on one worker would overwrite each other's state
            raise InvalidArgument(f"workers.addresses[{i}]", f"{a} is listed twice (also at [{seen[a]}]): "
                                  "every (shard, group, replica) cell needs a worker of its own")
        seen[a] = i
    G = w.get("_index_groups")  # the [index] table's worker groups, when the config has one
    if G and len(addresses) != R * G * F:
        raise InvalidArgument("workers.addresses", f"{len(addresses)} addresses for {R} shards x {G} subspace "
                              f"groups x {F} replicas: need {R} x {G} x {F} = {R * G * F}")
    if len(addresses) % (R * F):
        raise InvalidArgument("workers.addresses", f"{len(addresses)} addresses do not fill {R} shards x "
                                                   f"{F} replicas (shards x groups x replicas addresses: a "
                                                   f"multiple of {R * F})")
    per = len(addresses) // (R * F)
    groups = w.get("groups")
    if groups is not None and len(groups) != per:
        raise InvalidArgument("workers.groups", f"{len(groups)} groups for {per} addresses per shard and replica")
    creds = None
    if w.get("tls_ca") or w.get("tls_cert"):
        creds = channel_credentials(w.get("tls_ca"), w.get("tls_cert"), w.get("tls_key"))
    timeouts = _timeouts(w)
    token = w.get("token") or (read_token(w["token_file"]) if w.get("token_file") else None)

    def factory(spec: WorkerSpec, site: WorkerSite):
        if not groups and site.rank >= per:
            raise InvalidArgument("workers.addresses", f"the index has more than {per} subspace groups: "
                                  f"{R} shards x {site.rank + 1}+ groups x {F} replicas need at least "
                                  f"{R * (site.rank + 1) * F} addresses, the table lists {len(addresses)}")
        g = _slot(w, spec, site.rank, per)
        address = addresses[(site.shard * per + g) * F + site.replica]
        return GrpcWorker(spec, address, creds, rank=site.rank, log=site.log, token=token, **timeouts)

    return _grid(factory, w)


def _ray_factory(w: dict):
    import ray

    from .ray_actor import RayWorker

    opts = {k: w[k] for k in ("num_cpus", "max_restarts", "max_task_retries") if k in w}
    timeouts = _timeouts(w)
    base = w.get("data_dir")

    place = _ray_placement(w, float(w.get("num_cpus", 1)))

    def factory(spec: WorkerSpec, site: WorkerSite):
        if not ray.is_initialized():
            ray.init(address=w.get("address"), include_dashboard=False)
        n = len(w["groups"]) if w.get("groups") else 1 << 30
        i = _slot(w, spec, site.rank, n)
        cell = f"{i}" if not (site.shard or site.replica) else f"{i}-r{site.shard}-f{site.replica}"
        data_dir = os.path.join(base, f"worker-{cell}") if base else os.path.join(site.workdir, "ray")
        return RayWorker(spec, data_dir, name=f"ray-worker-{cell}", rank=site.rank, log=site.log,
                         placement=place(site, i), **opts, **timeouts)

    return _grid(factory, w)


def _ray_placement(w: dict, num_cpus: float):
    """``place(site, group)`` -> Ray actor options: pinned to ``nodes[...]`` when given, else with
    replicas a bundle of the cell's STRICT_SPREAD placement group (Ray keeps replicas of a cell on
    different nodes and re-places them when a node goes), else SPREAD."""
    R, F, nodes = _int(w, "shards"), _int(w, "replicas"), w.get("nodes")
    if nodes is not None and (not isinstance(nodes, list) or not nodes or len(nodes) % (R * F)):
        raise InvalidArgument("workers.nodes", f"must list node IPs for every shard x group x replica "
                              f"(a multiple of {R * F}), got {nodes!r}")
    groups: dict = {}
    wait = float(w.get("placement_timeout", 60))

    def place(site: WorkerSite, g: int) -> dict | None:
        import ray
        from ray.util.placement_group import placement_group, remove_placement_group
        from ray.util.scheduling_strategies import PlacementGroupSchedulingStrategy

        if nodes:
            per = len(nodes) // (R * F)
            return {"resources": {f"node:{nodes[(site.shard * per + g) * F + site.replica]}": 0.001}}
        if F == 1:
            return None
        key = (site.shard, g)
        if key not in groups:
            pg = placement_group([{"CPU": num_cpus}] * F, strategy="STRICT_SPREAD", name=f"sanny-cell-{g}-{site.shard}")
            try:
                ray.get(pg.ready(), timeout=wait)
            except ray.exceptions.GetTimeoutError:
                remove_placement_group(pg)
                raise InvalidArgument("workers.replicas", f"{F} replicas per cell need {F} Ray nodes with "
                                      f"{num_cpus} free CPU each (placement not possible within {wait:g} s)") from None
            groups[key] = pg
        return {"scheduling_strategy": PlacementGroupSchedulingStrategy(groups[key], placement_group_bundle_index=site.replica)}

    return place
