"""The build as a Dataflow job: its job request made and validated offline, and the Flex Template's launcher.

``python -m stack_v2.dataflow graph <stack-v2 build options> <Dataflow options> [--job-json FILE]``
builds the pipeline with the DataflowRunner and ``--dry_run``: Beam translates it to the portable
pipeline proto Dataflow runs (Runner v2), checks the graph (``validate_pipeline_graph``, which
Dataflow's job submission calls too) and makes the ``Job`` message. The job's ``environment`` (worker
pool: machine type, worker counts, the SDK container image; the SDK options) is then filled by the
same ``apiclient.Environment`` that a real submission uses. Nothing is uploaded or submitted, and no
Google credentials are needed; the one thing skipped is staging files, which a job that runs in the
project's SDK container (``--sdk_location=container``) does not have to do (``DataflowJob.artifacts``
says what would have been staged).

``python -m stack_v2.dataflow launch ...`` (and ``deploy/dataflow/main.py``, the Flex Template's
program) builds the same pipeline and submits it without waiting, as a Flex Template launcher must.
Parameters come as ``--name=value`` with the names of ``stack-v2 build``'s options (``repo_metadata``
for ``--repo-metadata``; ``origin`` and ``swhid`` may list several values separated by commas;
``unsigned=true``); everything else is a Beam pipeline option.
"""

from __future__ import annotations

import argparse
import json
import sys
import uuid
from collections.abc import Sequence
from dataclasses import dataclass

from stack_v2.errors import StackV2Error

# stack-v2 build's own options, as a Flex Template names them (everything else is a Beam option)
BUILD_OPTIONS = {
    "archive": "--archive",
    "input": "--input",
    "graph": "--graph",
    "unsigned": "--unsigned",
    "output": "--output",
    "pipeline": "--pipeline",
    "origin": "--origin",
    "swhid": "--swhid",
    "repo_metadata": "--repo-metadata",
    "optouts": "--optouts",
    "allow_missing": "--allow-missing",
    "checkpoint": "--checkpoint",
    "resume": "--resume",
}
LIST_OPTIONS = ("input", "origin", "swhid", "optouts")  # several values, comma-separated in a template parameter
FLAGS = ("unsigned", "allow_missing", "resume")
TRUE = ("true", "1", "yes")


def build_request(argv: Sequence[str]):
    """``stack-v2 build``'s arguments -> (BuildRequest, Beam arguments), exactly as the command builds them."""
    from stack_v2 import cli, cli_build

    args, beam_args = cli.build_parser().parse_known_args(["build", *argv])
    return cli_build.build_request(args), beam_args


def _with_dataflow_runner(beam_args: Sequence[str]) -> list[str]:
    args = list(beam_args)
    if not any(a == "--runner" or a.startswith("--runner=") for a in args):
        args.append("--runner=DataflowRunner")
    return args


def _pipeline(request, beam_args: Sequence[str], extra: Sequence[str] = ()):
    import apache_beam as beam
    from apache_beam.options.pipeline_options import PipelineOptions

    from stack_v2.build import construct
    from stack_v2.runs import run_dir_of

    p = beam.Pipeline(options=PipelineOptions([*_with_dataflow_runner(beam_args), *extra]))
    construct(p, request, run_dir_of(request.output_dir, uuid.uuid4().hex[:12]))
    return p


@dataclass
class DataflowJob:
    """A Dataflow job request made offline: ``job.proto`` (the Job message, environment filled) and
    ``pipeline`` (the portable pipeline proto, as Dataflow would receive it)."""

    job: object  # apache_beam.runners.dataflow.internal.apiclient.Job
    pipeline: object  # beam_runner_api_pb2.Pipeline

    def transform_names(self) -> set[str]:
        return {t.unique_name for t in self.pipeline.components.transforms.values()}

    def top_level_names(self) -> list[str]:
        """The build's composite transforms (List, Select, one per stage, Report, the writers, ...)."""
        names = {name.split("/")[0] for name in self.transform_names()}
        return sorted(n for n in names if n and not n.startswith("ref_"))

    def container_images(self) -> list[str]:
        from apache_beam.portability import common_urns
        from apache_beam.portability.api import beam_runner_api_pb2

        images = []
        for env in self.pipeline.components.environments.values():
            if env.urn == common_urns.environments.DOCKER.urn:
                images.append(beam_runner_api_pb2.DockerPayload.FromString(env.payload).container_image)
        return images

    def artifacts(self) -> list[str]:
        """The files a submission would stage for the workers besides the pipeline (their staged names): no SDK,
        requirements or package when the SDK container image holds everything."""
        from apache_beam.portability.api import beam_runner_api_pb2

        return sorted(
            beam_runner_api_pb2.ArtifactStagingToRolePayload.FromString(d.role_payload).staged_name
            for env in self.pipeline.components.environments.values()
            for d in env.dependencies
        )

    def worker_pool(self) -> dict:
        pool = self.job.proto.environment.worker_pools[0]
        images = [i.container_image for i in pool.sdk_harness_container_images]
        return {
            "machine_type": pool.machine_type,
            "num_workers": pool.num_workers,
            "max_num_workers": pool.autoscaling_settings.max_num_workers,
            "disk_size_gb": pool.disk_size_gb,
            "worker_harness_container_image": pool.worker_harness_container_image,
            "sdk_harness_container_images": images,
        }

    def to_json(self) -> str:
        """The job request (without the pipeline proto, which a submission stages as pipeline.pb)."""
        from google.protobuf import json_format

        return json_format.MessageToJson(self.job.proto._pb, indent=2)


def check_offline_options(beam_args: Sequence[str]) -> None:
    """The options a dry run needs so that Beam looks nothing up: project, region and a valid gs:// temp_location
    (with neither valid temp nor staging location, Beam's validator would create a default bucket online)."""
    from apache_beam.options.pipeline_options import GoogleCloudOptions, PipelineOptions
    from apache_beam.options.pipeline_options_validator import PipelineOptionsValidator

    options = PipelineOptions(list(beam_args))
    cloud = options.view_as(GoogleCloudOptions)
    validator = PipelineOptionsValidator(options, None)
    problems = [f"--{name} is required" for name in ("project", "region") if not getattr(cloud, name)]
    problems += validator.validate_gcs_path(cloud, "temp_location")
    if cloud.staging_location is not None:
        problems += validator.validate_gcs_path(cloud, "staging_location")
    if problems:
        raise StackV2Error("Dataflow job graph: " + "; ".join(problems))


def dataflow_job(request, beam_args: Sequence[str]) -> DataflowJob:
    """Build the job for ``request`` with the DataflowRunner and ``--dry_run`` (nothing is submitted)."""
    from apache_beam.io.filesystems import FileSystems
    from apache_beam.runners.dataflow.internal import apiclient
    from apache_beam.runners.internal import names

    check_offline_options(beam_args)
    p = _pipeline(request, beam_args, ["--dry_run=True"])
    result = p.run()  # DataflowRunner.run_pipeline: overrides, proto, graph validation, Job; returns before the API
    job = result.job
    staging = job.google_cloud_options.staging_location
    # What DataflowApplicationClient.create_job_description does after staging (which a dry run skips).
    job.proto.environment = apiclient.Environment(
        packages=[],
        options=job.options,
        environment_version=apiclient._FNAPI_ENVIRONMENT_MAJOR_VERSION,
        proto_pipeline_staged_url=FileSystems.join(staging, names.STAGED_PIPELINE_FILENAME),
        proto_pipeline=job.proto_pipeline,
    ).proto
    return DataflowJob(job, job.proto_pipeline)


def flex_arguments(argv: Sequence[str]) -> list[str]:
    """A Flex Template's ``--name=value`` parameters -> ``stack-v2 build`` arguments and Beam options."""
    out = []
    for arg in argv:
        name, eq, value = arg[2:].partition("=") if arg.startswith("--") else ("", "", "")
        if name not in BUILD_OPTIONS or not eq:
            out.append(arg)
            continue
        option = BUILD_OPTIONS[name]
        if name in FLAGS:
            if value.strip().lower() in TRUE:
                out.append(option)
        elif name in LIST_OPTIONS:
            out += [f"{option}={v.strip()}" for v in value.split(",") if v.strip()]
        elif value != "":
            out.append(f"{option}={value}")
    return out


def launch(argv: Sequence[str]) -> str:
    """Submit the build to Dataflow and return the job id, without waiting for it (a Flex Template launcher)."""
    from stack_v2.build import start_build

    request, beam_args = build_request(argv)
    started = start_build(request, _with_dataflow_runner(beam_args), wait=False)
    job_id = started.result.job_id() if hasattr(started.result, "job_id") else ""
    print(
        f"stack-v2: submitted Dataflow job {job_id} writing {started.run_dir}; when it has finished: "
        f"stack-v2 finish {started.output_dir} --run {started.run_id}",
        file=sys.stderr,
    )
    return job_id


def flex_main(argv: Sequence[str]) -> int:
    launch(flex_arguments(argv))
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m stack_v2.dataflow", description=__doc__.splitlines()[0])
    parser.add_argument(
        "mode", choices=("graph", "launch"), help="graph: make and check the job offline; launch: submit it and exit"
    )
    parser.add_argument("--job-json", default=None, metavar="FILE", help="graph: write the job request here")
    args, rest = parser.parse_known_args(argv)
    try:
        if args.mode == "launch":
            launch(rest)
            return 0
        request, beam_args = build_request(rest)
        job = dataflow_job(request, beam_args)
    except StackV2Error as exc:
        print(f"stack-v2: error: {exc}", file=sys.stderr)
        return 2
    if args.job_json:
        with open(args.job_json, "w", encoding="utf-8") as f:
            f.write(job.to_json() + "\n")
    print(
        json.dumps(
            {
                "job_name": job.job.proto.name,
                "transforms": len(job.pipeline.components.transforms),
                "top_level": job.top_level_names(),
                "container_images": job.container_images(),
                "artifacts_to_stage": job.artifacts(),
                "worker_pool": job.worker_pool(),
            },
            indent=2,
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
