"""`sanny serve` configuration: the [index] table creates an index, flags override it, a
mismatched existing index and a missing one are clear errors, and a [workers] table goes to
sanny.workers.transports.factory_from_config (a clear error when that module is absent)."""
from __future__ import annotations

import argparse
import sys
import types

import pytest

from sanny.engine import InvalidArgument, cli
from sanny.engine.api import serve_cli
from sanny.workers import LocalWorker

from service_fixtures import make_index


def args(tmp_path, **kw):
    base = dict(index=str(tmp_path / "idx"), create=True, dim=None, S=None, metric=None, inner=None)
    return argparse.Namespace(**{**base, **kw})


def write(tmp_path, text: str) -> str:
    p = tmp_path / "sanny.toml"
    p.write_text(text)
    return str(p)


def test_index_table_creates_and_flags_override(tmp_path):
    cfg = serve_cli.load_config(write(tmp_path, '[index]\ndim = 12\nS = 3\nmetric = "ip"\n'
                                                '[index.inner]\nkind = "exact"\n'))
    ix = serve_cli.open_index(args(tmp_path, metric="cosine"), cfg, None)
    try:
        assert (ix.config.dim, ix.config.S, ix.config.metric, ix.config.inner.kind) == (12, 3, "cosine", "exact")
    finally:
        ix.close()
    ix = serve_cli.open_index(args(tmp_path, create=False), {}, None)  # reopens what exists
    ix.close()


def test_existing_index_with_other_dim_is_an_error(tmp_path):
    make_index(tmp_path / "idx", dim=8).close()
    with pytest.raises(InvalidArgument) as e:
        serve_cli.open_index(args(tmp_path, dim=16), {}, None)
    assert e.value.field == "dim" and "dim=8" in str(e.value)


def test_missing_index_is_a_clear_cli_error(tmp_path, capsys):
    assert cli.main(["serve", "--index", str(tmp_path / "none"), "--listen", "127.0.0.1:0"]) == 2
    assert "does not exist" in capsys.readouterr().err
    assert cli.main(["serve", "--index", str(tmp_path / "new"), "--create", "--listen", "127.0.0.1:0"]) == 2
    assert "--create needs --dim" in capsys.readouterr().err


def test_workers_table_with_unknown_transport_is_a_clear_error(tmp_path):
    cfg = serve_cli.load_config(write(tmp_path, '[workers]\ntransport = "pigeon"\n'))
    with pytest.raises(InvalidArgument) as e:
        serve_cli.worker_factory(cfg)
    assert e.value.field == "workers.transport" and "pigeon" in str(e.value)


def test_workers_table_goes_to_factory_from_config(tmp_path, monkeypatch):
    seen = []

    def factory_from_config(cfg):
        seen.append(cfg)
        return lambda spec, site: LocalWorker(spec, site.workdir)
    fake = types.ModuleType("sanny.workers.transports")
    fake.factory_from_config = factory_from_config
    monkeypatch.setitem(sys.modules, "sanny.workers.transports", fake)
    import sanny.workers
    monkeypatch.setattr(sanny.workers, "transports", fake, raising=False)
    cfg = serve_cli.load_config(write(tmp_path, '[workers]\nkind = "grpc"\naddresses = ["127.0.0.1:1"]\n'))
    factory = serve_cli.worker_factory(cfg)
    assert seen == [cfg] and callable(factory)
    assert serve_cli.worker_factory({}) is None  # no [workers]: embedded


def test_bad_toml_names_the_config(tmp_path):
    with pytest.raises(InvalidArgument) as e:
        serve_cli.load_config(write(tmp_path, "[server\n"))
    assert e.value.field == "config"


def test_server_paths_are_relative_to_the_config_file(tmp_path):
    conf = tmp_path / "conf" / "s.toml"
    conf.parent.mkdir()
    conf.write_text('[server]\ntoken_file = "tok.txt"\ntls_cert = "/abs/c.pem"\n')
    cfg = serve_cli.load_config(str(conf))
    assert cfg["server"]["token_file"] == str(conf.parent / "tok.txt")
    assert cfg["server"]["tls_cert"] == "/abs/c.pem"
