"""``stack-v2 tokens``: count a dataset's tokens with a tokenizer (and pack them for training); the work is
``stack_v2.tokens.dataset``'s."""

from __future__ import annotations

import argparse
import sys


def add_tokens_parser(sub) -> argparse.ArgumentParser:
    tokens = sub.add_parser(
        "tokens",
        help="count a dataset's tokens per language and source into report.json, the card and the HTML report",
    )
    tokens.add_argument(
        "--dataset", required=True, metavar="DIR_OR_URI", help="a dataset written by stack-v2 (local, s3:// or gs://)"
    )
    tokens.add_argument(
        "--tokenizer", required=True, metavar="PATH", help="a Hugging Face tokenizer.json (local, s3:// or gs://)"
    )
    tokens.add_argument(
        "--pack",
        default=None,
        metavar="DIR",
        help="also write packed token shards (one per data shard) and their index.json into DIR",
    )
    tokens.set_defaults(func=cmd_tokens, beam=True)
    return tokens


def cmd_tokens(args, beam_args: list[str]) -> int:
    from stack_v2.tokens.dataset import count_dataset_tokens

    result = count_dataset_tokens(args.dataset, args.tokenizer, pack=args.pack, beam_args=beam_args)
    packed = f"; packed token shards listed in {result['index']}" if result["index"] else ""
    print(
        f"stack-v2: {args.dataset}: {result['total']:,} tokens in {result['shards']:,} data shard(s), "
        f"{len(result['by_language']):,} language(s); published as version {result['version']}{packed}",
        file=sys.stderr,
    )
    return 0
