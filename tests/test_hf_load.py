"""A built dataset loads with Hugging Face `datasets`, every config of its card: the default, one per language
(F* and F# included: `F*` is no valid config name, and `data/F*/` would glob `F#/` too), the manifest and the
Jupyter outputs; and the card's loading snippets run as written. Offline, with a private cache."""

from __future__ import annotations

import importlib
import re
import shutil
from collections import Counter
from pathlib import Path

import nbformat
import pyarrow.parquet as pq
import pytest
import yaml
from gitrepos import JSON_SRC, git, init
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook, new_output

from stack_v2.archive.import_git import import_git
from stack_v2.cli import main
from stack_v2.io.card_configs import config_name, language_of_config

# Small real programs: a functional queue in F* (with a lemma), a word count in F#.
FSTAR_SRC = """module Queue

open FStar.List.Tot

(* A functional queue: a front list and a reversed back list. *)
noeq type queue (a:Type) = {
  front: list a;
  back: list a;
}

let empty (#a:Type) : queue a = { front = []; back = [] }

let size (#a:Type) (q:queue a) : nat = length q.front + length q.back

let push (#a:Type) (x:a) (q:queue a) : queue a = { q with back = x :: q.back }

val pop: #a:Type -> q:queue a{size q > 0} -> a & queue a
let pop #a q =
  match q.front with
  | x :: rest -> x, { q with front = rest }
  | [] ->
    let f = rev q.back in
    rev_length q.back;
    (hd f, { front = tl f; back = [] })

let rec sum (l:list int) : int =
  match l with
  | [] -> 0
  | x :: xs -> x + sum xs

let lemma_push_size (#a:Type) (x:a) (q:queue a)
  : Lemma (size (push x q) == size q + 1)
  = ()
"""
FSHARP_SRC = """module Program

open System

/// A word count over standard input, with the most frequent words first.
type Counts = Map<string, int>

let tokenize (line: string) : string list =
    line.Split([| ' '; '\t'; ','; '.'; ';'; ':' |], StringSplitOptions.RemoveEmptyEntries)
    |> Array.map (fun w -> w.ToLowerInvariant())
    |> List.ofArray

let add (counts: Counts) (word: string) : Counts =
    match Map.tryFind word counts with
    | Some n -> Map.add word (n + 1) counts
    | None -> Map.add word 1 counts

let rec readLines () =
    seq {
        match Console.ReadLine() with
        | null -> ()
        | line ->
            yield line
            yield! readLines ()
    }

[<EntryPoint>]
let main argv =
    let top = if argv.Length > 0 then int argv.[0] else 10
    readLines ()
    |> Seq.collect tokenize
    |> Seq.fold add Map.empty
    |> Map.toList
    |> List.sortByDescending snd
    |> List.truncate top
    |> List.iter (fun (word, n) -> printfn "%6d %s" n word)
    0
"""
RECIPE = """\
name: hf-load
stages:
  - stage: select_repositories
  - stage: exact_dedup
  - stage: fetch_decode
  - stage: language
  - stage: notebooks
    structured: true
  - stage: malware
"""
PYTHON_KERNEL = {
    "kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"},
    "language_info": {"name": "python", "file_extension": ".py"},
}
R_KERNEL = {
    "kernelspec": {"display_name": "R", "language": "R", "name": "ir"},
    "language_info": {"name": "R", "file_extension": ".r"},
}


@pytest.fixture(scope="module")
def datasets_offline(tmp_path_factory):
    """`datasets` imported with the Hub off and its caches in a temporary directory."""
    home = tmp_path_factory.mktemp("hf-home")
    patch = pytest.MonkeyPatch()
    for name, value in (
        ("HF_DATASETS_OFFLINE", "1"),
        ("HF_HUB_OFFLINE", "1"),
        ("HF_HOME", str(home)),
        ("HF_DATASETS_CACHE", str(home / "datasets")),
    ):
        patch.setenv(name, value)
    datasets = pytest.importorskip("datasets")
    importlib.reload(datasets.config)  # it reads the environment when first imported
    yield datasets
    patch.undo()


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    root = tmp_path_factory.mktemp("hf-load")
    repo = init(root / "mixed")
    (repo / "fstar").mkdir()
    (repo / "fstar" / "Queue.fst").write_text(FSTAR_SRC)
    (repo / "fsharp").mkdir()
    (repo / "fsharp" / "Program.fs").write_text(FSHARP_SRC)
    (repo / "json").mkdir()
    for name in ("__init__.py", "decoder.py", "encoder.py", "scanner.py"):
        shutil.copy(JSON_SRC / name, repo / "json" / name)
    (repo / "notebooks").mkdir()
    (repo / "notebooks" / "json.ipynb").write_text(
        nbformat.writes(
            new_notebook(
                metadata=PYTHON_KERNEL,
                cells=[
                    new_markdown_cell("# Round-trip a document through `json`"),
                    new_code_cell(
                        "import json\ndoc = {'a': [1, 2.5, None]}\nprint(json.dumps(doc, sort_keys=True))",
                        outputs=[new_output("stream", name="stdout", text='{"a": [1, 2.5, null]}\n')],
                    ),
                ],
            )
        )
    )
    (repo / "notebooks" / "lm.ipynb").write_text(
        nbformat.writes(
            new_notebook(
                metadata=R_KERNEL,
                cells=[
                    new_markdown_cell("# Linear model on `mtcars`"),
                    new_code_cell("data(mtcars)\nfit <- lm(mpg ~ wt + hp, data = mtcars)\nsummary(fit)$r.squared"),
                ],
            )
        )
    )
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "mixed languages", date="2023-04-05T06:07:08+0000")
    archive = root / "archive"
    import_git([str(repo)], str(archive))
    recipe = root / "recipe.yaml"
    recipe.write_text(RECIPE)
    out = root / "dataset"
    assert main(["build", "--archive", str(archive), "--output", str(out), "--pipeline", str(recipe), "--quiet"]) == 0
    return out, archive


def card_configs(dataset: Path) -> list[dict]:
    text = (dataset / "README.md").read_text()
    return yaml.safe_load(text[4 : text.index("\n---\n", 4)])["configs"]


def manifest_languages(dataset: Path) -> Counter:
    return Counter(pq.read_table(dataset / "manifest", columns=["language"]).column("language").to_pylist())


def test_config_names_are_valid_and_reversible(datasets_offline):
    from datasets.builder import BuilderConfig

    names = [
        "F*",
        "F#",
        "C#",
        "C++",
        "Objective-C++",
        "Common Lisp",
        "Ren'Py",
        "Graphviz (DOT)",
        "Python",
        "Visual Basic .NET",
        "a-sharp",
        "a-x41-",
        "x_y",
        "default",
        "-",
        "--star",
    ]
    configs = {n: config_name(n) for n in names}
    assert configs["F*"] == "F-star" and configs["F#"] == "F-sharp" and configs["C++"] == "C-plus-plus"
    assert configs["Python"] == "Python" and configs["Common Lisp"] == "Common_Lisp"
    assert len(set(configs.values())) == len(names) and configs["default"] != "default"
    for name, config in configs.items():
        assert language_of_config(config) == name
        BuilderConfig(name=config)  # raises InvalidConfigName on a character `datasets` refuses


def test_every_config_loads_with_datasets(built, datasets_offline, tmp_path):
    dataset, _ = built
    load = datasets_offline.load_dataset
    per_language = manifest_languages(dataset)
    assert {"F*", "F#", "Python"} <= set(per_language)  # go-enry's names: the directories data/F*/ and data/F#/
    assert (dataset / "data" / "F*").is_dir() and (dataset / "data" / "F#").is_dir()
    configs = {c["config_name"]: c for c in card_configs(dataset)}
    assert {"default", "F-star", "F-sharp", "manifest", "jupyter-scripts", "jupyter-structured"} <= set(configs)
    assert set(datasets_offline.get_dataset_config_names(str(dataset))) == set(configs)
    cache = str(tmp_path / "cache")
    rows = load(str(dataset), split="train", cache_dir=cache)  # no name: the default config
    assert rows.num_rows == sum(per_language.values()) and "content" in rows.column_names
    for language, n in per_language.items():
        one = load(str(dataset), config_name(language), split="train", cache_dir=cache)
        assert Counter(one["language"]) == {language: n}, language  # F*'s glob does not take F#'s files
    assert load(str(dataset), "manifest", split="train", cache_dir=cache).num_rows == sum(per_language.values())
    report = yaml.safe_load((dataset / "report.json").read_text())
    scripts = load(str(dataset), "jupyter-scripts", split="train", cache_dir=cache)
    assert Counter(scripts["language"]) == report["notebooks"]["scripts"] == {"Python": 1, "R": 1}
    structured = load(str(dataset), "jupyter-structured", split="train", cache_dir=cache)
    assert structured.num_rows == report["notebooks"]["structured"]["all"] == 1


def test_the_cards_loading_snippets_run(built, datasets_offline, monkeypatch):
    dataset, archive = built
    text = (dataset / "README.md").read_text()
    loading = text[text.index("\n## Loading\n") : text.index("\n## Configs\n")]
    rows_snippet, manifest_snippet = re.findall(r"```python\n(.*?)```", loading, re.S)
    monkeypatch.chdir(dataset)  # DATASET is the working directory: run beside the card, as the card says
    scope: dict = {}
    exec(compile(rows_snippet, "card-snippet", "exec"), scope)
    per_language = manifest_languages(dataset)
    assert scope["rows"].num_rows == sum(per_language.values())
    assert scope["one"].num_rows == max(per_language.values())  # the snippet's example is the largest language
    assert f"CONTENT = {str(archive / 'content')!r}" in manifest_snippet
    scope = {}
    exec(compile(manifest_snippet, "card-snippet", "exec"), scope)
    data = pq.read_table(dataset / "data", columns=["blob_id", "content"]).to_pylist()
    assert scope["text"] == {r["blob_id"]: r["content"] for r in data}[scope["row"]["blob_id"]]


def test_card_states_fields_versions_stages_off_and_terms(built):
    dataset, _ = built
    text = (dataset / "README.md").read_text()
    report = yaml.safe_load((dataset / "report.json").read_text())
    assert "| config | language | files |" in text and "| `F-star` | `F*` | `data/F[*]/*.parquet` |" in text
    assert "| `content` | `string` |" in text and "| `visit_date` | `timestamp[ns]` |" in text
    from importlib.metadata import version

    for tool in ("apache-beam", "scancode-toolkit", "enry-python", "detect-secrets"):
        assert f"| {tool} | `{version(tool)}` |" in text
    stages_off = text[text.index("\n## Stages left out\n") : text.index("\n## Terms of use\n")]
    assert "`malware` (in the recipe, not run)" in stages_off and "database" in stages_off
    assert [st["stage"] for st in report["stages"] if st["stage"] == "malware"] == []  # the build left it out
    assert "https://www.softwareheritage.org/legal/bulk-access-terms-of-use/" in text
