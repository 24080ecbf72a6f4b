"""The HTML pages of ``stack-v2 serve``, server-rendered; no script anywhere (the CSP forbids it).

Every value that comes from a dataset or a visitor goes through ``e()`` (html.escape, quotes included),
in text and in attributes alike; links are built from fixed prefixes and URL-encoded parameters. The ids
and classes are a contract with the browser tests and with anyone scraping the pages (docs/serve.md).
"""

from __future__ import annotations

import html
from urllib.parse import urlencode

from stack_v2.webapp.queries import DatasetHit, LookupResult, RepoHit

STYLE = """\
body { font: 15px/1.45 system-ui, sans-serif; margin: 0; color: #1f2328; background: #f6f8fa; }
header { background: #24292f; color: #fff; padding: .8em 2em; }
header a { color: #fff; text-decoration: none; font-weight: 600; }
main { max-width: 70em; margin: 1.5em auto; padding: 0 1.5em; }
form { margin: 1em 0; }
input, textarea { font: inherit; padding: .35em .5em; border: 1px solid #d0d7de; border-radius: 6px; }
#query { width: 28em; } textarea { width: 32em; height: 6em; display: block; }
label { display: block; margin-top: .8em; font-weight: 600; }
button { font: inherit; padding: .35em 1em; border-radius: 6px; border: 1px solid #1f883d;
  background: #1f883d; color: #fff; cursor: pointer; margin-top: .8em; }
section.repository { background: #fff; border: 1px solid #d0d7de; border-radius: 8px; padding: .5em 1.2em 1em;
  margin: 1.2em 0; }
section.dataset { border-top: 1px solid #d8dee4; margin-top: .8em; }
table { border-collapse: collapse; width: 100%; margin: .5em 0; font-size: 14px; }
th, td { text-align: left; padding: .25em .6em; border-bottom: 1px solid #eaeef2; vertical-align: top; }
th { background: #f6f8fa; } td.path { font-family: ui-monospace, monospace; word-break: break-all; }
td.detail { color: #57606a; word-break: break-all; }
.error { color: #cf222e; font-weight: 600; } .not-found, .no-files { color: #9a6700; font-weight: 600; }
.counts span { font-weight: 700; } a.next { display: inline-block; margin: .3em 0; }
.hint { color: #57606a; }
"""


def e(value) -> str:
    """Escaped text for HTML content and quoted attributes."""
    return html.escape("" if value is None else str(value), quote=True)


def layout(title: str, body: str) -> str:
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f'<title>{e(title)}</title><link rel="stylesheet" href="/style.css"></head><body>'
        '<header><a href="/">Am I in The Stack?</a></header>'
        f"<main>{body}</main></body></html>\n"
    )


def search_form(value: str = "") -> str:
    return (
        '<form id="lookup" action="/lookup" method="get" role="search">'
        '<label for="query">GitHub owner or repository</label>'
        f'<input id="query" name="q" value="{e(value)}" maxlength="300" '
        'placeholder="octocat, octocat/hello-world or https://github.com/octocat/hello-world" required>'
        ' <button id="lookup-submit" type="submit">Look up</button></form>'
    )


def home(datasets: list[tuple[str, str, int]]) -> str:
    items = "".join(
        f'<li><span class="dataset-name">{e(n)}</span> version <code>{e(v)}</code>: {f:,} files</li>'
        for n, v, f in datasets
    )
    return layout(
        "Am I in The Stack?",
        "<h1>Am I in The Stack?</h1>"
        "<p>Look up a GitHub owner or repository to see, for every file, whether it is in these datasets, "
        "and if not, which stage dropped it and why.</p>"
        f'{search_form()}<h2>Datasets</h2><ul class="datasets">{items}</ul>'
        '<p>Do not want your code in them? <a id="optout-link" href="/optout">Ask for it to be removed</a>.</p>',
    )


def _link(params: dict) -> str:
    return "/lookup?" + urlencode({k: v for k, v in params.items() if v not in (None, "", 1)})


def _included(result: LookupResult, repo: RepoHit, hit: DatasetHit) -> str:
    rows = "".join(
        '<tr class="file">'
        f'<td class="path">{e(f["path"])}</td><td class="language">{e(f["language"])}</td>'
        f'<td class="license">{e(f["license_type"])}</td>'
        f"<td>{_swhid_link(f)}</td></tr>"
        for f in hit.included
    )
    more = ""
    if result.page * result.per_page < hit.included_count:
        more = _next(result, repo, page=result.page + 1, dropped_page=result.dropped_page, what="included")
    return _table("included", ("path", "language", "license type", "SWHID"), rows, hit.included_count, more)


def _dropped(result: LookupResult, repo: RepoHit, hit: DatasetHit) -> str:
    rows = "".join(
        '<tr class="file">'
        f'<td class="path">{e(d["path"] if d["path"] is not None else "(whole repository)")}</td>'
        f'<td class="stage">{e(d["stage"])}</td><td class="outcome">{e(d["outcome"])}</td>'
        f'<td class="reason">{e(d["reason"])}</td><td class="detail">{e(d["detail"])}</td></tr>'
        for d in hit.dropped
    )
    more = ""
    if result.dropped_page * result.per_page < hit.dropped_count:
        more = _next(result, repo, page=result.page, dropped_page=result.dropped_page + 1, what="dropped")
    return _table("dropped", ("path", "stage", "outcome", "reason", "detail"), rows, hit.dropped_count, more)


def _table(name: str, columns: tuple[str, ...], rows: str, count: int, more: str) -> str:
    """A table of file rows with its header (none when empty), then a hint when empty and the next-page link."""
    if rows:
        head = "<thead><tr>" + "".join(f"<th>{column}</th>" for column in columns) + "</tr></thead>"
        return f'<table class="{name}">{head}<tbody>{rows}</tbody></table>{more}'
    hint = "None." if count == 0 else "No more rows: this page is past the end."
    return f'<table class="{name}"><tbody></tbody></table><p class="hint">{hint}</p>{more}'


def _next(result: LookupResult, repo: RepoHit, *, page: int, dropped_page: int, what: str) -> str:
    # Paging narrows an owner's lookup to this repository: the other repositories' tables stay where they are.
    per_page = result.per_page if result.per_page != 50 else None
    href = _link({"q": repo.repo_name, "page": page, "dropped_page": dropped_page, "per_page": per_page})
    return f'<a class="next" data-table="{e(what)}" href="{e(href)}">next {result.per_page} {e(what)} files</a>'


def _swhid_link(file: dict) -> str:
    """The file in the Software Heritage archive; the link text is the content's core SWHID."""
    if not file["swhid_url"]:
        return '<span class="no-swhid">none recorded</span>'
    text = file["swhid"].split(";", 1)[0]
    return f'<a class="swhid" href="{e(file["swhid_url"])}" rel="noopener noreferrer">{e(text)}</a>'


def _no_files(hit: DatasetHit) -> str:
    if not hit.reasons:
        why = "no file of it reached the dataset, and no dropped file is recorded for it"
    else:
        why = "; ".join(
            f"{r['files']:,} {'failed' if r['outcome'] == 'failed' else 'dropped'} at stage {r['stage']} "
            f"({r['reason']})"
            for r in hit.reasons
        )
    return f'<p class="no-files">No file of this repository is in this dataset version: {e(why)}.</p>'


def _dataset(result: LookupResult, repo: RepoHit, hit: DatasetHit) -> str:
    body = (
        f'<h3>{e(hit.dataset)} <span class="hint">version {e(hit.version)}</span></h3>'
        f'<p class="counts"><span class="included-count">{hit.included_count}</span> files included, '
        f'<span class="dropped-count">{hit.dropped_count}</span> dropped or failed</p>'
    )
    if hit.included_count == 0:
        body += _no_files(hit)
    body += "<h4>Included files</h4>" + _included(result, repo, hit)
    body += "<h4>Dropped or failed files</h4>" + _dropped(result, repo, hit)
    return f'<section class="dataset" data-dataset="{e(hit.dataset)}" data-version="{e(hit.version)}">{body}</section>'


def _repository(result: LookupResult, repo: RepoHit) -> str:
    absent = ""
    if repo.absent_from:
        names = ", ".join(f"{n} (version {v})" for n, v in repo.absent_from)
        absent = f'<p class="absent-from">Not in: {e(names)}.</p>'
    optout = "/optout?" + urlencode({"owner": repo.repo_name.partition("/")[0], "repos": repo.repo_name})
    return (
        f'<section class="repository" data-repo="{e(repo.repo_name)}"><h2>{e(repo.repo_name)}</h2>'
        f"{''.join(_dataset(result, repo, h) for h in repo.datasets)}{absent}"
        f'<p><a class="optout-repo" href="{e(optout)}">Opt this repository out</a></p></section>'
    )


def lookup_page(result: LookupResult) -> str:
    q = result.query
    if not result.repositories_total:
        what = "repository" if q.repo else "owner"
        body = (
            f'<p class="not-found">The {what} {e(q.text)} is not in any of these datasets: it is not in the archive '
            "they were built from, or it was not selected.</p>"
        )
    else:
        total = result.repositories_total
        body = (
            f'<p class="summary">{total:,} {"repository" if total == 1 else "repositories"} found for {e(q.text)}.</p>'
        )
        body += "".join(_repository(result, r) for r in result.repositories)
        if result.repo_page < result.repo_pages:
            href = _link({"q": q.text, "repo_page": result.repo_page + 1})
            body += f'<p><a class="next-repositories" href="{e(href)}">more repositories</a></p>'
    return layout(f"{q.text}: Am I in The Stack?", search_form(q.text) + body)


def error_page(title: str, message: str, query: str = "") -> str:
    return layout(title, (search_form(query) if query is not None else "") + f'<p class="error">{e(message)}</p>')


def optout_form(csrf_token: str, values: dict | None = None, error: str | None = None, *, max_repos: int = 100) -> str:
    v = values or {}
    problem = f'<p class="error">{e(error)}</p>' if error else ""
    return layout(
        "Opt out: Am I in The Stack?",
        "<h1>Ask for your code to be removed</h1>"
        "<p>An operator checks each request before applying it: that the repositories exist and that you own them. "
        "Give a way to reach you (e.g. your GitHub handle or e-mail) so that they can ask you to confirm, for "
        "example from your GitHub account.</p>"
        f'{problem}<form id="optout-form" method="post" action="/optout">'
        f'<input type="hidden" name="csrf_token" value="{e(csrf_token)}">'
        '<label for="owner">GitHub owner (user or organisation)</label>'
        f'<input id="owner" name="owner" value="{e(v.get("owner"))}" maxlength="39" required>'
        f'<label for="repos">Repositories: <code>all</code>, or one name or URL per line (at most {max_repos})</label>'
        f'<textarea id="repos" name="repos" maxlength="8192" required>{e(v.get("repos"))}</textarea>'
        '<label for="contact">Contact (optional)</label>'
        f'<input id="contact" name="contact" value="{e(v.get("contact"))}" maxlength="200">'
        '<label for="reason">Reason (optional)</label>'
        f'<textarea id="reason" name="reason" maxlength="2000">{e(v.get("reason"))}</textarea>'
        '<button id="optout-submit" type="submit">Send the request</button></form>',
    )


def optout_received(request_id: int, owner: str, repos) -> str:
    target = f"all repositories of {owner}" if repos == "all" else ", ".join(f"{owner}/{r}" for r in repos)
    return layout(
        "Request received: Am I in The Stack?",
        f'<h1>Request received</h1><p id="request-received">Your request to remove {e(target)} was received and '
        f'waits for an operator\'s review. Its number is <span id="request-id">{int(request_id)}</span>.</p>'
        '<p><a href="/">Back to the lookup</a></p>',
    )
