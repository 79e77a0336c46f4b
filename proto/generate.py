"""Regenerate the Python stubs from proto/sanny/v1/*.proto (run: python proto/generate.py).

Generated with ``-I proto`` so the stubs import as ``sanny.v1.*`` (never a top-level ``proto``
package, which proto-plus owns). The stubs are checked in; tests/test_proto_stubs.py fails if
regenerating would change them.
"""
from __future__ import annotations

import glob
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))


def generate(out_dir: str = HERE) -> list[str]:
    from grpc_tools import protoc
    import grpc_tools

    sources = sorted(glob.glob(os.path.join(HERE, "sanny", "v1", "*.proto")))
    if not sources:
        return []
    include = os.path.join(os.path.dirname(grpc_tools.__file__), "_proto")
    args = ["protoc", f"-I{HERE}", f"-I{include}", f"--python_out={out_dir}", f"--pyi_out={out_dir}",
            f"--grpc_python_out={out_dir}"] + [os.path.relpath(s, HERE) for s in sources]
    cwd = os.getcwd()
    os.chdir(HERE)
    try:
        if protoc.main(args) != 0:
            raise SystemExit("protoc failed")
    finally:
        os.chdir(cwd)
    return sources


if __name__ == "__main__":
    done = generate(sys.argv[1] if len(sys.argv) > 1 else HERE)
    print(f"generated stubs for {len(done)} proto files")
