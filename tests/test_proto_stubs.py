"""The checked-in sanny.v1 stubs are exactly what proto/generate.py makes from the .proto files
(so nobody edits generated code by hand or forgets to regenerate)."""
from __future__ import annotations

import filecmp
import glob
import importlib.util
import os

import pytest

pytest.importorskip("grpc_tools")

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PROTO = os.path.join(ROOT, "proto")
STUBS = os.path.join(PROTO, "sanny", "v1")
SUFFIXES = ("_pb2.py", "_pb2.pyi", "_pb2_grpc.py")


def load_generate():
    spec = importlib.util.spec_from_file_location("sanny_proto_generate", os.path.join(PROTO, "generate.py"))
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_regenerating_changes_nothing(tmp_path):
    sources = load_generate().generate(str(tmp_path))
    assert any(s.endswith("sanny.proto") for s in sources)
    fresh = sorted(os.path.relpath(p, tmp_path / "sanny" / "v1")
                   for p in glob.glob(str(tmp_path / "sanny" / "v1" / "*")))
    checked_in = sorted(f for f in os.listdir(STUBS) if f.endswith(SUFFIXES))
    assert fresh == checked_in, "stubs without a .proto, or a .proto without stubs"
    differ = [f for f in fresh if not filecmp.cmp(tmp_path / "sanny" / "v1" / f, os.path.join(STUBS, f), shallow=False)]
    assert not differ, f"run `python proto/generate.py`: {differ} are out of date"


def test_stubs_import_as_sanny_v1():
    from sanny.v1 import sanny_pb2, sanny_pb2_grpc

    assert sanny_pb2.DESCRIPTOR.package == "sanny.v1"
    assert hasattr(sanny_pb2_grpc, "SannyStub") and hasattr(sanny_pb2_grpc, "add_SannyServicer_to_server")
