"""How many bytes the build shuffles per byte of input: what Dataflow Shuffle would bill, measured on the
DirectRunner (Beam's FnApiRunner) from the same SDK's per-PCollection element counts and sampled sizes.

For every GroupByKey in the pipeline proto (CoGroupByKey and JoinSmallToLarge expand to Flatten +
GroupByKey), the bytes of its input PCollection = element count x mean sampled encoded size (Beam
samples sizes; it counts every element). GroupByKeys inside a CombinePerKey are reported apart: a runner
lifts the combiner (Dataflow does), so what crosses the shuffle there is one partial accumulator per key
and bundle, far less than the input counted here (an upper bound).

    python benchmarks/bench_shuffle.py --workdir /tmp/stack-v2-bench [--recipe the-stack-v2]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import time
from collections import defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_archive import make_repos  # noqa: E402
from bench_scaling import SIZES  # noqa: E402

DEFAULT_PACKAGES = SIZES["small"]  # about 40 MB of real source


def gbk_inputs(proto) -> tuple[dict, dict]:
    """{pcollection id: GBK label} for plain GroupByKeys and for those inside a CombinePerKey."""
    from apache_beam.portability import common_urns

    combine_urn = common_urns.composites.COMBINE_PER_KEY.urn
    gbk_urn = common_urns.primitives.GROUP_BY_KEY.urn
    transforms = proto.components.transforms
    in_combine = set()
    for t in transforms.values():
        if t.spec.urn == combine_urn:
            stack = list(t.subtransforms)
            while stack:
                sub = stack.pop()
                in_combine.add(sub)
                stack.extend(transforms[sub].subtransforms)
    plain, combined = {}, {}
    for tid, t in transforms.items():
        if t.spec.urn == gbk_urn:
            for pcoll in t.inputs.values():
                (combined if tid in in_combine else plain)[pcoll] = t.unique_name
    return plain, combined


def pcollection_bytes(result) -> dict:
    """{pcollection id: (elements, estimated bytes)} from the runner's monitoring infos."""
    from apache_beam.metrics import monitoring_infos as mi

    counts, sizes = defaultdict(int), {}
    for info in result.monitoring_infos():
        pcoll = info.labels.get(mi.PCOLLECTION_LABEL)
        if pcoll is None:
            continue
        if info.urn == mi.ELEMENT_COUNT_URN:
            counts[pcoll] += mi.extract_counter_value(info)
        elif info.urn == mi.SAMPLED_BYTE_SIZE_URN:
            count, total, _min, _max = mi.extract_distribution(info)
            old = sizes.get(pcoll, (0, 0))
            sizes[pcoll] = (old[0] + count, old[1] + total)
    out = {}
    for pcoll, n in counts.items():
        sampled, total = sizes.get(pcoll, (0, 0))
        out[pcoll] = (n, n * total / sampled if sampled else 0.0)
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workdir", default="benchmarks/out")
    parser.add_argument("--recipe", default="the-stack-v2")
    parser.add_argument("--packages", nargs="+", default=list(DEFAULT_PACKAGES))
    args = parser.parse_args()

    import apache_beam as beam
    from apache_beam.runners.portability.fn_api_runner import FnApiRunner
    from apache_beam.runners.portability.portable_runner import PortableRunner
    from apache_beam.transforms import environments

    from stack_v2.archive.import_git import import_git
    from stack_v2.archive.location import ArchiveLocation
    from stack_v2.build import BuildRequest, construct
    from stack_v2.recipe import load_recipe
    from stack_v2.runners import pipeline_options

    workdir = Path(args.workdir).resolve()
    repos, source_bytes = make_repos(workdir, args.packages)
    archive = workdir / "build-archive"
    if not (archive / "graph").exists():
        import_git([str(r) for r in repos], str(archive))
    os.environ["XDG_CACHE_HOME"] = str(workdir / "cache")
    run_dir = workdir / "shuffle-run"
    shutil.rmtree(run_dir, ignore_errors=True)
    options = pipeline_options([])  # a build's options (its coders follow them)
    # Built as for a distributed runner, so that every join shuffles as on Dataflow (on the DirectRunner a
    # join whose small side is small in total looks it up in memory instead: stack_v2/joins.py); run here.
    p = beam.Pipeline(runner=PortableRunner(), options=options)
    construct(p, BuildRequest(ArchiveLocation(str(archive)), str(workdir), load_recipe(args.recipe)), str(run_dir))
    proto = p.to_runner_api(default_environment=environments.EmbeddedPythonEnvironment.default())
    started = time.perf_counter()
    result = FnApiRunner().run_via_runner_api(proto, options)
    seconds = time.perf_counter() - started
    report = json.loads((run_dir / "report.json").read_text())
    input_bytes = report["totals"]["input"]["bytes"]
    plain, combined = gbk_inputs(proto)
    measured = pcollection_bytes(result)
    by_gbk = {label: measured.get(pcoll, (0, 0.0)) for pcoll, label in plain.items()}
    combine_upper = sum(measured.get(pcoll, (0, 0.0))[1] for pcoll in combined)
    shuffled = sum(b for _n, b in by_gbk.values())
    top = sorted(by_gbk.items(), key=lambda kv: -kv[1][1])[:15]
    results = {
        "recipe": args.recipe,
        "input_mb": round(input_bytes / 1e6, 1),
        "seconds": round(seconds, 1),
        "group_by_keys": len(plain),
        "shuffled_mb": round(shuffled / 1e6, 1),
        "shuffled_per_input_byte": round(shuffled / input_bytes, 2),
        "combine_inputs_mb_upper_bound": round(combine_upper / 1e6, 1),
        "combines": len(combined),
        "largest": [{"gbk": label, "elements": n, "mb": round(b / 1e6, 1)} for label, (n, b) in top],
    }
    (workdir / "shuffle-results.json").write_text(json.dumps(results, indent=2))
    print(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
