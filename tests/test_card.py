"""The dataset card (README.md) from a report and a recipe whose name and description are hostile: YAML,
Markdown and HTML in them stay text. The front matter parses with yaml.safe_load and gives the name back;
rendered as CommonMark, the card has no HTML, no heading, list or fence of theirs, and shows them as written."""

from __future__ import annotations

import yaml
from markdown_it import MarkdownIt

from stack_v2.io.card import PLOTS_BEGIN, PLOTS_END, embed_plots, write_card
from stack_v2.recipe import parse_recipe

NAME = "Evil <script>alert('name')</script> | \"quoted\" 'single' # not: a key ``` `tick` $x$"
DESCRIPTION = (
    """\
---
title: injected
---
# Not a heading
<script>alert("description")</script>
<img src=x onerror=alert(1)>
- not a list | not | a table |
|---|---|
1. not a list either &amp; an entity [link](javascript:alert(1))
```
not a fence
    not code
"""
    + PLOTS_BEGIN
    + "\nnot the plots\n"
    + PLOTS_END
)
ARCHIVE = "/data/arch`ive <b>"


def make_recipe(tmp_path, name: str = NAME, description: str = DESCRIPTION):
    text = yaml.safe_dump(
        {"name": name, "description": description, "stages": [{"stage": "select_repositories"}]},
        allow_unicode=True,
        sort_keys=False,
    )
    path = tmp_path / "hostile.yaml"
    path.write_text(text)
    return parse_recipe(text, str(path))


REPORT = {
    "run": {"archive": ARCHIVE, "recipe": NAME},
    "totals": {"input": {"files": 3, "bytes": 3000}, "kept": {"files": 2, "bytes": 2000}},
    "stages": [
        {
            "stage": "select_repositories",
            "input": {"files": 3, "bytes": 3000},
            "kept": {"files": 2, "bytes": 2000},
            "dropped": {"files": 1, "bytes": 1000},
            "failed": {"files": 0, "bytes": 0},
            "reasons": {"dropped": {"fork": {"files": 1, "bytes": 1000}}},
        }
    ],
    "languages": {"Python": {"files": 2, "bytes": 2000}},
}


def split_card(text: str) -> tuple[dict, str]:
    assert text.startswith("---\n")
    end = text.index("\n---\n", 4)
    return yaml.safe_load(text[4:end]), text[end + len("\n---\n") :]


def inline_text(token) -> str:
    """What an inline token shows: text, code spans and line breaks."""
    parts = []
    for child in token.children:
        if child.type in ("text", "code_inline"):
            parts.append(child.content)
        elif child.type in ("softbreak", "hardbreak"):
            parts.append("\n")
    return "".join(parts)


def blocks(body: str) -> list:
    return MarkdownIt("commonmark").parse(body)


def test_hostile_name_and_description_stay_text(tmp_path):
    recipe = make_recipe(tmp_path)
    assert (recipe.name, recipe.description) == (NAME, DESCRIPTION)  # the YAML recipe holds them as written
    write_card(str(tmp_path / "README.md"), REPORT, recipe)
    meta, body = split_card((tmp_path / "README.md").read_text())
    assert meta["pretty_name"] == NAME and meta["license"] == "other"
    # no fetch_decode, no data/: the default config is the manifest
    assert [(c["config_name"], c["data_files"]) for c in meta["configs"]] == [
        ("default", [{"split": "train", "path": "manifest/*.parquet"}])
    ]

    tokens = blocks(body)
    assert not [t for t in tokens if t.type == "html_block"]
    assert not [c for t in tokens if t.type == "inline" for c in t.children if c.type == "html_inline"]
    headings = [inline_text(tokens[i + 1]) for i, t in enumerate(tokens) if t.type == "heading_open"]
    benign = tmp_path / "benign"
    benign.mkdir()
    write_card(str(benign / "README.md"), REPORT, make_recipe(benign, "plain", "Plain words."))
    plain = blocks(split_card((benign / "README.md").read_text())[1])
    assert (
        headings
        == [" ".join(NAME.split())]
        + [inline_text(plain[i + 1]) for i, t in enumerate(plain) if t.type == "heading_open"][1:]
    )
    # The description is one paragraph per blank-line-separated block, each line shown as written (trimmed).
    paragraphs = [inline_text(tokens[i + 1]) for i, t in enumerate(tokens) if t.type == "paragraph_open"]
    assert paragraphs[0] == "\n".join(line.strip() for line in DESCRIPTION.splitlines())
    assert f"from {ARCHIVE} with the recipe {' '.join(NAME.split())}:" in paragraphs[1]
    [config] = [t for t in tokens if t.type == "fence" and t.info != "python"]  # the loading snippets aside
    assert config.info == "yaml" and config.content == recipe.text.rstrip() + "\n"
    assert len([t for t in tokens if t.type in ("bullet_list_open", "ordered_list_open")]) == len(
        [t for t in plain if t.type in ("bullet_list_open", "ordered_list_open")]
    )


def test_plots_go_in_their_place_when_the_recipe_shows_the_markers(tmp_path):
    text = f"# {PLOTS_BEGIN}\n# {PLOTS_END}\nname: plots\nstages:\n  - stage: select_repositories\n"
    recipe = parse_recipe(text, str(tmp_path / "plots.yaml"))  # the markers only in the recipe's comments
    card = tmp_path / "README.md"
    write_card(str(card), REPORT, recipe)
    embed_plots(str(card), [("report/funnel.svg", "Funnel")], "report/index.html")
    embed_plots(str(card), [("report/funnel.svg", "Funnel"), ("report/sizes.svg", "Sizes")])  # a rerun replaces it
    text = card.read_text()
    _, body = split_card(text)
    assert text.index(PLOTS_BEGIN) < text.index("\n## Files\n") < text.index(PLOTS_END, text.index("## Files"))
    [config] = [t for t in blocks(body) if t.type == "fence" and t.info != "python"]
    assert config.content == recipe.text.rstrip() + "\n"  # the recipe's own markers are left alone
    images = [c.attrs["src"] for t in blocks(body) if t.type == "inline" for c in t.children if c.type == "image"]
    assert images == ["report/funnel.svg", "report/sizes.svg"]


def test_the_card_is_what_huggingface_hubs_dataset_card_writes(tmp_path, monkeypatch):
    from huggingface_hub import DatasetCard

    from stack_v2.io import card as card_module

    seen = []
    monkeypatch.setattr(card_module, "hub_card_text", lambda content: seen.append(content) or str(DatasetCard(content)))
    recipe = make_recipe(tmp_path, "hostile: <b>", "A $description\n---\nwith: yaml")
    write_card(str(tmp_path / "hub.md"), REPORT, recipe)
    monkeypatch.undo()
    assert seen and card_module.hub_card_text(seen[0]) == (tmp_path / "hub.md").read_text(encoding="utf-8")


def test_hub_card_text_is_dataset_cards_text():
    from huggingface_hub import DatasetCard

    from stack_v2.io.markdown import hub_card_text

    content = (
        "---\npretty_name: 'a: b'\nlicense: other\ntags:\n- code\nconfigs:\n- config_name: default\n  data_files:\n"
        "  - split: train\n    path: data/*.parquet\n---\n# Title\n\n---\ntext after a rule\n"
    )
    assert hub_card_text(content) == str(DatasetCard(content))
