"""deploy/: what can be checked without a cloud account.

Dataflow itself is not reachable from here (no Google credentials, no network beyond the package
registries), so no job is submitted and nothing runs on Dataflow. What is real:

- the job: the build for the demo recipe (every stage, malware on a ClamAV test database) is built with
  Beam 2.77's DataflowRunner and ``--dry_run``, which translates it to the portable pipeline Dataflow
  receives, runs Beam's own graph validation and makes the Job message; the job's environment (worker
  pool, SDK container image, options) is made by the same ``apiclient.Environment`` a submission uses.
  Nothing is mocked: the dry run is Beam's, and the only step left out is staging files to GCS. A guard
  fails the test if anything tries to open a connection off this machine.
- the Dockerfile: its base image matches the project's Beam and Python, it builds the project's wheel
  (recipes and filter data inside; tests/test_wheel.py runs the demo from such a wheel) and installs
  that, and its ``pip install`` resolves: pip resolves the same requirements from PyPI for Python
  3.11 (``--dry-run``, nothing installed). The image is not built (Docker Hub and Google's
  registries are not reachable), so the base image's preinstalled packages are not part of the check.
- the Flex Template metadata: it parses, its parameters are ``stack-v2 build``'s options, and the
  launcher's translation of template parameters gives the request the CLI would build; ``gcloud
  dataflow flex-template build --print-only`` accepts it when gcloud is installed.
- launch.sh: shell syntax, and its offline ``graph`` step end to end.
"""

from __future__ import annotations

import ipaddress
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tomllib
from pathlib import Path

import clamav_fixtures
import pytest
from apache_beam.portability.api import beam_runner_api_pb2
from apache_beam.runners.pipeline_utils import validate_pipeline_graph

from stack_v2 import dataflow as df
from stack_v2.archive.import_git import import_git
from stack_v2.cli import build_parser
from stack_v2.demo import make_assets_repo, make_demo_repos
from stack_v2.errors import StackV2Error
from stack_v2.recipe import PIPELINES_DIR

ROOT = Path(__file__).resolve().parents[1]
DATAFLOW = ROOT / "deploy" / "dataflow"
IMAGE = "us-central1-docker.pkg.dev/stack-v2-offline/stack-v2/stack-v2:test"
OPTIONS = [
    "--project",
    "stack-v2-offline",
    "--region",
    "us-central1",
    "--temp_location",
    "gs://stack-v2-offline/tmp",
    "--sdk_container_image",
    IMAGE,
    "--num_workers",
    "3",
    "--max_num_workers",
    "50",
    "--machine_type",
    "n2-highmem-4",
    "--disk_size_gb",
    "50",
]
clamav_db = clamav_fixtures.clamav_db


@pytest.fixture
def offline(monkeypatch):
    """Fails any connection or name lookup that would leave this machine (loopback and Unix sockets pass)."""
    attempts = []

    def local(host) -> bool:
        try:
            return ipaddress.ip_address(host).is_loopback
        except ValueError:
            return host in ("localhost", "")

    real_connect, real_getaddrinfo = socket.socket.connect, socket.getaddrinfo

    def connect(sock, address):
        if sock.family in (socket.AF_INET, socket.AF_INET6) and not local(address[0]):
            attempts.append(address)
            raise OSError(f"test_deploy: no network (connect to {address})")
        return real_connect(sock, address)

    def getaddrinfo(host, *args, **kwargs):
        if host is not None and not local(host if isinstance(host, str) else host.decode()):
            attempts.append(host)
            raise socket.gaierror(f"test_deploy: no network (lookup of {host})")
        return real_getaddrinfo(host, *args, **kwargs)

    monkeypatch.setattr(socket.socket, "connect", connect)
    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    yield attempts
    assert attempts == [], f"something tried to reach the network: {attempts}"


@pytest.fixture(scope="module")
def archive(tmp_path_factory):
    """A small real archive: one standard-library package and the demo's web assets with a notebook."""
    root = tmp_path_factory.mktemp("deploy")
    repos = make_demo_repos(str(root / "repos"), ("json",)) + [make_assets_repo(str(root / "repos"))]
    import_git(repos, str(root / "archive"))
    return root / "archive"


@pytest.fixture(scope="module")
def demo_recipe(tmp_path_factory, clamav_db):
    """The demo recipe with its malware stage on (the ClamAV test database), so the job has every stage."""
    path = tmp_path_factory.mktemp("recipe") / "demo-malware.yaml"
    path.write_text(
        (PIPELINES_DIR / "demo.yaml")
        .read_text()
        .replace("  - stage: malware\n", f"  - stage: malware\n    database: {clamav_db.path}\n")
    )
    return path


# -- (a) the Dataflow job ---------------------------------------------------------------------------


def test_dataflow_job_for_the_demo_recipe_is_built_and_validated_offline(archive, demo_recipe, offline):
    request, beam_args = df.build_request(
        [
            "--archive",
            str(archive),
            "--output",
            "gs://stack-v2-offline/datasets/demo",
            "--pipeline",
            str(demo_recipe),
            *OPTIONS,
        ]
    )
    job = df.dataflow_job(request, beam_args)

    # Every stage of the recipe is a step of the job, with the listing, the report and the writers.
    stages = request.recipe.stage_names
    assert "malware" in stages and "notebooks" in stages
    top = set(job.top_level_names())
    parts = {part for name in top for part in name.split("+")}  # consecutive one-record stages share a step
    assert {"List", *stages, "Report", "WriteData", "WriteManifest", "WriteDropped"} <= parts, sorted(top)
    names = job.transform_names()
    assert {
        "license/Detect",
        "near_dedup/Sign",
        "malware/Scan/Core",
        "notebooks/WriteScripts",
        "notebooks/WriteStructured",
        "Report/Write",
    } <= names

    # The portable pipeline is what Dataflow receives: valid (Beam's check, as at submission) and serializable.
    validate_pipeline_graph(job.pipeline)
    again = beam_runner_api_pb2.Pipeline.FromString(job.pipeline.SerializeToString())
    # hundreds of transforms (481 since a one-bucket export walks its levels in one step): the whole recipe
    assert len(again.components.transforms) == len(job.pipeline.components.transforms) > 300

    # The job request: batch, Runner v2, our image on every worker, the worker pool as asked.
    proto = job.job.proto
    assert proto.type_.name == "JOB_TYPE_BATCH" and proto.name.startswith("beamapp-")
    assert {"use_runner_v2", "use_portable_job_submission"} <= set(proto.environment.experiments)
    assert job.container_images() == [IMAGE]
    assert job.worker_pool() == {
        "machine_type": "n2-highmem-4",
        "num_workers": 3,
        "max_num_workers": 50,
        "disk_size_gb": 50,
        "worker_harness_container_image": IMAGE,
        "sdk_harness_container_images": [IMAGE],
    }
    # The image holds the SDK and the project: nothing to stage but Beam's two small files.
    assert set(job.artifacts()) <= {"pickled_main_session", "submission_environment_dependencies.txt"}
    request_json = json.loads(job.to_json())
    options = request_json["environment"]["sdkPipelineOptions"]["options"]
    assert options["project"] == "stack-v2-offline" and options["sdk_container_image"] == IMAGE
    assert options["pipelineUrl"].startswith("gs://stack-v2-offline/tmp/")
    assert options["machine_type"] == "n2-highmem-4"


def test_dataflow_graph_refuses_options_that_would_go_online(archive):
    """Without a valid gs:// temp_location Beam would create a default bucket online: refused before that."""
    request, beam_args = df.build_request(
        [
            "--archive",
            str(archive),
            "--output",
            "/tmp/x",
            "--pipeline",
            "demo",
            "--project",
            "p",
            "--region",
            "us-central1",
            "--temp_location",
            "gs://b",
        ]
    )
    with pytest.raises(StackV2Error, match="temp_location"):
        df.dataflow_job(request, beam_args)
    with pytest.raises(StackV2Error, match="--region is required"):
        df.check_offline_options(["--project", "p", "--temp_location", "gs://stack-v2-offline/tmp"])


def test_launch_sh_graph_step_runs_offline(archive, tmp_path):
    recipe = tmp_path / "small.yaml"
    recipe.write_text(
        "name: small\nstages:\n  - stage: select_repositories\n  - stage: exact_dedup\n"
        "  - stage: fetch_decode\n  - stage: language\n"
    )
    env = {
        **os.environ,
        "ARCHIVE": str(archive),
        "GRAPH": "",
        "UNSIGNED": "false",
        "RECIPE": str(recipe),
        "OUTPUT": "gs://stack-v2-offline/datasets/small",
        "ORIGINS": "https://github.com/local/py-json",
        "JOB_JSON": str(tmp_path / "job.json"),
        "TAG": "test",
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
    }  # this interpreter's python
    subprocess.run(["bash", "-n", str(DATAFLOW / "launch.sh")], check=True)
    out = subprocess.run(
        ["bash", str(DATAFLOW / "launch.sh"), "graph"],
        env=env,
        check=True,
        capture_output=True,
        text=True,
        cwd=tmp_path,
    )
    summary = json.loads(out.stdout)
    assert {"List", "select_repositories", "exact_dedup", "fetch_decode", "language", "Report"} <= set(
        summary["top_level"]
    )
    image = "us-central1-docker.pkg.dev/stack-v2-offline/stack-v2/stack-v2:test"
    assert summary["container_images"] == [image] and summary["worker_pool"]["machine_type"] == "n2-highmem-4"
    assert summary["worker_pool"]["max_num_workers"] == 100
    job = json.loads((tmp_path / "job.json").read_text())
    assert job["environment"]["sdkPipelineOptions"]["options"]["job_name"].startswith("stack-v2-")
    # the other steps refuse to run against the offline placeholders
    bad = subprocess.run(["bash", str(DATAFLOW / "launch.sh"), "run"], env=env, capture_output=True, text=True)
    assert bad.returncode == 2 and "set PROJECT, REGION and BUCKET" in bad.stderr


# -- (b) the Dockerfile -----------------------------------------------------------------------------


def _dockerfile() -> str:
    return (DATAFLOW / "Dockerfile").read_text()


def _pyproject() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())


def test_dockerfile_matches_the_project():
    text = _dockerfile()
    project = _pyproject()["project"]
    beam_pin = next(d for d in project["dependencies"] if d.startswith("apache-beam"))
    base = re.search(r"^FROM apache/beam_python(\d+\.\d+)_sdk:(\S+)$", text, re.M)
    assert base, "the SDK container must be Beam's Python SDK image"
    python, beam = base.groups()
    assert project["requires-python"] == f">={python}" and re.fullmatch(r"apache-beam==(\d+\.\d+)\.\*", beam_pin)
    assert beam.startswith(beam_pin.split("==")[1].rstrip("*")), (beam, beam_pin)
    # The wheel is built from the package and what pyproject.toml maps into it (recipes, filter data), and the
    # image installs that wheel: no editable install reading a source tree beside it.
    copied = set(re.findall(r"^COPY (?!--from)(.+) \S+$", text, re.M))
    copied = {part for line in copied for part in line.split()}
    mapped = set(_pyproject()["tool"]["setuptools"]["package-dir"].values())
    assert mapped == {"pipelines", "filters"} and {"pyproject.toml", "README.md", "stack_v2", *mapped} <= copied
    assert re.search(r"^FROM apache/beam_python\S+ AS wheel$", text, re.M)
    assert re.search(r"^RUN pip wheel --no-cache-dir --no-deps --wheel-dir /dist \.$", text, re.M)
    assert "COPY --from=wheel /dist /tmp/dist" in text
    assert re.search(r'pip install --no-cache-dir "\$\(ls /tmp/dist/\*\.whl\)\[gcp\]"', text)
    assert not re.search(r"pip install .*(-e|--editable)\b", text)
    assert "ENV FLEX_TEMPLATE_PYTHON_PY_FILE=/opt/stack-v2/deploy/dataflow/main.py" in text
    assert 'ENTRYPOINT ["/opt/apache/beam/boot"]' in text
    for package in ("clamav", "clamav-daemon"):  # the malware stage's clamd and clamscan
        assert re.search(rf"apt-get install .*\b{package}\b", text)


def test_dockerfile_python_dependencies_resolve_from_pypi(tmp_path):
    """The Dockerfile's install of the wheel with ``[gcp]``, resolved by pip against PyPI for CPython 3.11 on Linux
    (the image's; some requirements, e.g. google-apitools 0.5.31, exist only as source, so pip must run on 3.11)."""
    if sys.version_info[:2] != (3, 11) or not sys.platform.startswith("linux"):
        pytest.skip("the image runs CPython 3.11 on Linux: resolve with that interpreter")
    project = _pyproject()["project"]
    requirements = [*project["dependencies"], *project["optional-dependencies"]["gcp"]]
    (tmp_path / "requirements.txt").write_text("\n".join(requirements) + "\n")
    report = tmp_path / "report.json"
    # --isolated: PyPI alone, as in the image (no local indexes, constraints or find-links of this machine)
    command = [
        sys.executable,
        "-m",
        "pip",
        "--isolated",
        "install",
        "--dry-run",
        "--ignore-installed",
        "--quiet",
        "--report",
        str(report),
        "-r",
        str(tmp_path / "requirements.txt"),
    ]
    done = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    resolved = {
        item["metadata"]["name"].lower().replace("_", "-"): item["metadata"]["version"]
        for item in json.loads(report.read_text())["install"]
    }
    assert resolved["apache-beam"].startswith("2.77.")
    for name in ("google-cloud-dataflow-client", "google-apitools", "scancode-toolkit", "numba", "rensa"):
        assert name in resolved, name
    wanted = {re.split(r"[<>=!~\[; ]", r, maxsplit=1)[0].lower().replace("_", "-") for r in requirements}
    assert wanted <= set(resolved), wanted - set(resolved)


# -- (c) the Flex Template --------------------------------------------------------------------------


def _build_options() -> dict:
    """stack-v2 build's options: {option string: argparse action}."""
    parser = build_parser()
    sub = next(a for a in parser._actions if a.dest == "command")
    build = sub.choices["build"]
    return {s: a for a in build._actions for s in a.option_strings if s.startswith("--")}


def test_flex_template_metadata_parameters_are_the_build_options():
    metadata = json.loads((DATAFLOW / "metadata.json").read_text())
    assert metadata["name"] and metadata["description"]
    params = {p["name"]: p for p in metadata["parameters"]}
    assert len(params) == len(metadata["parameters"])
    options = _build_options()
    for name, p in params.items():
        assert re.fullmatch(r"[a-z][a-z0-9_]*", name) and p["label"] and p["helpText"], name
        assert df.BUILD_OPTIONS[name] in options, name
        required = options[df.BUILD_OPTIONS[name]].required
        assert p.get("isOptional", False) is not required, name
        for regex in p.get("regexes", []):
            re.compile(regex)
    # every build option a job can use has a parameter (--quiet and --help are for terminals; a template
    # launch never waits, so --no-wait is implied)
    assert {o for o in options if o not in ("--help", "--quiet", "--no-wait")} == {df.BUILD_OPTIONS[n] for n in params}
    assert set(df.BUILD_OPTIONS) == set(params)
    archive = params["archive"]["regexes"][0]
    assert re.fullmatch(archive, "s3://softwareheritage") and re.fullmatch(archive, "/mnt/archive")
    assert not re.fullmatch(archive, "gs://bucket/archive")  # ArchiveLocation reads local paths and s3:// only
    swhid = params["swhid"]["regexes"][0]
    assert re.fullmatch(swhid, f"swh:1:rev:{'a' * 40};origin=https://github.com/x/y,swh:1:snp:{'b' * 40}")


def test_flex_parameters_become_the_cli_request(tmp_path):
    optouts = tmp_path / "optouts.jsonl"
    optouts.write_text(json.dumps({"owner": "octocat", "repos": "all", "received": "2023-11-20"}) + "\n")
    argv = [
        "--archive=s3://softwareheritage",
        "--graph=s3://softwareheritage/graph/2023-09-06",
        "--unsigned=true",
        "--output=gs://b/out",
        "--pipeline=the-stack-v2-smol",
        "--origin=https://github.com/a/b, https://github.com/c/d",
        f"--optouts={optouts}",
        "--repo_metadata=",
        "--project=p",
        "--region=us-central1",
        f"--sdk_container_image={IMAGE}",
        "--temp_location=gs://b/tmp",
    ]
    cli_args = df.flex_arguments(argv)
    assert "--unsigned" in cli_args and "--origin=https://github.com/c/d" in cli_args
    request, beam_args = df.build_request(cli_args)
    assert request.location.uri == "s3://softwareheritage" and request.location.unsigned
    assert request.location.graph_uri == "s3://softwareheritage/graph/2023-09-06"
    assert list(request.origins) == ["https://github.com/a/b", "https://github.com/c/d"]
    assert request.output_dir == "gs://b/out" and request.recipe.name == "the-stack-v2-smol"
    assert [r.owner for r in request.optouts] == ["octocat"]
    assert beam_args == [
        "--project=p",
        "--region=us-central1",
        f"--sdk_container_image={IMAGE}",
        "--temp_location=gs://b/tmp",
    ]
    assert df.flex_arguments(["--unsigned=false", "--origin="]) == []
    # deploy/dataflow/main.py is the Flex Template's program and hands its arguments to flex_main
    main_py = (DATAFLOW / "main.py").read_text()
    compile(main_py, "main.py", "exec")
    assert "from stack_v2.dataflow import flex_main" in main_py and "flex_main(sys.argv[1:])" in main_py


def test_gcloud_accepts_the_template_spec(tmp_path):
    """gcloud's own parser of the metadata (``--print-only`` writes nothing, needs no credentials)."""
    gcloud = shutil.which("gcloud")
    if gcloud is None:
        pytest.skip("gcloud (Google Cloud SDK) is not installed; it cannot be installed from PyPI or Debian")
    env = {
        **os.environ,
        "CLOUDSDK_CONFIG": str(tmp_path / "gcloud"),
        "CLOUDSDK_CORE_DISABLE_PROMPTS": "1",
        "CLOUDSDK_CORE_DISABLE_USAGE_REPORTING": "true",
        "CLOUDSDK_COMPONENT_MANAGER_DISABLE_UPDATE_CHECK": "true",
    }
    done = subprocess.run(
        [
            gcloud,
            "dataflow",
            "flex-template",
            "build",
            "gs://stack-v2-offline/templates/t.json",
            "--image",
            IMAGE,
            "--sdk-language",
            "PYTHON",
            "--metadata-file",
            str(DATAFLOW / "metadata.json"),
            "--print-only",
            "--project",
            "stack-v2-offline",
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    spec = json.loads(done.stdout[done.stdout.index("{") :])
    assert spec["image"] == IMAGE and spec["sdkInfo"]["language"] == "PYTHON"
    metadata = json.loads((DATAFLOW / "metadata.json").read_text())
    assert [p["name"] for p in spec["metadata"]["parameters"]] == [p["name"] for p in metadata["parameters"]]
