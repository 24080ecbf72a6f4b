"""A strict command line: mistakes are one line, exit 2, and leave nothing behind."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from stack_v2.cli import main

HERE = Path(__file__).resolve().parent


def run(capsys, *argv: str) -> tuple[int, str]:
    code = main(list(argv))
    return code, capsys.readouterr().err.strip()


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--pipline", "demo"], "unknown option --pipline (did you mean --pipeline?)"),
        (["--orgin=https://github.com/a/b"], "unknown option --orgin (did you mean --origin?)"),
        (["--runner", "NoSuchRunner"], "--runner NoSuchRunner: no such runner (known: "),
        (["--runner", "DirectRuner"], "--runner DirectRuner: no such runner (did you mean DirectRunner?"),
        (["--direct_num_worker=2"], "unknown option --direct_num_worker (did you mean --direct_num_workers?)"),
    ],
)
def test_build_mistakes_are_one_line_and_write_nothing(tmp_path, capsys, extra, message):
    out = tmp_path / "out"
    code, err = run(capsys, "build", "--archive", str(HERE), "--output", str(out), *extra)
    assert code == 2 and len(err.splitlines()) == 1 and err.startswith("stack-v2: error: ") and message in err, err
    assert not out.exists()  # no lock, no run directory, no run.json


def test_a_missing_archive_or_an_unwritable_output_is_named(tmp_path, capsys):
    out = tmp_path / "out"
    code, err = run(capsys, "build", "--archive", str(tmp_path / "nonexistent"), "--output", str(out))
    assert code == 2 and err.endswith(f"--archive {tmp_path / 'nonexistent'}: no such directory")
    assert not out.exists()
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory\n")
    code, err = run(capsys, "build", "--archive", str(HERE), "--output", str(blocker / "out"))
    assert code == 2 and str(blocker / "out") in err.splitlines()[-1] and "Traceback" not in err


def test_commands_without_a_pipeline_take_no_extra_options(tmp_path, capsys):
    code, err = run(capsys, "manifest", "check", "--dataset", str(tmp_path), "--optots", "x.jsonl")
    assert code == 2 and "unknown option --optots (did you mean --optouts?)" in err
    code, err = run(capsys, "finish", str(tmp_path), "--runner", "DirectRunner")
    assert code == 2 and "unknown option --runner" in err


def test_help_is_plain_text_and_build_help_names_beam_options(capsys):
    with pytest.raises(SystemExit):
        main(["--help"])
    top = capsys.readouterr().out
    assert "``" not in top and "Software Heritage" in top
    with pytest.raises(SystemExit):
        main(["build", "--help"])
    assert "Apache Beam pipeline options" in " ".join(capsys.readouterr().out.split())


def test_verbose_keeps_beam_quiet_unless_asked_twice(tmp_path, capsys):
    beam = logging.getLogger("apache_beam")
    saved = beam.level
    try:
        main(["-v", "finish", str(tmp_path)])
        assert beam.getEffectiveLevel() == logging.WARNING
        main(["-vv", "finish", str(tmp_path)])
        assert beam.getEffectiveLevel() == logging.INFO
    finally:
        beam.setLevel(saved)
        capsys.readouterr()
