"""``sanny worker`` is secure by default: on an address other than loopback it refuses to start
without a token or mutual TLS; ``--insecure`` starts it with a warning. (No test binds a
non-loopback address: the refusal comes before the bind, and the --insecure run stops at a
bind that is made to fail.)"""
from __future__ import annotations

import argparse
import logging

import pytest

from sanny.workers import worker_cli

from cli_helpers import run


@pytest.mark.parametrize("listen,ok", [("127.0.0.1:7001", True), ("127.5.5.5:1", True), ("localhost:1", True),
                                       ("[::1]:7001", True), ("0.0.0.0:7001", False), ("[::]:7001", False),
                                       (":7001", False), ("10.0.0.2:7001", False), ("worker-3:7001", False)])
def test_loopback(listen, ok):
    assert worker_cli.loopback(listen) is ok


def test_open_address_without_auth_is_refused(tmp_path):
    p = run("worker", "--listen", "0.0.0.0:0", "--data-dir", tmp_path / "w", timeout=60)
    assert p.returncode == 2 and "--token-file" in p.stderr and "--insecure" in p.stderr
    assert "Traceback" not in p.stderr and not (tmp_path / "w").exists()  # refused before anything


def test_insecure_warns(tmp_path, monkeypatch, caplog, capsys):
    from sanny.workers import grpc_server

    def no_bind(*a, **k):
        raise OSError("bind refused by the test")

    monkeypatch.setattr(grpc_server, "run_server", no_bind)
    parser = argparse.ArgumentParser()
    worker_cli.register(parser.add_subparsers())
    args = parser.parse_args(["worker", "--listen", "0.0.0.0:0", "--data-dir", str(tmp_path / "w"), "--insecure"])
    with caplog.at_level(logging.WARNING):
        assert args.fn(args) == 2
    assert "bind refused by the test" in capsys.readouterr().err  # got as far as the bind
    assert "without authentication" in caplog.text


def test_token_is_enough(tmp_path, monkeypatch, capsys):
    from sanny.workers import grpc_server

    monkeypatch.setattr(grpc_server, "run_server", lambda *a, **k: (_ for _ in ()).throw(OSError("no bind")))
    token = tmp_path / "t"
    token.write_text("tok")
    parser = argparse.ArgumentParser()
    worker_cli.register(parser.add_subparsers())
    args = parser.parse_args(["worker", "--listen", "0.0.0.0:0", "--data-dir", str(tmp_path / "w"),
                              "--token-file", str(token)])
    assert args.fn(args) == 2
    assert "no bind" in capsys.readouterr().err  # past the check, stopped at the (failed) bind
