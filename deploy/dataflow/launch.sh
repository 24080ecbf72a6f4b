#!/usr/bin/env bash
# stack-v2 on Dataflow. Run from the repository root:  deploy/dataflow/launch.sh STEP
#
#   setup     enable the APIs, create the Artifact Registry repository and the bucket (once)
#   image     build and push the SDK container / Flex Template image (Cloud Build; LOCAL_DOCKER=1: docker)
#   template  write the Flex Template spec to $TEMPLATE (gcloud dataflow flex-template build)
#   run       start a build from the template (gcloud dataflow flex-template run); the launcher exits once
#             the job is submitted, so then:
#   finish    wait for the job's outputs and turn them into the dataset (stack-v2 finish $OUTPUT --wait ...)
#   direct    the same build submitted from this machine: stack-v2 build --runner DataflowRunner ... (waits)
#   graph     make and check the job request offline, nothing submitted (python -m stack_v2.dataflow graph)
#
# Settings (environment): PROJECT, REGION, BUCKET are required (graph needs none of them to exist).
#   ARCHIVE   default s3://softwareheritage (with GRAPH=s3://softwareheritage/graph/2023-09-06 and UNSIGNED=true)
#   OUTPUT    default gs://$BUCKET/datasets/the-stack-v2   RECIPE  default the-stack-v2   ORIGINS  comma-separated
#   MACHINE_TYPE n2-highmem-4   NUM_WORKERS 10   MAX_WORKERS 100   DISK_SIZE_GB 50
#   REPOSITORY stack-v2   TAG (git short hash)   IMAGE, TEMPLATE (derived)   FLEXRS=1: FlexRS (cheaper, delayed start)
set -euo pipefail
cd "$(dirname "$0")/../.."

step=${1:?"usage: $0 setup|image|template|run|finish|direct|graph"}
PROJECT=${PROJECT:-stack-v2-offline}
REGION=${REGION:-us-central1}
BUCKET=${BUCKET:-stack-v2-offline}
REPOSITORY=${REPOSITORY:-stack-v2}
TAG=${TAG:-$(git rev-parse --short HEAD 2>/dev/null || date +%Y%m%d-%H%M%S)}
IMAGE=${IMAGE:-$REGION-docker.pkg.dev/$PROJECT/$REPOSITORY/stack-v2:$TAG}
TEMPLATE=${TEMPLATE:-gs://$BUCKET/templates/stack-v2-$TAG.json}
ARCHIVE=${ARCHIVE:-s3://softwareheritage}
GRAPH=${GRAPH-s3://softwareheritage/graph/2023-09-06}  # GRAPH= (empty): <archive>/graph
UNSIGNED=${UNSIGNED:-true}
OUTPUT=${OUTPUT:-gs://$BUCKET/datasets/the-stack-v2}
RECIPE=${RECIPE:-the-stack-v2}
ORIGINS=${ORIGINS:-}
MACHINE_TYPE=${MACHINE_TYPE:-n2-highmem-4}
NUM_WORKERS=${NUM_WORKERS:-10}
MAX_WORKERS=${MAX_WORKERS:-100}
DISK_SIZE_GB=${DISK_SIZE_GB:-50}
JOB_NAME=${JOB_NAME:-stack-v2-$(date +%Y%m%d-%H%M%S)}

case "$step" in
  setup|image|template|run|finish|direct)
    if [ "$PROJECT" = stack-v2-offline ] || [ "$BUCKET" = stack-v2-offline ]; then
      echo "set PROJECT, REGION and BUCKET for '$step' (the defaults are only for the offline 'graph' step)" >&2
      exit 2
    fi ;;
esac

# stack-v2 build's options, as command-line options (direct, graph) or template parameters (run)
build_options=(--archive "$ARCHIVE" --output "$OUTPUT" --pipeline "$RECIPE")
params="archive=$ARCHIVE~output=$OUTPUT~pipeline=$RECIPE"
if [ -n "$GRAPH" ]; then build_options+=(--graph "$GRAPH"); params+="~graph=$GRAPH"; fi
if [ "$UNSIGNED" = true ]; then build_options+=(--unsigned); params+="~unsigned=true"; fi
if [ -n "$ORIGINS" ]; then
  IFS=, read -ra origins <<< "$ORIGINS"
  for o in "${origins[@]}"; do build_options+=(--origin "$o"); done
  params+="~origin=$ORIGINS"
fi
# Dataflow's options, as Beam pipeline options (direct, graph)
dataflow_options=(--runner DataflowRunner --project "$PROJECT" --region "$REGION"
  --temp_location "gs://$BUCKET/tmp" --staging_location "gs://$BUCKET/staging"
  --sdk_container_image "$IMAGE" --num_workers "$NUM_WORKERS" --max_num_workers "$MAX_WORKERS"
  --machine_type "$MACHINE_TYPE" --disk_size_gb "$DISK_SIZE_GB" --job_name "$JOB_NAME")
flexrs=()
if [ "${FLEXRS:-0}" = 1 ]; then dataflow_options+=(--flexrs_goal COST_OPTIMIZED); flexrs=(--flexrs-goal COST_OPTIMIZED); fi

case "$step" in
  setup)
    gcloud services enable dataflow.googleapis.com artifactregistry.googleapis.com cloudbuild.googleapis.com \
      --project "$PROJECT"
    gcloud artifacts repositories create "$REPOSITORY" --repository-format docker --location "$REGION" \
      --project "$PROJECT"
    gcloud storage buckets create "gs://$BUCKET" --location "$REGION" --project "$PROJECT" \
      --uniform-bucket-level-access --soft-delete-duration 0
    ;;
  image)
    if [ "${LOCAL_DOCKER:-0}" = 1 ]; then
      gcloud auth configure-docker "$REGION-docker.pkg.dev" --quiet
      docker build -f deploy/dataflow/Dockerfile -t "$IMAGE" .
      docker push "$IMAGE"
    else
      gcloud builds submit --config deploy/dataflow/cloudbuild.yaml --substitutions "_IMAGE=$IMAGE" \
        --project "$PROJECT" --region "$REGION" .
    fi
    echo "image: $IMAGE"
    ;;
  template)
    gcloud dataflow flex-template build "$TEMPLATE" --image "$IMAGE" --sdk-language PYTHON \
      --metadata-file deploy/dataflow/metadata.json --project "$PROJECT"
    echo "template: $TEMPLATE"
    ;;
  run)
    # ^~^ makes ~ the separator between parameters, so a value may hold commas (origin lists)
    gcloud dataflow flex-template run "$JOB_NAME" --template-file-gcs-location "$TEMPLATE" \
      --project "$PROJECT" --region "$REGION" \
      --staging-location "gs://$BUCKET/staging" --temp-location "gs://$BUCKET/tmp" \
      --num-workers "$NUM_WORKERS" --max-workers "$MAX_WORKERS" --worker-machine-type "$MACHINE_TYPE" \
      "${flexrs[@]}" \
      --parameters "^~^$params~sdk_container_image=$IMAGE~disk_size_gb=$DISK_SIZE_GB"
    ;;
  finish)
    # The job's outputs are complete when every shard set and report.json are there; this checks every
    # POLL seconds for up to WAIT seconds, then writes the card and report and replaces the old dataset.
    stack-v2 finish "$OUTPUT" ${RUN_ID:+--run "$RUN_ID"} --wait "${WAIT:-86400}" --poll "${POLL:-300}"
    ;;
  direct)
    stack-v2 build "${build_options[@]}" "${dataflow_options[@]}"
    ;;
  graph)
    python -m stack_v2.dataflow graph "${build_options[@]}" "${dataflow_options[@]}" --job-json "${JOB_JSON:-dataflow-job.json}"
    ;;
  *)
    echo "unknown step $step: setup|image|template|run|finish|direct|graph" >&2
    exit 2
    ;;
esac
