"""The opt-out parser fails closed: a key given twice in a JSON object, a line over the stated size limit and
JSON nested beyond what the parser can read are each one error naming the file and the line."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from stack_v2.cli import main
from stack_v2.optout import OptOutFormatError, load_requests, parse_lines
from stack_v2.optout.requests import MAX_LINE_BYTES

FORMAT_DOC = Path(__file__).resolve().parents[1] / "manifests" / "OPTOUT_FORMAT.md"
GOOD = '{"owner": "octocat", "repos": "all", "received": "2023-11-20"}'


def write(path: Path, *lines: str | bytes) -> Path:
    path.write_bytes(b"".join((line if isinstance(line, bytes) else line.encode()) + b"\n" for line in lines))
    return path


def problems_of(path: Path) -> list[str]:
    with pytest.raises(OptOutFormatError) as raised:
        load_requests(path)
    assert all("\n" not in p for p in raised.value.problems)
    return raised.value.problems


@pytest.mark.parametrize(
    ("line", "key"),
    [
        ('{"owner": "octocat", "owner": "hubot", "repos": "all", "received": "2023-11-20"}', "owner"),
        ('{"owner": "octocat", "repos": ["a"], "received": "2023-11-20", "repos": "all"}', "repos"),
        (
            '{"owner": "octocat", "repos": "all", "received": "2023-11-20", "contact": {"via": "form", "via": "mail"}}',
            "via",
        ),
        ('{"owner": "octocat", "repos": "all", "received": "2023-11-20", "a\\nb": 1, "a\\nb": 2}', "a\\nb"),
    ],
)
def test_a_key_given_twice_is_refused_naming_file_line_and_key(tmp_path, line, key):
    f = write(tmp_path / "optouts.jsonl", GOOD, line)
    assert problems_of(f) == [f'{f} line 2: key "{key}" appears twice in one object']


def test_lines_over_the_size_limit_are_refused_without_echoing_them(tmp_path):
    def padded(total: int, char: str = "x") -> str:
        """A valid request whose line is ``total`` bytes of UTF-8, padded with ``char`` in a note."""
        base = '{"owner": "octocat", "repos": "all", "received": "2023-11-20", "note": ""}'
        room = total - len(base.encode())
        return base[:-2] + char * (room // len(char.encode())) + '"}'

    assert MAX_LINE_BYTES == 64 * 1024 and "at most **64 KiB** (65,536 bytes" in FORMAT_DOC.read_text()
    at_limit = padded(MAX_LINE_BYTES, "é")  # bytes are counted, not characters
    assert len(at_limit.encode()) == MAX_LINE_BYTES
    [request] = load_requests(write(tmp_path / "ok.jsonl", at_limit))
    assert set(request.extra["note"]) == {"é"} and len(request.extra["note"]) > MAX_LINE_BYTES // 2 - 50

    over = padded(MAX_LINE_BYTES + 2, "é")
    assert len(over) < MAX_LINE_BYTES  # fewer characters than the limit, more bytes
    not_utf8 = b'{"owner": "octocat", "note": "' + b"\xe9" * MAX_LINE_BYTES + b'"}'
    f = write(tmp_path / "long.jsonl", GOOD, over, GOOD, not_utf8, padded(10 * MAX_LINE_BYTES))
    limit = "longer than the limit of 65,536 bytes (64 KiB) per request"
    assert problems_of(f) == [f"{f} line {n}: {limit}" for n in (2, 4, 5)]
    assert len(str(OptOutFormatError(problems_of(f)))) < 200  # the line itself is not in the message
    with pytest.raises(OptOutFormatError) as raised:
        parse_lines([over])
    assert str(raised.value) == f"<optouts> line 1: {limit}"


def test_json_nested_too_deeply_is_one_error(tmp_path):
    note = "[" * 20_000 + "]" * 20_000
    deep = '{"owner": "octocat", "repos": "all", "received": "2023-11-20", "note": ' + note + "}"
    assert len(deep) < MAX_LINE_BYTES
    f = write(tmp_path / "deep.jsonl", GOOD, deep)
    assert problems_of(f) == [f"{f} line 2: not valid JSON: nested too deeply"]


def test_the_command_stops_with_one_line_and_nothing_applied(tmp_path, capsys):
    f = write(
        tmp_path / "optouts.jsonl",
        GOOD,
        json.dumps({"owner": "hubot", "repos": "all"})[:-1] + ', "received": "2023-11-20", "owner": "octocat"}',
    )
    code = main(
        [
            "manifest",
            "regenerate",
            "--dataset",
            str(tmp_path / "dataset"),
            "--output",
            str(tmp_path / "out"),
            "--optouts",
            str(f),
        ]
    )
    assert code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [f'stack-v2: error: {f} line 2: key "owner" appears twice in one object']
    assert not (tmp_path / "out").exists()
