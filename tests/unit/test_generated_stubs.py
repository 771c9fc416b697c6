"""The committed protobuf stubs are exactly what `python scripts/genproto.py` generates."""

from __future__ import annotations

import pathlib
import subprocess
import sys

ROOT = pathlib.Path(__file__).resolve().parents[2]


def test_generated_stubs_match_the_proto_files(tmp_path: pathlib.Path) -> None:
    subprocess.run([sys.executable, str(ROOT / "scripts" / "genproto.py"), str(tmp_path)], check=True)
    generated = sorted(p.relative_to(tmp_path) for p in (tmp_path / "tessera" / "v1").iterdir())
    committed = sorted(p.relative_to(ROOT) for p in (ROOT / "tessera" / "v1").iterdir() if p.suffix in (".py", ".pyi"))
    assert generated == committed, "stub files differ: run `python scripts/genproto.py`"
    stale = [str(p) for p in generated if (tmp_path / p).read_bytes() != (ROOT / p).read_bytes()]
    assert not stale, f"stale stubs {stale}: run `python scripts/genproto.py`"
