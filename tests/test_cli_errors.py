"""Expected failures end in one line on stderr and exit code 2, never a traceback."""
from __future__ import annotations

import os
import socket

import numpy as np
import pytest

from cli_helpers import one_line_error, run
from sanny.engine.api.client import Client, ServiceUnavailable
from sanny.workers.errors import SannyError, WorkerUnavailable


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_bad_paths(tmp_path):
    one_line_error(run("build", tmp_path / "missing.npy", "--index", tmp_path / "ix"), "missing.npy")
    one_line_error(run("info", tmp_path / "nope"), "does not exist")
    one_line_error(run("search", tmp_path / "q.npy", "--index", tmp_path / "nope"))


def test_existing_directory_names_the_flag(tmp_path):
    np.save(tmp_path / "x.npy", np.random.default_rng(0).random((50, 8), np.float32))
    (tmp_path / "ix").mkdir()
    (tmp_path / "ix" / "keep.txt").write_text("mine")
    line = one_line_error(run("build", tmp_path / "x.npy", "--index", tmp_path / "ix"), "--overwrite")
    assert "overwrite=True" not in line
    assert (tmp_path / "ix" / "keep.txt").read_text() == "mine"


def test_client_against_a_closed_port_raises_engine_errors():
    with Client(f"127.0.0.1:{closed_port()}", timeout=5) as c:
        with pytest.raises(WorkerUnavailable) as e:
            c.insert(["a"], np.zeros((1, 4), np.float32))
        assert isinstance(e.value, ServiceUnavailable) and isinstance(e.value, SannyError)
        assert "is a server running there?" in str(e.value)
        with pytest.raises(ServiceUnavailable):
            c.search(np.zeros((1, 4), np.float32))
        with pytest.raises(ServiceUnavailable):
            c.wait_ready(timeout=0.5)


def test_register_and_search_image_without_a_server(tmp_path):
    pytest.importorskip("torch")
    from PIL import Image

    Image.fromarray(np.zeros((16, 16, 3), np.uint8)).save(tmp_path / "a.png")
    addr = f"127.0.0.1:{closed_port()}"
    common = ["--server", addr, "--model", "resnet18", "--weights", "random"]
    one_line_error(run("register", tmp_path, *common, "--no-progress"), "is a server running there?")
    one_line_error(run("search-image", tmp_path / "a.png", *common), "is a server running there?")


def serve_on_taken_port(path, *extra):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        p = run("serve", "--index", path, *extra, "--listen", f"127.0.0.1:{port}")
    one_line_error(p, str(port))


def test_serve_on_a_taken_port(tmp_path):
    """The failed --create leaves no directory behind (a retry on a free port must not find a
    half-made index)."""
    serve_on_taken_port(tmp_path / "ix", "--create", "--dim", "8", "--S", "2")
    assert not (tmp_path / "ix").exists()


def test_serve_on_a_taken_port_empties_the_empty_dir_it_was_given(tmp_path):
    (tmp_path / "ix").mkdir()
    serve_on_taken_port(tmp_path / "ix", "--create", "--dim", "8")
    assert (tmp_path / "ix").is_dir() and not list((tmp_path / "ix").iterdir())


def test_serve_on_a_taken_port_keeps_an_existing_index(tmp_path):
    from sanny.engine import Index, IndexConfig

    Index.create(str(tmp_path / "ix"), IndexConfig(dim=8)).close()
    serve_on_taken_port(tmp_path / "ix", "--create", "--dim", "8")
    with Index.open(str(tmp_path / "ix")) as ix:
        assert ix.config.dim == 8


def test_info_into_a_closed_pipe_exits_quietly(tmp_path):
    """`sanny info --json DIR | head`: the reader has gone before the output is written."""
    import subprocess

    from cli_helpers import SANNY
    from sanny.engine import Index, IndexConfig

    Index.create(str(tmp_path / "ix"), IndexConfig(dim=8)).close()
    r, w = os.pipe()
    os.close(r)  # like `head` after its lines: every write now fails with EPIPE
    try:
        p = subprocess.run([*SANNY, "info", "--json", str(tmp_path / "ix")], stdout=w,
                           stderr=subprocess.PIPE, text=True, timeout=120)
    finally:
        os.close(w)
    assert p.returncode == 0, p.stderr
    assert p.stderr == "", p.stderr
