"""The README's demo: real standard-library code, imported, listed and fetched, deterministically."""

from __future__ import annotations

import json

from stack_v2.cli import main


def test_demo_imports_lists_and_verifies_real_code(tmp_path, capsys):
    workdir = tmp_path / "demo"
    assert main(["demo", "--workdir", str(workdir)]) == 0
    err = capsys.readouterr().err
    assert "problems" in err and "blobs verified" in err
    lines = [json.loads(line) for line in (workdir / "files.jsonl").read_text().splitlines()]
    origins = {line["origin"] for line in lines}
    assert origins == {f"https://github.com/local/py-{name}" for name in ("json", "email", "http", "xmlrpc", "urllib")}
    assert any(line["path"] == "mime/text.py" for line in lines if line["origin"].endswith("py-email"))
    # A second run adds nothing and lists the same files with the same ids.
    first = (workdir / "files.jsonl").read_bytes()
    assert main(["demo", "--workdir", str(workdir)]) == 0
    assert "nothing new" in capsys.readouterr().err
    assert (workdir / "files.jsonl").read_bytes() == first
