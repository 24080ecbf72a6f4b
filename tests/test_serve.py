"""`stack-v2 serve` ("Am I in The Stack?") as a visitor and an operator meet it: the real server, started as
the CLI on loopback with --port 0, over a dataset built from real repositories of two GitHub owners; pages
read with selectolax, the JSON API with httpx; opt-out requests through the form, `optout pending`,
`optout approve` and `optout apply`."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import httpx
import pyarrow.parquet as pq
import pytest
from gitrepos import EMAIL_SRC, git, init, make_library_repo, make_sample_repo
from s3util import upload_tree
from selectolax.lexbor import LexborHTMLParser as HTMLParser

from stack_v2 import storage
from stack_v2.archive.import_git import import_git
from stack_v2.cli import main
from stack_v2.demo import make_demo_repos
from stack_v2.optout.requests import load_requests

XSS_NAME = "<img src=x onerror=alert(1)>.py"


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    """Octo-Org/jsonlib, Octo-Org/tools and Octo-Org/web (whose file name is an XSS attempt), hubot/py-http,
    hubot/py-urllib and hubot/mime-stub (only an empty __init__.py, which the demo recipe drops)."""
    root = tmp_path_factory.mktemp("serve-world")
    web = init(root / "octo" / "web")
    shutil.copy(Path(sys.modules["html.parser"].__file__), web / XSS_NAME)  # real code under a hostile name
    git(web, "add", "-A")
    git(web, "commit", "-qm", "parser", date="2021-02-03T04:05:06+0000")
    stub = init(root / "hubot" / "mime-stub")
    shutil.copy(EMAIL_SRC / "mime" / "__init__.py", stub / "__init__.py")  # empty in CPython
    git(stub, "add", "-A")
    git(stub, "commit", "-qm", "stub", date="2021-02-03T04:05:06+0000")
    octo = [make_library_repo(root / "octo", "jsonlib"), make_sample_repo(root / "octo", "tools"), web]
    hubot = [Path(p) for p in make_demo_repos(str(root / "hubot"), packages=("http", "urllib"))] + [stub]
    archive = root / "archive"
    import_git([str(p) for p in octo], str(archive), origin_prefix="https://github.com/Octo-Org/")
    import_git([str(p) for p in hubot], str(archive), origin_prefix="https://github.com/hubot/")
    dataset = root / "built"
    assert main(["build", "--archive", str(archive), "--output", str(dataset), "--pipeline", "demo", "--quiet"]) == 0
    return {"root": root, "dataset": dataset}


@contextlib.contextmanager
def serving(*datasets, requests: Path, extra=()):
    """`stack-v2 serve` in a subprocess on a free loopback port; yields (base URL, process)."""
    argv = [sys.executable, "-m", "stack_v2.cli", "serve", "--port", "0", "--requests", str(requests), *extra]
    for d in datasets:
        argv += ["--dataset", str(d)]
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        line = proc.stdout.readline()
        assert line.startswith(f"stack-v2: serving {len(datasets)} dataset(s) on http://127.0.0.1:"), (
            line + proc.stderr.read() if proc.poll() is not None else line
        )
        yield line.split(" on ", 1)[1].strip(), proc
    finally:
        proc.terminate()
        proc.wait(timeout=20)


@pytest.fixture(scope="module")
def server(world, tmp_path_factory):
    requests = tmp_path_factory.mktemp("serve-requests") / "requests.sqlite"
    with serving(world["dataset"], requests=requests, extra=["--rate-limit", "100/60"]) as (url, proc):
        with httpx.Client(base_url=url, timeout=30) as client:
            yield {"url": url, "client": client, "requests": requests, "proc": proc}


def page(response: httpx.Response) -> HTMLParser:
    assert response.headers["content-type"].startswith("text/html")
    return HTMLParser(response.text)


def manifest_rows(dataset: Path, repo: str) -> set[tuple]:
    table = pq.read_table(str(dataset / "manifest"), columns=["repo_name", "path", "language", "license_type", "swhid"])
    return {
        (r["path"], r["language"], r["license_type"], r["swhid"]) for r in table.to_pylist() if r["repo_name"] == repo
    }


def dropped_rows(dataset: Path, repo: str) -> set[tuple]:
    table = pq.read_table(str(dataset / "dropped"))
    return {
        (r["path"], r["stage"], r["outcome"], r["reason"], r["detail"])
        for r in table.to_pylist()
        if r["repo_name"] == repo
    }


def tables(section) -> tuple[set[tuple], set[tuple]]:
    """(included rows, dropped rows) of one dataset section, as the page shows them."""
    included = {
        (
            tr.css_first("td.path").text(),
            tr.css_first("td.language").text(),
            tr.css_first("td.license").text(),
            tr.css_first("a.swhid").attributes["href"].removeprefix("https://archive.softwareheritage.org/"),
        )
        for tr in section.css("table.included tr.file")
    }
    dropped = {
        tuple(tr.css_first(f"td.{c}").text() for c in ("path", "stage", "outcome", "reason", "detail"))
        for tr in section.css("table.dropped tr.file")
    }
    return included, dropped


def repositories(doc: HTMLParser) -> dict[str, list]:
    return {s.attributes["data-repo"]: s.css("section.dataset") for s in doc.css("section.repository")}


# --- lookups --------------------------------------------------------------------------------------------


def test_the_home_page_has_the_search_form_and_the_optout_link(server):
    doc = page(server["client"].get("/"))
    form = doc.css_first("form#lookup")
    assert form.attributes["action"] == "/lookup" and form.attributes["method"] == "get"
    assert doc.css_first("input#query").attributes["name"] == "q" and doc.css_first("button#lookup-submit")
    assert doc.css_first("a#optout-link").attributes["href"] == "/optout"


def test_an_owner_lookup_shows_every_repository_with_its_included_and_dropped_files(server, world):
    doc = page(server["client"].get("/lookup", params={"q": "octo-org"}))
    repos = repositories(doc)
    assert set(repos) == {"Octo-Org/jsonlib", "Octo-Org/tools", "Octo-Org/web"}
    for repo, sections in repos.items():
        (section,) = sections
        version = os.path.basename(os.path.realpath(world["dataset"] / "current"))
        assert section.attributes["data-dataset"] == "built" and section.attributes["data-version"] == version
        included, dropped = tables(section)
        assert included == manifest_rows(world["dataset"], repo)
        assert dropped == dropped_rows(world["dataset"], repo)
        assert int(section.css_first("span.included-count").text()) == len(included)
        assert int(section.css_first("span.dropped-count").text()) == len(dropped)
    # tools lost files to exact deduplication and to the language-specific filters, with their details
    _, tools_dropped = tables(repos["Octo-Org/tools"][0])
    assert {(stage, reason) for _, stage, _, reason, _ in tools_dropped} >= {
        ("exact_dedup", "exact_duplicate"),
        ("language_specific", "text_filename"),
    }
    assert any(detail.startswith("kept Octo-Org/jsonlib:") for *_, detail in tools_dropped)


@pytest.mark.parametrize(
    "query",
    [
        "hubot/py-http",
        "HUBOT/Py-HTTP",
        "https://github.com/hubot/py-http",
        "https://www.github.com/Hubot/py-http.git/",
        "git@github.com:hubot/py-http.git",
        "  http://github.com/hubot/py-http  ",
    ],
)
def test_a_repository_is_found_in_any_case_and_url_form(server, query):
    doc = page(server["client"].get("/lookup", params={"q": query}))
    assert list(repositories(doc)) == ["hubot/py-http"]
    assert not doc.css("p.not-found") and not doc.css("p.error")


@pytest.mark.parametrize("query", ["HuBoT", "https://github.com/hubot", "github.com/hubot/", "@hubot"])
def test_an_owner_is_found_in_any_case_and_url_form(server, query):
    doc = page(server["client"].get("/lookup", params={"q": query}))
    assert set(repositories(doc)) == {"hubot/py-http", "hubot/py-urllib", "hubot/mime-stub"}


def test_a_repository_without_files_says_why(server, world):
    doc = page(server["client"].get("/lookup", params={"q": "hubot/mime-stub"}))
    (section,) = repositories(doc)["hubot/mime-stub"]
    assert section.css_first("span.included-count").text() == "0"
    (dropped,) = dropped_rows(world["dataset"], "hubot/mime-stub")
    reason = section.css_first("p.no-files").text()
    assert f"at stage {dropped[1]} ({dropped[3]})" in reason
    assert tables(section) == (set(), {dropped})


@pytest.mark.parametrize("query", ["nobody-at-all", "hubot/no-such-repo", "https://github.com/octo-org/missing"])
def test_an_owner_or_repository_not_in_the_dataset_is_said_so(server, query):
    response = server["client"].get("/lookup", params={"q": query})
    assert response.status_code == 200
    doc = page(response)
    assert not doc.css("section.repository")
    assert "is not in any of these datasets" in doc.css_first("p.not-found").text()


@pytest.mark.parametrize(
    "query", ["", "a/b/c", "https://gitlab.com/o/r", "owner with spaces", "o/r.git.git", "-" * 40, "x" * 301]
)
def test_an_invalid_query_is_a_400_with_the_parsers_reason(server, query):
    response = server["client"].get("/lookup", params={"q": query})
    assert response.status_code == 400
    assert page(response).css_first("p.error").text()
    api = server["client"].get("/api/v1/lookup", params={"q": query})
    assert api.status_code == 400 and api.json()["error"]


def test_paging_walks_every_file_once(server, world):
    client, seen, pages = server["client"], [], 0
    href = "/lookup?" + httpx.QueryParams({"q": "octo-org/tools", "per_page": 10}).__str__()
    while href:
        doc = page(client.get(href))
        (section,) = repositories(doc)["Octo-Org/tools"]
        rows = section.css("table.included tr.file")
        assert 0 < len(rows) <= 10
        seen += [tr.css_first("td.path").text() for tr in rows]
        nxt = [a for a in section.css("a.next") if a.attributes.get("data-table") == "included"]
        href = nxt[0].attributes["href"] if nxt else None
        pages += 1
    expected = sorted(p for p, *_ in manifest_rows(world["dataset"], "Octo-Org/tools"))
    assert seen == expected and pages == -(-len(expected) // 10)


def test_the_json_api_answers_what_the_page_shows(server, world):
    client = server["client"]
    datasets = client.get("/api/v1/datasets").json()["datasets"]
    manifest = pq.read_table(str(world["dataset"] / "manifest"), columns=["path"])
    assert [(d["name"], d["files"]) for d in datasets] == [("built", manifest.num_rows)]
    answer = client.get("/api/v1/lookup", params={"q": "Octo-Org", "per_page": 500}).json()
    assert answer["kind"] == "owner" and answer["found"] and answer["repositories_total"] == 3
    for repo in answer["repositories"]:
        (hit,) = repo["datasets"]
        assert hit["version"] == datasets[0]["version"]
        assert {(f["path"], f["language"], f["license_type"], f["swhid"]) for f in hit["included"]} == manifest_rows(
            world["dataset"], repo["repo_name"]
        )
        assert {tuple(d[k] for k in ("path", "stage", "outcome", "reason", "detail")) for d in hit["dropped"]} == (
            dropped_rows(world["dataset"], repo["repo_name"])
        )
        assert hit["included_count"] == len(hit["included"]) and hit["dropped_count"] == len(hit["dropped"])
    missing = client.get("/api/v1/lookup", params={"q": "hubot/nothing"}).json()
    assert missing["found"] is False and missing["repositories"] == []
    assert client.post("/api/v1/lookup", params={"q": "hubot"}).status_code == 405  # read-only


# --- security ---------------------------------------------------------------------------------------------


def test_a_hostile_file_name_is_shown_as_text(server):
    response = server["client"].get("/lookup", params={"q": "octo-org/web"})
    assert XSS_NAME not in response.text
    doc = page(response)
    (section,) = repositories(doc)["Octo-Org/web"]
    assert [td.text() for td in section.css("td.path")] == [XSS_NAME]  # shown, as text
    assert not doc.css("img") and not doc.css("script")
    href = section.css_first("a.swhid").attributes["href"]
    assert href.startswith("https://archive.softwareheritage.org/swh:1:cnt:") and "<" not in href and " " not in href


@pytest.mark.parametrize(
    "query", ['"><script>alert(1)</script>', "hubot/<svg onload=alert(1)>", "javascript:alert(1)//x"]
)
def test_a_hostile_query_is_not_reflected_as_markup(server, query):
    response = server["client"].get("/lookup", params={"q": query})
    assert response.status_code == 400
    assert "<script>" not in response.text and "<svg" not in response.text
    doc = page(response)
    assert not doc.css("script") and not doc.css("svg")
    assert doc.css_first("input#query").attributes["value"] == query  # given back as the input's value, escaped


def test_every_response_carries_the_security_headers(server):
    client = server["client"]
    responses = [
        client.get("/"),
        client.get("/lookup", params={"q": "hubot"}),
        client.get("/lookup", params={"q": "a/b/c"}),
        client.get("/optout"),
        client.post("/optout", data={"owner": "hubot", "repos": "all"}),  # 403: no token
        client.get("/api/v1/datasets"),
        client.get("/style.css"),
        client.get("/../../etc/passwd"),
        client.get("/static/../pyproject.toml"),
        client.post("/", content=b"x" * 20_000),
        client.get("/", headers={"host": "rebound.example"}),  # DNS rebinding: another name for 127.0.0.1
    ]
    assert [r.status_code for r in responses] == [200, 200, 400, 200, 403, 200, 200, 404, 404, 413, 421]
    for r in responses:
        csp = r.headers["content-security-policy"]
        assert "default-src 'none'" in csp and "script-src" not in csp and "frame-ancestors 'none'" in csp
        assert r.headers["x-content-type-options"] == "nosniff" and r.headers["x-frame-options"] == "DENY"
        assert r.headers["referrer-policy"] == "no-referrer"
    assert "root:" not in responses[7].text and "[project]" not in responses[8].text


def form_token(client: httpx.Client) -> str:
    doc = page(client.get("/optout"))
    form = doc.css_first("form#optout-form")
    assert form.attributes["method"] == "post" and form.attributes["action"] == "/optout"
    assert all(doc.css_first(s) for s in ("input#owner", "textarea#repos", "input#contact", "textarea#reason"))
    assert doc.css_first("button#optout-submit")
    return doc.css_first('input[name="csrf_token"]').attributes["value"]


def test_the_form_refuses_a_missing_or_foreign_csrf_token(server):
    url = server["url"]
    with httpx.Client(base_url=url) as alice, httpx.Client(base_url=url) as mallory:
        token = form_token(alice)
        fields = {"owner": "hubot", "repos": "all"}
        assert alice.post("/optout", data=fields).status_code == 403  # no token
        assert alice.post("/optout", data={**fields, "csrf_token": "0" * 64}).status_code == 403  # forged
        form_token(mallory)
        assert mallory.post("/optout", data={**fields, "csrf_token": token}).status_code == 403  # another's
        bare = httpx.post(url + "optout", data={**fields, "csrf_token": token})  # no cookie
        assert bare.status_code == 403 and "security token" in page(bare).css_first("p.error").text()
    with sqlite3.connect(server["requests"]) as db:
        assert db.execute("SELECT count(*) FROM requests WHERE owner = 'hubot' AND repos = '\"all\"'").fetchone() == (
            0,
        )


def test_oversized_forms_and_fields_are_refused(server):
    client = server["client"]
    token = form_token(client)
    big = client.post("/optout", data={"owner": "hubot", "repos": "py-http\n" * 3000, "csrf_token": token})
    assert big.status_code == 413

    def chunks():  # no Content-Length: refused while it streams
        yield f"csrf_token={token}&owner=hubot&repos=".encode()
        for _ in range(40):
            yield b"py-http%0A" * 100

    streamed = client.post("/optout", content=chunks(), headers={"content-type": "application/x-www-form-urlencoded"})
    assert streamed.status_code == 413 and "larger than this server accepts" in streamed.text
    for fields, message in [
        ({"owner": "hubot", "repos": "py-http", "contact": "c" * 201}, "contact: longer than 200"),
        ({"owner": "hubot", "repos": "\n".join(f"r{i}" for i in range(101))}, "at most 100"),
        ({"owner": "hubot", "repos": "octo-org/jsonlib"}, "belongs to octo-org"),
        ({"owner": "hubot", "repos": "py-http\nall"}, '"all" covers every repository: write it alone'),
        ({"owner": "hu bot", "repos": "all"}, "is not a GitHub user or organisation name"),
        ({"owner": "hubot", "repos": "py-http.git"}, 'without ".git"'),
    ]:
        response = client.post("/optout", data={**fields, "csrf_token": token})
        assert response.status_code == 400, fields
        doc = page(response)
        assert message in doc.css_first("p.error").text()
        assert doc.css_first("input#owner").attributes["value"] == fields["owner"]  # the form again, filled in


def test_the_form_is_rate_limited_per_client(world, tmp_path):
    with serving(world["dataset"], requests=tmp_path / "r.sqlite", extra=["--rate-limit", "3/3600"]) as (url, _):
        with httpx.Client(base_url=url) as client:
            token = form_token(client)
            codes = [
                client.post("/optout", data={"owner": "hubot", "repos": f"py-{n}", "csrf_token": token}).status_code
                for n in ("http", "urllib", "x", "y")
            ]
            assert codes == [200, 200, 200, 429]
            refused = client.post("/optout", data={"owner": "hubot", "repos": "py-z", "csrf_token": token})
            assert refused.status_code == 429 and 3000 < int(refused.headers["retry-after"]) <= 3600
            assert refused.headers["content-security-policy"]
            assert client.get("/lookup", params={"q": "hubot"}).status_code == 200  # lookups are not limited


def test_a_server_error_shows_no_details_and_is_logged(world, tmp_path):
    store = tmp_path / "r.sqlite"
    with serving(world["dataset"], requests=store) as (url, proc):
        with httpx.Client(base_url=url) as client:
            token = form_token(client)
            store.write_bytes(b"this is not a database " * 100)  # the store breaks while the server runs
            response = client.post("/optout", data={"owner": "hubot", "repos": "all", "csrf_token": token})
            assert response.status_code == 500
            assert "Traceback" not in response.text and "sqlite" not in response.text.lower()
            assert page(response).css_first("p.error") and response.headers["content-security-policy"]
            assert client.get("/lookup", params={"q": "hubot"}).status_code == 200  # still serving
        proc.terminate()
        assert "Traceback" in proc.stderr.read()  # the operator sees it


def test_a_version_that_cannot_be_indexed_leaves_the_previous_one_served(world, tmp_path):
    dataset = tmp_path / "copy"
    shutil.copytree(world["dataset"], dataset, symlinks=True)
    old = os.path.basename(os.path.realpath(dataset / "current"))
    broken = dataset / "versions" / "broken"
    (broken / "manifest").mkdir(parents=True)
    (broken / "manifest" / "part-00000-of-00001.parquet").write_bytes(b"PAR1 truncated by a failing disk")
    with serving(dataset, requests=tmp_path / "r.sqlite") as (url, proc), httpx.Client(base_url=url) as client:
        os.symlink("versions/broken", dataset / "next")
        os.replace(dataset / "next", dataset / "current")  # as publish moves the pointer
        response = client.get("/lookup", params={"q": "hubot/py-http"})
        assert response.status_code == 200
        (section,) = repositories(page(response))["hubot/py-http"]
        assert section.attributes["data-version"] == old and section.css("table.included tr.file")
        proc.terminate()
        log = proc.stderr.read()
        assert "versions/broken" in log and f"still serving version {old}" in log  # the operator is told


def test_a_dataset_that_cannot_be_read_stops_the_server(world, tmp_path, capsys):
    assert main(["serve", "--dataset", str(tmp_path / "nothing"), "--requests", str(tmp_path / "r.sqlite")]) == 2
    assert capsys.readouterr().err.strip().endswith("no such dataset directory")
    (tmp_path / "empty").mkdir()
    assert main(["serve", "--dataset", str(tmp_path / "empty"), "--requests", str(tmp_path / "r.sqlite")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("stack-v2: error: --dataset") and "no manifest" in err and "\n" not in err


# --- the operator's side ---------------------------------------------------------------------------------


def run_cli(capsys, *argv) -> tuple[int, str, str]:
    code = main(list(argv))
    out = capsys.readouterr()
    return code, out.out, out.err


def test_an_optout_goes_from_the_form_through_approval_into_apply_and_the_lookup(world, tmp_path, capsys):
    dataset = tmp_path / "after-optout"
    shutil.copytree(world["dataset"], dataset, symlinks=True)
    store, approved = tmp_path / "requests.sqlite", tmp_path / "approved.jsonl"
    with serving(world["dataset"], dataset, requests=store) as (url, _), httpx.Client(base_url=url) as client:
        token = form_token(client)
        fields = {"owner": "HUBOT", "repos": "https://github.com/hubot/py-urllib.git\n", "csrf_token": token}
        received = page(client.post("/optout", data={**fields, "contact": "ops@example.org", "reason": "mine"}))
        first = int(received.css_first("span#request-id").text())
        assert "HUBOT/py-urllib" in received.css_first("p#request-received").text()
        second = page(client.post("/optout", data={"owner": "octo-org", "repos": "all", "csrf_token": token}))
        other = int(second.css_first("span#request-id").text())

        code, out, _ = run_cli(capsys, "optout", "pending", "--requests", str(store))
        assert code == 0 and [line.split("\t")[0] for line in out.splitlines()] == [str(first), str(other)]
        code, out, _ = run_cli(capsys, "optout", "pending", "--requests", str(store), "--json")
        pending = [json.loads(line) for line in out.splitlines()]
        assert pending[0]["repos"] == ["py-urllib"] and pending[0]["contact"] == "ops@example.org"
        assert pending[0]["client"] == "127.0.0.1" and pending[0]["status"] == "pending"

        # unknown ids and repeats are refused whole, writing nothing
        code, _, err = run_cli(
            capsys, "optout", "approve", "--requests", str(store), str(first), "999", "--to", str(approved)
        )
        assert code == 2 and err.startswith("stack-v2: error:") and "999" in err and not approved.exists()
        assert run_cli(capsys, "optout", "approve", "--requests", str(store), str(first), "--to", str(approved))[0] == 0
        (request,) = load_requests(approved)
        assert (request.owner, request.repos, request.extra["request_id"]) == ("HUBOT", ("py-urllib",), first)
        assert "contact" not in request.extra  # personal data stays in the store
        code, _, err = run_cli(capsys, "optout", "approve", "--requests", str(store), str(first), "--to", str(approved))
        assert code == 2 and "already approved" in err and len(load_requests(approved)) == 1
        code, out, _ = run_cli(capsys, "optout", "pending", "--requests", str(store))
        assert [line.split("\t")[0] for line in out.splitlines()] == [str(other)]

        before = repositories(page(client.get("/lookup", params={"q": "hubot/py-urllib"})))["hubot/py-urllib"]
        assert [int(s.css_first("span.included-count").text()) > 0 for s in before] == [True, True]
        assert main(["optout", "apply", "--requests", str(approved), "--dataset", str(dataset)]) == 0

        # the same server, asked again, has re-indexed the dataset that changed
        after = repositories(page(client.get("/lookup", params={"q": "hubot/py-urllib"})))["hubot/py-urllib"]
        by_name = {s.attributes["data-dataset"]: s for s in after}
        new_version = os.path.basename(os.path.realpath(dataset / "current"))
        assert by_name["after-optout"].attributes["data-version"] == new_version
        assert by_name["built"].css_first("span.included-count").text() != "0"  # the other dataset is unchanged
        gone = by_name["after-optout"]
        assert (
            gone.css_first("span.included-count").text() == "0"
            and "at stage optout" in gone.css_first("p.no-files").text()
        )
        _, dropped = tables(gone)
        removed = {p for p, *_ in manifest_rows(world["dataset"], "hubot/py-urllib")}
        assert {p for p, stage, *_ in dropped if stage == "optout"} == removed
        assert all(reason == "opted_out" for _, stage, _, reason, _ in dropped if stage == "optout")


def test_a_dataset_on_s3_is_served(world, tmp_path, s3_endpoint):
    version = os.path.basename(os.path.realpath(world["dataset"] / "current"))
    uri = "s3://serve-test/datasets/built"
    upload_tree(
        s3_endpoint, world["dataset"] / "versions" / version, "serve-test", f"datasets/built/versions/{version}"
    )
    storage.write_text(f"{uri}/CURRENT", version + "\n")  # the pointer, as publish writes it on object stores
    with serving(uri, requests=tmp_path / "r.sqlite") as (url, _), httpx.Client(base_url=url) as client:
        answer = client.get("/api/v1/lookup", params={"q": "hubot/py-http"}).json()
        (hit,) = answer["repositories"][0]["datasets"]
        assert hit["version"] == version
        assert {f["path"] for f in hit["included"]} == {p for p, *_ in manifest_rows(world["dataset"], "hubot/py-http")}
