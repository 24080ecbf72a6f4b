"""Opt-out requests (format, validation, matching) and `manifest check` on copies of a real build's output."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from gitrepos import make_library_repo, make_sample_repo
from swh.model.swhids import QualifiedSWHID

from stack_v2.archive.import_git import import_git
from stack_v2.cli import main as cli_main
from stack_v2.errors import StackV2Error
from stack_v2.io.rows import path_bytes
from stack_v2.manifest_check import check, check_dataset
from stack_v2.manifest_check import main as check_main
from stack_v2.manifest_swhid import canonical_swhid
from stack_v2.optout import (
    OptOutFormatError,
    OptOutMatcher,
    load_requests,
    normalized_repo_key,
    parse_lines,
    repo_key_expr,
)

FORMAT_DOC = Path(__file__).resolve().parents[1] / "manifests" / "OPTOUT_FORMAT.md"


def write_lines(path: Path, *lines) -> Path:
    path.write_text("".join((line if isinstance(line, str) else json.dumps(line)) + "\n" for line in lines))
    return path


# --- requests -----------------------------------------------------------------------------------------------


def test_good_requests_keep_extra_fields(tmp_path):
    f = write_lines(
        tmp_path / "optouts.jsonl",
        {"owner": "octocat", "repos": "all", "received": "2023-11-20"},
        "",
        {
            "owner": "Hubot",
            "repos": ["hello-world", "Spoon-Knife", "hello-world"],
            "received": "2023-11-02",
            "ticket": "AIMS-1234",
            "contact": {"via": "form"},
        },
    )
    first, second = load_requests(f)
    assert (first.owner, first.repos, first.received.isoformat(), first.line) == ("octocat", "all", "2023-11-20", 1)
    assert first.all_repos and first.extra == {}
    assert second.repos == ("hello-world", "Spoon-Knife") and second.line == 3
    assert second.repo_keys() == {"hubot/hello-world", "hubot/spoon-knife"}
    assert second.to_audit_dict() == {
        "owner": "Hubot",
        "repos": ["hello-world", "Spoon-Knife"],
        "received": "2023-11-02",
        "ticket": "AIMS-1234",
        "contact": {"via": "form"},
    }
    assert str(f) in second.describe() and "line 3" in second.describe()


def test_documented_examples_are_valid():
    text = FORMAT_DOC.read_text()
    block = text.split("```jsonl\n", 1)[1].split("```", 1)[0]
    requests = parse_lines(block.splitlines(), source="OPTOUT_FORMAT.md")
    assert [r.owner for r in requests] == ["octocat", "Hubot"] and requests[1].extra


GOOD = {"owner": "octocat", "repos": ["hello-world"], "received": "2023-11-20"}


@pytest.mark.parametrize(
    "line, field, words",
    [
        ('{"owner": "octocat", "repos": "all"', None, "not valid JSON"),
        ('["octocat", "all"]', None, "expected a JSON object"),
        ({"repos": "all", "received": "2023-11-20"}, "owner", "missing"),
        ({**GOOD, "owner": 12}, "owner", "got a number"),
        ({**GOOD, "owner": "https://github.com/octocat"}, "owner", "is not a GitHub user"),
        ({**GOOD, "owner": ""}, "owner", "is not a GitHub user"),
        ({"owner": "octocat", "received": "2023-11-20"}, "repos", "missing"),
        ({**GOOD, "repos": 3}, "repos", 'expected "all" or a list of repository names'),
        ({**GOOD, "repos": "hello-world"}, "repos", 'expected "all" or a list of repository names'),
        ({**GOOD, "repos": "ALL"}, "repos", "lower case"),
        ({**GOOD, "repos": []}, "repos", "empty list"),
        ({**GOOD, "repos": ["ok", 5]}, "repos", "item 2"),
        ({**GOOD, "repos": ["octocat/hello-world"]}, "repos", "without the owner"),
        ({**GOOD, "repos": ["hello world"]}, "repos", "not a GitHub repository name"),
        ({**GOOD, "repos": ["hello-world.git"]}, "repos", '".git"'),
        ({"owner": "octocat", "repos": "all"}, "received", "missing"),
        ({**GOOD, "received": "20/11/2023"}, "received", 'ISO date "YYYY-MM-DD"'),
        ({**GOOD, "received": "2023-02-30"}, "received", 'ISO date "YYYY-MM-DD"'),
        ({**GOOD, "received": 20231120}, "received", "got a number"),
    ],
)
def test_malformed_line_names_line_and_field(tmp_path, line, field, words):
    f = write_lines(tmp_path / "optouts.jsonl", GOOD, {**GOOD, "owner": "hubot"}, line)
    with pytest.raises(OptOutFormatError) as exc:
        load_requests(f)
    message = str(exc.value)
    assert isinstance(exc.value, StackV2Error) and "\n" not in message
    assert message.startswith(f"{f} line 3: ")
    if field:
        assert f'field "{field}"' in message
    assert words in message


def test_every_malformed_line_is_listed_and_nothing_is_returned(tmp_path):
    f = write_lines(tmp_path / "optouts.jsonl", GOOD, {**GOOD, "repos": 1}, GOOD, {**GOOD, "received": None})
    with pytest.raises(OptOutFormatError) as exc:
        load_requests(f)
    assert [p.split(":")[0] for p in exc.value.problems] == [f"{f} line 2", f"{f} line 4"]
    assert "(and 1 more problem)" in str(exc.value)
    with pytest.raises(OptOutFormatError, match="cannot read"):
        load_requests(tmp_path / "missing.jsonl")
    (tmp_path / "latin1.jsonl").write_bytes(b'{"owner": "caf\xe9", "repos": "all", "received": "2023-11-20"}\n')
    with pytest.raises(OptOutFormatError, match="line 1: not UTF-8"):
        load_requests(tmp_path / "latin1.jsonl")


# --- matching -----------------------------------------------------------------------------------------------

FORMS = [
    "https://github.com/Octocat/Hello-World",
    "http://github.com/octocat/hello-world",
    "https://www.github.com/octocat/hello-world",
    "https://github.com/octocat/hello-world.git",
    "https://github.com/octocat/hello-world/",
    "git://github.com/OCTOCAT/hello-world.git",
    "ssh://git@github.com/octocat/hello-world.git",
    "git@github.com:octocat/Hello-World.git",
    "HTTPS://WWW.GITHUB.COM/Octocat/Hello-World.git/",
    "octocat/HELLO-WORLD",
]
NOT_GITHUB = [
    "https://gitlab.com/octocat/hello-world",
    "gitlab.com/octocat/hello-world",
    "https://github.com/octocat",
    "https://github.com/octocat/hello-world/tree/main",
    "hello-world",
    None,
    "",
]


def test_normalized_repo_key_and_its_polars_twin():
    assert {normalized_repo_key(f) for f in FORMS} == {"octocat/hello-world"}
    assert all(normalized_repo_key(f) is None for f in NOT_GITHUB)
    values = FORMS + NOT_GITHUB + ["foo/hello.world.git", "a/..", "o/r.git.git"]
    keys = pl.DataFrame({"x": values}).select(repo_key_expr(pl.col("x")))["x"].to_list()
    assert keys == [normalized_repo_key(v) for v in values]


def test_matcher_url_forms_and_case():
    requests = parse_lines(
        [
            json.dumps(GOOD),
            json.dumps({"owner": "Hubot", "repos": "all", "received": "2023-11-21"}),
            json.dumps({"owner": "OCTOCAT", "repos": "all", "received": "2023-11-22"}),
        ]
    )
    matcher = OptOutMatcher(requests[:2])
    for form in FORMS:
        assert matcher.matches(None, form) is requests[0], form
        assert matcher.matches(form) is requests[0], form
    assert matcher.matches("octocat/hello-world-2") is None  # a list names exact repositories
    assert matcher.matches("octocat/hello-world", "https://gitlab.com/octocat/hello-world") is None
    assert matcher.matches("hubot/anything", "https://github.com/HUBOT/anything.git") is requests[1]
    assert matcher.matches("HuBot/x") is requests[1] and matcher.matches("hubots/x") is None
    assert matcher.matches(None, None) is None
    both = OptOutMatcher([requests[2], requests[0]])
    assert both.matches("octocat/hello-world") is requests[0]  # first in file order
    df = pl.DataFrame({"origin": FORMS + ["https://github.com/hubot/x", "https://github.com/octocat/other"]})
    hit = df.select(matcher.polars_expr(repo_key_expr(pl.col("origin"))))["origin"].to_list()
    assert hit == [True] * len(FORMS) + [True, False]


# --- manifest check -----------------------------------------------------------------------------------------


RECIPE = """\
name: optout-check-test
stages:
  - stage: select_repositories
  - stage: exact_dedup
  - stage: fetch_decode
  - stage: language
output:
  target_shard_bytes: 60000
  manifest_rows_per_shard: 20
"""


@pytest.fixture(scope="session")
def built_dataset(tmp_path_factory) -> Path:
    """A real build (once per session): two real git repositories, one with a non-UTF-8 file name, imported
    into a local archive; several data shards per language and two manifest shards."""
    root = tmp_path_factory.mktemp("optout-check")
    repos = [make_library_repo(root), make_sample_repo(root)]
    import_git([str(r) for r in repos], str(root / "archive"))
    (root / "recipe.yaml").write_text(RECIPE)
    out = root / "dataset"
    assert (
        cli_main(
            [
                "build",
                "--archive",
                str(root / "archive"),
                "--output",
                str(out),
                "--pipeline",
                str(root / "recipe.yaml"),
                "--quiet",
            ]
        )
        == 0
    )
    return out


@pytest.fixture
def dataset(built_dataset, tmp_path) -> Path:
    copy = tmp_path / "dataset"
    shutil.copytree(built_dataset, copy, symlinks=True)
    return copy


def edit(path: Path, change) -> None:
    """Rewrite one Parquet shard: ``change`` gets the rows (dicts) and returns the new rows."""
    table = pq.read_table(path)
    rows = change(table.to_pylist())
    pq.write_table(pa.Table.from_pylist(rows, schema=table.schema), path)


def manifest_shard(dataset: Path) -> Path:
    return sorted((dataset / "manifest").glob("*.parquet"))[0]


def data_shard(dataset: Path, language: str = "Python") -> Path:
    return sorted((dataset / "data" / language).glob("*.parquet"))[0]


def kinds(result) -> dict:
    return dict(result.counts)


def test_real_output_passes(built_dataset):
    result = check(built_dataset)
    assert result.ok, result.lines()
    assert check(built_dataset, exhaustive=True).ok  # every SWHID through swh.model's parser
    # The fast path's canonical form is swh.model's, for every real row (non-UTF-8 path included).
    for row in pq.read_table(built_dataset / "manifest").to_pylist():
        q = QualifiedSWHID.from_string(row["swhid"])
        assert (
            canonical_swhid(
                row["content_id"], q.origin, row["snapshot_id"], row["revision_id"], row["directory_id"], row["path"]
            )
            == row["swhid"]
            == str(q)
        )
    assert result.manifest_rows == result.data_rows > 30 and result.files > 4
    assert check_dataset(built_dataset, optouts=[]) == []


def test_edited_swhids_are_reported(dataset):
    shard = manifest_shard(dataset)
    original = pq.read_table(shard).to_pylist()

    def plant(rows):
        rows[0]["swhid"] = rows[0]["swhid"].replace(f"path=/{rows[0]['path']}", f"path=/{rows[1]['path']}")
        rows[1]["swhid"] = rows[1]["swhid"].replace("swh:1:cnt:" + rows[1]["content_id"], "swh:1:cnt:" + "0" * 40)
        rows[2]["swhid"] = "swh:1:cnt:not-hex;origin=x"
        rows[3]["swhid"] = rows[3]["swhid"].replace(
            f"origin=https://github.com/{rows[3]['repo_name']}", "origin=https://github.com/someone/else"
        )
        rows[4]["swhid"] = rows[4]["swhid"].replace(";anchor=swh:1:rev:", ";anchor=swh:1:dir:")
        rows[5]["swhid"] = rows[5]["swhid"].split(";visit=")[0] + ";anchor=" + rows[5]["swhid"].split(";anchor=")[1]
        return rows

    edit(shard, plant)
    result = check(dataset)
    assert kinds(result) == {"swhid": 6}
    lines = check_dataset(dataset)
    assert check_dataset(dataset, exhaustive=True) == lines
    name = f"manifest/{shard.name}"
    assert any(
        line.startswith(f"swhid: {name} row 0: swhid path qualifier is b'/{original[1]['path']}'") for line in lines
    )
    assert any(line.startswith(f"swhid: {name} row 1: swhid core id is swh:1:cnt:{'0' * 40}") for line in lines)
    assert any(line.startswith(f"swhid: {name} row 2:") and "does not parse" in line for line in lines)
    assert any(line.startswith(f"swhid: {name} row 3:") and "someone/else" in line for line in lines)
    assert any(line.startswith(f"swhid: {name} row 4: swhid anchor") for line in lines)
    assert any(line.startswith(f"swhid: {name} row 5: swhid visit is null") for line in lines)


def test_escaped_non_utf8_path_is_compared_as_bytes(dataset):
    """The sample repository's Latin-1 file name is kept as docs/caf\\xe9.txt; its SWHID holds the raw byte."""
    (row,) = [r for r in pq.read_table(dataset / "manifest").to_pylist() if r["path"] == "docs/caf\\xe9.txt"]
    assert row["swhid"].endswith(";path=/docs/caf%E9.txt")  # and the real output passes (above)
    assert QualifiedSWHID.from_string(row["swhid"]).path == b"/" + path_bytes(row["path"]) == b"/docs/caf\xe9.txt"
    # A SWHID over the escape's text (a backslash, 'x', 'e', '9') is not the file's.
    for shard in (dataset / "manifest").glob("*.parquet"):
        edit(shard, lambda rows: [{**r, "swhid": r["swhid"].replace("caf%E9", "caf%5Cxe9")} for r in rows])
    result = check(dataset)
    assert kinds(result) == {"swhid": 1}
    assert (
        "swhid path qualifier is b'/docs/caf\\\\xe9.txt', the path column gives b'/docs/caf\\xe9.txt'"
        in result.lines()[0]
    )


def test_repeated_blob_ids_are_reported(dataset):
    edit(manifest_shard(dataset), lambda rows: rows + [dict(rows[7])])
    result = check(dataset)
    assert kinds(result) == {"duplicate_blob_id": 1}
    (line,) = result.lines()
    shard = f"manifest/{manifest_shard(dataset).name}"
    n = pq.read_metadata(manifest_shard(dataset)).num_rows - 1  # the appended copy
    assert line.startswith(f"duplicate_blob_id: {shard} row 7: blob_id ") and f"also {shard} row {n}" in line
    edit(data_shard(dataset), lambda rows: rows + [dict(rows[0])])
    assert kinds(check(dataset)) == {"duplicate_blob_id": 2}


def test_deleted_data_row_and_extra_manifest_row_are_reported(dataset):
    deleted = {}

    def delete(rows):
        deleted.update(rows.pop(3))
        return rows

    edit(data_shard(dataset), delete)
    result = check(dataset)
    assert kinds(result) == {"manifest_not_in_data": 1}
    assert f"blob_id={deleted['blob_id']!r}, repo_name={deleted['repo_name']!r}" in result.lines()[0]

    def add(rows):
        extra = dict(rows[0])
        extra["blob_id"] = hashlib.sha1(b"not in data").hexdigest()
        return rows + [extra]

    edit(manifest_shard(dataset), add)
    lines = check_dataset(dataset)
    assert len(lines) == 2 and all(line.startswith("manifest_not_in_data: manifest/") for line in lines)
    assert any(hashlib.sha1(b"not in data").hexdigest() in line for line in lines)


def test_data_row_not_in_manifest_and_column_mismatch(dataset):
    for shard in (dataset / "manifest").glob("*.parquet"):
        edit(shard, lambda rows: [r for r in rows if r["path"] != "README.md"])
    edit(data_shard(dataset), lambda rows: [{**rows[0], "license_type": "non_permissive"}, *rows[1:]])
    result = check(dataset)
    assert kinds(result) == {"data_not_in_manifest": 1, "mismatch": 1}
    missing, mismatch = result.lines()
    assert missing.startswith(
        f"data_not_in_manifest: data/Markdown/{data_shard(dataset, 'Markdown').name} row 0: "
        "no manifest row has blob_id="
    )
    assert mismatch.startswith(
        f"mismatch: data/Python/{data_shard(dataset).name} row 0: license_type is 'non_permissive', manifest/"
    )


def test_ids_schema_and_language_directory(dataset):
    edit(data_shard(dataset, "Python"), lambda rows: [{**r, "snapshot_id": "abc"} for r in rows])
    shutil.move(str(data_shard(dataset, "Markdown")), str(dataset / "data" / "Text" / "train-99999-of-99999.parquet"))
    shard = sorted((dataset / "data" / "Python").glob("*.parquet"))[-1]
    pq.write_table(pq.read_table(shard).drop_columns(["extension"]), shard)
    result = check(dataset)
    n_bad = pq.read_table(data_shard(dataset, "Python")).num_rows
    n_md = pq.read_table(dataset / "data" / "Text" / "train-99999-of-99999.parquet").num_rows
    assert kinds(result) == {"ids": n_bad, "mismatch": n_bad, "language_dir": n_md, "schema": 1}
    assert any("missing columns extension" in line for line in result.lines())
    assert any("language 'Markdown' does not belong in data/Text/" in line for line in result.lines())


def test_opted_out_repository_left_in_output(dataset, tmp_path):
    manifest = pq.read_table(dataset / "manifest").to_pylist()
    n_json = sum(r["repo_name"] == "local/jsonlib" for r in manifest)
    optouts = write_lines(
        tmp_path / "optouts.jsonl",
        {"owner": "someone", "repos": "all", "received": "2023-11-20"},
        {"owner": "LOCAL", "repos": ["JsonLib", "not-built"], "received": "2023-11-20", "id": 7},
    )
    result = check(dataset, optouts=optouts)
    assert kinds(result) == {"opted_out": 2 * n_json}  # each row in the manifest and in data/
    assert all("repository local/jsonlib" in line and f"{optouts} line 2" in line for line in result.lines())
    assert any(
        line.startswith("opted_out: manifest/") and "(origin https://github.com/local/jsonlib)" in line
        for line in result.lines()
    )
    # An owner-wide request; the listing is capped per kind.
    everyone = write_lines(tmp_path / "all.jsonl", {"owner": "Local", "repos": "all", "received": "2023-11-20"})
    lines = check_dataset(dataset, optouts=everyone, limit=5)
    assert len(lines) == 6 and lines[-1] == f"opted_out: ... and {2 * len(manifest) - 5} more"
    # Requests naming no repository of the dataset find nothing.
    nobody = write_lines(
        tmp_path / "nobody.jsonl",
        {"owner": "local", "repos": ["jsonlib-2"], "received": "2023-11-20"},
        {"owner": "someone", "repos": "all", "received": "2023-11-20"},
    )
    assert check_dataset(dataset, optouts=nobody) == []


def test_command_exit_codes(dataset, tmp_path, capsys):
    assert check_main(["--dataset", str(dataset)]) == 0
    assert "manifest check: ok" in capsys.readouterr().err
    edit(data_shard(dataset), lambda rows: rows[1:])
    assert check_main(["--dataset", str(dataset)]) == 1
    captured = capsys.readouterr()
    assert captured.out.startswith("manifest_not_in_data: manifest/") and "1 violations" in captured.err
    bad = write_lines(tmp_path / "bad.jsonl", {"owner": "x", "repos": "some", "received": "2023-11-20"})
    good = write_lines(tmp_path / "good.jsonl", {"owner": "local", "repos": ["jsonlib"], "received": "2023-11-20"})
    assert check_main(["--dataset", str(dataset), "--optouts", str(good), "--optouts", str(bad)]) == 2
    assert f'{bad} line 1: field "repos"' in capsys.readouterr().err
    assert check_main(["--dataset", str(tmp_path / "nope")]) == 2
    shutil.rmtree((dataset / "manifest").resolve())
    assert check_main(["--dataset", str(dataset)]) == 1
    assert "schema: manifest/: missing" in capsys.readouterr().out
