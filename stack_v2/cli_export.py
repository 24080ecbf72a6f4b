"""``stack-v2 export``: a dataset as training documents in StarCoder2's format (docs/training.md)."""

from __future__ import annotations

import argparse
import sys

from stack_v2.errors import StackV2Error

_SENTINEL_OPTIONS = (
    ("eos", "--eos-token"),
    ("repo_name", "--repo-name-token"),
    ("file_sep", "--file-sep-token"),
    ("fim_prefix", "--fim-prefix-token"),
    ("fim_middle", "--fim-middle-token"),
    ("fim_suffix", "--fim-suffix-token"),
    ("fim_pad", "--fim-pad-token"),
)


def _rate(value: str) -> float:
    try:
        rate = float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {value!r}") from None
    if not 0.0 <= rate <= 1.0:
        raise argparse.ArgumentTypeError(f"a rate is between 0 and 1, not {value}")
    return rate


def add_export_parser(sub) -> None:
    from stack_v2.training.format import FormatConfig, Sentinels

    defaults, sentinels = FormatConfig(), Sentinels()
    p = sub.add_parser(
        "export",
        help="write a dataset as training documents (StarCoder2's format, FIM, token counts)",
        epilog="Other options are Apache Beam pipeline options (--runner, --direct_num_workers, ...).",
    )
    p.add_argument("--dataset", required=True, metavar="DIR_OR_URI", help="a dataset root (its current version)")
    p.add_argument("--output", required=True, metavar="DIR", help="where the export goes (published atomically)")
    p.add_argument("--seed", type=int, default=defaults.seed, help="seed of every random decision (default: 0)")
    p.add_argument(
        "--metadata-rate", type=_rate, default=defaults.metadata_rate, help="repositories with names and paths (0.5)"
    )
    p.add_argument(
        "--fim-rate", type=_rate, default=defaults.fim_rate, help="repositories that are FIM candidates (0.5)"
    )
    p.add_argument(
        "--fim-file-rate", type=_rate, default=defaults.fim_file_rate, help="files of a candidate transformed (0.5)"
    )
    p.add_argument("--fim-spm-rate", type=_rate, default=defaults.fim_spm_rate, help="FIM files in SPM order (0.5)")
    p.add_argument(
        "--max-document-chars",
        type=int,
        default=defaults.max_document_chars,
        metavar="N",
        help="split larger repositories at file boundaries (default: %(default)s; 0: no limit)",
    )
    p.add_argument(
        "--shard-mb", type=float, default=256, metavar="MB", help="target text per Parquet shard (default: 256)"
    )
    p.add_argument(
        "--tokenizer", metavar="PATH", help="a Hugging Face tokenizer.json (local, s3://, gs://) for num_tokens"
    )
    p.add_argument(
        "--pack", action="store_true", help="also write packed token shards into packed/ (needs --tokenizer)"
    )
    p.add_argument(
        "--archive",
        metavar="URI",
        help="fetch contents by blob_id from this archive's content store (<URI>/content) instead of data shards",
    )
    p.add_argument("--unsigned", action="store_true", help="anonymous S3 access (the public Software Heritage bucket)")
    for field, flag in _SENTINEL_OPTIONS:
        p.add_argument(
            flag, dest=f"token_{field}", default=getattr(sentinels, field), metavar="STR", help="(%(default)s)"
        )
    p.set_defaults(func=cmd_export, beam=True)


def cmd_export(args, beam_args: list[str]) -> int:
    from stack_v2.training.export import ExportRequest, export
    from stack_v2.training.format import FormatConfig, Sentinels

    try:
        sentinels = Sentinels(**{field: getattr(args, f"token_{field}") for field, _ in _SENTINEL_OPTIONS})
        config = FormatConfig(
            seed=args.seed,
            metadata_rate=args.metadata_rate,
            fim_rate=args.fim_rate,
            fim_file_rate=args.fim_file_rate,
            fim_spm_rate=args.fim_spm_rate,
            max_document_chars=args.max_document_chars,
            sentinels=sentinels,
        )
    except ValueError as exc:
        raise StackV2Error(f"export: {exc}") from exc
    if args.shard_mb <= 0:
        raise StackV2Error(f"--shard-mb {args.shard_mb}: must be positive")
    req = ExportRequest(
        dataset=args.dataset,
        output=args.output,
        config=config,
        tokenizer=args.tokenizer,
        pack=args.pack,
        archive=args.archive,
        unsigned=args.unsigned,
        shard_bytes=int(args.shard_mb * 1e6),
    )
    report = export(req, beam_args)
    tokens = report.get("tokens")
    print(
        f"stack-v2: exported {report['documents']:,} documents ({report['files']:,} files, "
        f"{report['left_out']['files']:,} left out"
        + (f", {tokens['total']:,} tokens" if tokens else "")
        + f") to {req.output}",
        file=sys.stderr,
    )
    return 0
