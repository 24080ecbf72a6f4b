"""stack_v2.swhids: the manifest's SWHIDs are swh.model's, on awkward origins and paths too."""

from __future__ import annotations

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from swh.model.exceptions import ValidationError
from swh.model.swhids import CoreSWHID, ObjectType, QualifiedSWHID

from stack_v2.io.rows import repo_row
from stack_v2.manifest_swhid import _check_swhid_row, canonical_swhid
from stack_v2.optout import parse_lines
from stack_v2.regenerate import _FindOptedOut
from stack_v2.swhids import parse_swhid, render_file_swhid, swhid_origin

CNT, SNP, REV, DIR = "1" * 40, "2" * 40, "3" * 40, "4" * 40

ORIGINS = [
    "https://github.com/owner/repo",
    "https://h/a%b;c",  # the old hand-written extraction returned 'https://h/a%25b%3Bc'
    "https://h/already%3Bescaped%25",  # percent signs are data, not escapes
    "https://h/<angle>/x?q=1&r=2#frag",
    "https://h/café/naïve",
    "git@h:owner/repo.git",
    ";;%%;",
]
PATHS = [b"/src/main.py", b"/a;b/c%d e.txt", b"/docs/caf\xe9 v1;2.txt", b"/%25;%3B/<x>", b"/ leading and trailing "]
CONTEXTS = [(SNP, REV, DIR), (None, REV, DIR), (SNP, None, DIR), (None, None, DIR)]


def swh_model_swhid(origin, snapshot_id, revision_id, directory_id, path) -> QualifiedSWHID:
    """The same file SWHID built with swh.model's classes alone."""
    if revision_id:
        anchor = CoreSWHID(object_type=ObjectType.REVISION, object_id=bytes.fromhex(revision_id))
    else:
        anchor = CoreSWHID(object_type=ObjectType.DIRECTORY, object_id=bytes.fromhex(directory_id))
    visit = CoreSWHID(object_type=ObjectType.SNAPSHOT, object_id=bytes.fromhex(snapshot_id)) if snapshot_id else None
    return QualifiedSWHID(
        object_type=ObjectType.CONTENT,
        object_id=bytes.fromhex(CNT),
        origin=origin,
        visit=visit,
        anchor=anchor,
        path=path,
    )


@pytest.mark.parametrize("origin", ORIGINS)
@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize("context", CONTEXTS)
def test_render_is_swh_model_and_parse_inverts_it(origin, path, context):
    snapshot_id, revision_id, directory_id = context
    text = render_file_swhid(CNT, origin, snapshot_id, revision_id, directory_id, path)
    expected = swh_model_swhid(origin, snapshot_id, revision_id, directory_id, path)
    assert text == str(expected)
    parsed = parse_swhid(text)
    assert parsed == expected == QualifiedSWHID.from_string(text)
    assert (parsed.origin, parsed.path, parsed.object_id.hex()) == (origin, path, CNT)
    assert (parsed.visit.object_id.hex() if parsed.visit else None) == snapshot_id
    assert parsed.anchor.object_id.hex() == (revision_id or directory_id)
    assert swhid_origin(text) == origin


def test_escaping_follows_swh_model():
    text = render_file_swhid(CNT, "https://h/a%b;c<d>", None, REV, DIR, b"/x;y%z w.py")
    # origin: only '%' and ';' are escaped; path: URL-quoted, '/' kept
    assert text == f"swh:1:cnt:{CNT};origin=https://h/a%25b%3Bc<d>;anchor=swh:1:rev:{REV};path=/x%3By%25z%20w.py"


def test_ordinary_values_render_as_before():
    """The manifest of an ordinary repository: the exact text builds wrote before stack_v2.swhids."""
    text = render_file_swhid(CNT, "https://github.com/local/py-email", SNP, REV, DIR, b"/contentmanager.py")
    assert text == (
        f"swh:1:cnt:{CNT};origin=https://github.com/local/py-email;visit=swh:1:snp:{SNP}"
        f";anchor=swh:1:rev:{REV};path=/contentmanager.py"
    )


def test_content_ids_swh_model_would_reject_are_rejected():
    with pytest.raises(ValidationError):
        render_file_swhid("ab" * 19, "https://h/x", None, REV, DIR, b"/x")
    with pytest.raises(ValueError):
        render_file_swhid("zz" * 20, "https://h/x", None, REV, DIR, b"/x")
    # upper-case hex is normalised as swh.model does
    assert render_file_swhid("AB" * 20, "https://h/x", None, REV, DIR, b"/x").startswith("swh:1:cnt:" + "ab" * 20)


def test_swhid_origin_unescapes_like_swh_model():
    """The old hand-written extraction returned the escaped text 'https://h/a%25b%3Bc'."""
    text = f"swh:1:cnt:{CNT};origin=https://h/a%25b%3Bc;anchor=swh:1:dir:{DIR};path=/x"
    assert swhid_origin(text) == QualifiedSWHID.from_string(text).origin == "https://h/a%b;c"
    row = {"repo_name": "a%b;c", "path": "x", "swhid": text}
    assert repo_row([row])["repo_url"] == "https://h/a%b;c"


def test_swhid_origin_without_an_origin():
    assert swhid_origin(None) is None
    assert swhid_origin("") is None
    assert swhid_origin(f"swh:1:cnt:{CNT};path=/x") is None
    assert swhid_origin("swh:1:cnt:not-hex;origin=x") is None
    with pytest.raises(ValidationError):
        parse_swhid("swh:1:cnt:not-hex;origin=x")


def test_whitespace_in_an_origin_does_not_round_trip():
    """swh.model does not escape whitespace in origins, and its grammar has none: the limit is swh.model's."""
    text = render_file_swhid(CNT, "https://h/a b", None, REV, DIR, b"/x")
    assert text == str(swh_model_swhid("https://h/a b", None, REV, DIR, b"/x"))
    with pytest.raises(ValidationError):
        parse_swhid(text)


def test_manifest_check_reads_escaped_origins():
    row = {
        "content_id": CNT,
        "directory_id": DIR,
        "revision_id": REV,
        "snapshot_id": SNP,
        "repo_name": "a%b;c",
        "path": "x;y.py",
    }
    row["swhid"] = canonical_swhid(CNT, "https://h/a%b;c", SNP, REV, DIR, "x;y.py")
    assert row["swhid"] == str(swh_model_swhid("https://h/a%b;c", SNP, REV, DIR, b"/x;y.py"))
    for exhaustive in (False, True):
        assert _check_swhid_row(row, exhaustive=exhaustive) == ("https://h/a%b;c", [])
    # a plain origin takes the fast path, with the same verdict
    plain_swhid = canonical_swhid(CNT, "https://github.com/o/r", SNP, REV, DIR, "x;y.py")
    plain = {**row, "repo_name": "o/r", "swhid": plain_swhid}
    assert _check_swhid_row(plain) == _check_swhid_row(plain, exhaustive=True) == ("https://github.com/o/r", [])


def test_regenerate_matches_each_repository_once(tmp_path):
    (tmp_path / "manifest").mkdir()
    rows = [
        ("acme/tool", render_file_swhid(CNT, "https://github.com/acme/tool", SNP, REV, DIR, b"/a.py")),
        ("acme/tool", render_file_swhid("5" * 40, "https://github.com/acme/tool", SNP, REV, DIR, b"/b;c.py")),
        ("acme/x;y", render_file_swhid(CNT, "https://gitlab.com/acme/x;y", None, None, DIR, b"/a.py")),
    ]
    table = pa.table({"repo_name": [r for r, _ in rows], "swhid": [s for _, s in rows]})
    pq.write_table(table, tmp_path / "manifest" / "part-0.parquet")
    requests = parse_lines(['{"owner": "acme", "repos": "all", "received": "2023-11-20"}'])
    find = _FindOptedOut(str(tmp_path), requests)
    find.setup()
    # the GitLab origin (parsed, ';' and all) is another forge's: never covered by a GitHub owner's request
    assert list(find.process("manifest/part-0.parquet")) == [("acme/tool", 0)]
