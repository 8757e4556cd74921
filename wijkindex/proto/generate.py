"""Regenerate the committed protobuf/gRPC stubs from wijkindex.proto.

Run ``python -m wijkindex.proto.generate`` after editing the .proto; a test checks that
the committed stubs are current (``--check`` does the same from the command line).
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

PROTO_DIR = Path(__file__).resolve().parent
ROOT = PROTO_DIR.parents[1]
OUTPUTS = ("wijkindex_pb2.py", "wijkindex_pb2.pyi", "wijkindex_pb2_grpc.py")


def generate(out_root: Path) -> list[Path]:
    """Run protoc with the root as include path so imports read ``wijkindex.proto``."""
    from grpc_tools import protoc  # test/dev dependency only

    args = [
        "protoc",
        f"-I{ROOT}",
        f"--python_out={out_root}",
        f"--pyi_out={out_root}",
        f"--grpc_python_out={out_root}",
        str(PROTO_DIR / "wijkindex.proto"),
    ]
    if protoc.main(args) != 0:
        raise RuntimeError("protoc failed on wijkindex.proto")
    return [out_root / "wijkindex" / "proto" / name for name in OUTPUTS]


def stale_outputs() -> list[str]:
    """Names of committed stubs that differ from a fresh generation."""
    with tempfile.TemporaryDirectory() as tmp:
        fresh = generate(Path(tmp))
        return [p.name for p in fresh if p.read_bytes() != (PROTO_DIR / p.name).read_bytes()]


def main() -> int:
    if "--check" in sys.argv:
        stale = stale_outputs()
        print("stubs are current" if not stale else f"stale stubs: {', '.join(stale)}")
        return 1 if stale else 0
    generate(ROOT)
    print("regenerated " + ", ".join(OUTPUTS))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
