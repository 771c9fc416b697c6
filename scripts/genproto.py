"""Regenerate the protobuf and gRPC stubs in tessera/v1 from proto/tessera/v1.

Usage: python scripts/genproto.py [OUT_DIR]   (default: the repository root)
"""

from __future__ import annotations

import pathlib
import sys

from grpc_tools import protoc

ROOT = pathlib.Path(__file__).resolve().parent.parent


def generate(out_dir: pathlib.Path) -> None:
    """Write tessera/v1/*_pb2*.py under out_dir; exits non-zero if protoc fails."""
    protos = sorted(str(p.relative_to(ROOT / "proto")) for p in (ROOT / "proto" / "tessera" / "v1").glob("*.proto"))
    (out_dir / "tessera" / "v1").mkdir(parents=True, exist_ok=True)
    include = pathlib.Path(protoc.__file__).parent / "_proto"
    args = ["protoc", f"-I{ROOT / 'proto'}", f"-I{include}", f"--python_out={out_dir}",
            f"--grpc_python_out={out_dir}", f"--pyi_out={out_dir}", *protos]
    if protoc.main(args) != 0:
        sys.exit("protoc failed")
    (out_dir / "tessera" / "v1" / "__init__.py").write_text('"""Generated protobuf and gRPC stubs: do not edit."""\n')


if __name__ == "__main__":
    generate(pathlib.Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT)
