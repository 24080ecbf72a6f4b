"""``stack-v2 archive`` commands: import git repositories, list their files, print blobs.

``archive files`` lists from a graph export (a Beam pipeline) or, with ``--web-api``, through the SWH Web API.
"""

from __future__ import annotations

import datetime as dt
import json
import sys

from stack_v2.errors import StackV2Error


def archive_location(args):
    from stack_v2.archive.location import ArchiveLocation

    return ArchiveLocation(args.archive, unsigned=args.unsigned, graph_uri=args.graph)


def cmd_import_git(args, beam_args: list[str]) -> int:
    from stack_v2.archive.import_git import import_git

    if beam_args:
        raise StackV2Error(f"archive import-git: unknown option(s) {' '.join(beam_args)}")
    visit_date = None
    if args.visit_date:
        try:
            visit_date = dt.datetime.fromisoformat(args.visit_date)
        except ValueError as exc:
            raise StackV2Error(f"--visit-date {args.visit_date!r}: not an ISO 8601 date ({exc})") from exc
        if visit_date.tzinfo is None:
            visit_date = visit_date.replace(tzinfo=dt.UTC)
    summary = import_git(
        args.repos,
        args.archive,
        origin_prefix=args.origin_prefix,
        visit_date=visit_date,
        progress=lambda msg: print(msg, file=sys.stderr),
    )
    for origin, visit in summary.visits.items():
        state = f"visit {visit}" if visit else "unchanged since its last visit (nothing added)"
        print(f"{origin}: {state}", file=sys.stderr)
    added = ", ".join(f"{n} {t}" for t, n in summary.new_rows.items() if n) or "nothing new"
    print(f"added: {added}; {summary.content_bytes} content bytes", file=sys.stderr)
    return 0


def cmd_files(args, beam_args: list[str]) -> int:
    from stack_v2.archive.swhid import parse_swhid_input

    swhids = [parse_swhid_input(s) for s in args.swhid or ()]
    if args.web_api is not None:
        if beam_args:
            raise StackV2Error(f"archive files --web-api: unknown option(s) {' '.join(beam_args)}")
        files, problems = _files_via_api(args, swhids)
    else:
        from stack_v2.archive.listing import list_files

        if not args.archive:
            raise StackV2Error("archive files: give --archive URI (a graph export) or --web-api")
        files, problems = list_files(
            archive_location(args),
            origins=args.origin or (),
            swhids=swhids,
            max_depth=args.max_depth,
            beam_args=beam_args,
        )
    out = sys.stdout
    for record in files:
        out.write(json.dumps(record.to_json_dict(), ensure_ascii=False) + "\n")
    for problem in problems:
        print(f"stack-v2: {problem.subject}: {problem.reason}: {problem.detail}", file=sys.stderr)
    print(f"stack-v2: {len(files)} files, {len(problems)} problems", file=sys.stderr)
    requested = set(args.origin or ()) | {s.core for s in swhids} | {s.origin for s in swhids if s.origin}
    failed = {p.subject for p in problems if p.reason != "depth_limit"} & requested
    return 1 if failed else 0


def _files_via_api(args, swhids):
    from stack_v2.archive.webapi import DEFAULT_API_URL, list_files_via_api, make_client

    api_url = args.web_api or DEFAULT_API_URL
    client = make_client(api_url)  # one client: its rate-limit pacing covers every request
    files, problems = [], []
    for origin in args.origin or ():
        f, p = list_files_via_api(origin=origin, api_url=api_url, max_depth=args.max_depth, client=client)
        files += f
        problems += p
    for text in args.swhid or ():
        f, p = list_files_via_api(swhid=text, api_url=api_url, max_depth=args.max_depth, client=client)
        files += f
        problems += p
    if not (args.origin or swhids):
        raise StackV2Error("archive files --web-api: name the repositories with --origin or --swhid")
    files.sort(key=lambda r: (r.origin or "", r.directory_id, r.path))
    return files, problems


def cmd_cat(args, beam_args: list[str]) -> int:
    from stack_v2.archive.content import fetch_blob
    from stack_v2.archive.content_store import open_content_store

    store = open_content_store(archive_location(args))
    status = 0
    for blob_id in args.blob_ids:
        result = fetch_blob(store, blob_id, max_length=args.max_length)
        if result.data is None:
            print(f"stack-v2: blob {blob_id}: {result.reason}: {result.detail}", file=sys.stderr)
            status = 1
        else:
            sys.stdout.buffer.write(result.data)
    sys.stdout.flush()
    return status
