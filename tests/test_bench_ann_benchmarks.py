"""The ann-benchmarks module driven the way their harness drives it: config.yml expanded into
constructor calls (``@metric`` + one arg-group dict), ``fit``, per query-argument tuple
``set_query_arguments(*args)``, single ``query`` and ``batch_query`` + ``get_batch_results``,
``done``. ann-benchmarks itself is not installed here (no network); the module falls back to a
``BaseANN`` stand-in with the same methods."""
from __future__ import annotations

import importlib
import itertools
import os

import numpy as np
import pytest
import yaml

import sanny.bench
from sanny.bench import synthetic
from sanny.bench.datasets import load
from sanny.bench.metrics import recall

CONFIG = os.path.join(os.path.dirname(sanny.bench.__file__), "ann_benchmarks_config.yml")


def definitions(point_type="float", metric="euclidean"):
    """(module, constructor, args, [query args]) per instance, as their definitions.py expands."""
    with open(CONFIG) as f:
        cfg = yaml.safe_load(f)
    for algo in cfg[point_type]["any"]:
        assert not algo["disabled"]
        for group in algo["run_groups"].values():
            base = [metric if a == "@metric" else a for a in algo["base_args"]]
            queries = list(itertools.product(*group["query_args"]))
            for arg in group["arg_groups"]:
                yield algo["module"], algo["constructor"], base + [arg], queries


@pytest.fixture(scope="module")
def ds(tmp_path_factory):
    path = str(tmp_path_factory.mktemp("ab") / "ab-64-euclidean.hdf5")
    synthetic.write(path, 2000, 64, queries=30, seed=2, k=20)
    return load(path)


def test_config_expands_to_instances():
    defs = list(definitions())
    assert len(defs) == 3 and all(m == "sanny.bench.ann_benchmarks_module" for m, *_ in defs)
    assert all(len(q) in (3, 8) for *_, q in defs)


def test_harness_loop(ds):
    module, ctor, args, queries = next(definitions())
    algo = getattr(importlib.import_module(module), ctor)(*args)
    mem0 = algo.get_memory_usage()
    algo.fit(ds.train)
    assert algo.get_memory_usage() > 0 and mem0 > 0
    seen = set()
    try:
        for qa in queries:
            algo.set_query_arguments(*qa)
            seen.add(str(algo))
            single = [algo.query(v, 10) for v in ds.test]
            algo.batch_query(ds.test, 10)
            batch = algo.get_batch_results()
            assert len(batch) == len(ds.test) and all(len(r) == 10 for r in batch)
            assert all(np.array_equal(a, b) for a, b in zip(single, batch))
        assert recall(ds, np.array(batch)) > 0.9      # the last setting is the most thorough
        assert len(seen) == len(queries)              # __str__ names every query setting
    finally:
        algo.done()


def test_angular_and_bad_metric():
    mod = importlib.import_module("sanny.bench.ann_benchmarks_module")
    with pytest.raises(ValueError, match="metric"):
        mod.Sanny("hamming", {"S": 1})
    X = np.random.default_rng(0).standard_normal((500, 16)).astype(np.float32) * 5
    a = mod.Sanny("angular", {"S": 1})
    a.fit(X)
    a.set_query_arguments(20, 0.1)
    assert a.query(X[7] * 3, 1)[0] == 7
    a.done()
