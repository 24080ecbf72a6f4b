#!/usr/bin/env bash
# stack-v2 on a Spark cluster through Beam's portable Spark job server. Run from the repository root:
#   deploy/spark/spark.sh STEP
#
#   job-server        Beam's Spark 3 job server in Docker (apache/beam_spark3_job_server), on this machine
#   job-server-jar    the same from the jar (java -jar beam-runners-spark-3-job-server-2.77.0.jar)
#   worker-pool       on each Spark worker host: the SDK harness pool (EXTERNAL environment), shared paths mounted
#   build             stack-v2 build --runner PortableRunner against the job server
#
# Settings (environment):
#   SPARK_MASTER   spark://HOST:7077 (required for the job server)
#   IMAGE          the SDK container: deploy/dataflow/Dockerfile's image works (Beam's boot entrypoint)
#   ENVIRONMENT    EXTERNAL (default: a worker pool per Spark worker host, started by `worker-pool`) or DOCKER
#                  (each executor starts IMAGE itself; Docker needed on every Spark worker host)
#   SHARED         a directory every host mounts at the same path (NFS, ...): the archive and the output
#   ARCHIVE        default $SHARED/archive (or s3://...)   OUTPUT  default $SHARED/datasets/the-stack-v2
#   RECIPE         default the-stack-v2   JOB_ENDPOINT localhost:8099   PARALLELISM  SDK processes per worker host
set -euo pipefail
cd "$(dirname "$0")/../.."

step=${1:?"usage: $0 job-server|job-server-jar|worker-pool|build"}
BEAM_VERSION=2.77.0
IMAGE=${IMAGE:-stack-v2:latest}
ENVIRONMENT=${ENVIRONMENT:-EXTERNAL}
SHARED=${SHARED:-/mnt/stack-v2}
ARCHIVE=${ARCHIVE:-$SHARED/archive}
OUTPUT=${OUTPUT:-$SHARED/datasets/the-stack-v2}
RECIPE=${RECIPE:-the-stack-v2}
JOB_ENDPOINT=${JOB_ENDPOINT:-localhost:8099}
ARTIFACT_ENDPOINT=${ARTIFACT_ENDPOINT:-${JOB_ENDPOINT%:*}:8098}
PARALLELISM=${PARALLELISM:-0}   # 0: the runner decides (one per core)
WORKER_POOL_PORT=50000   # fixed by Beam's boot program in --worker_pool mode
JAR=${JAR:-beam-runners-spark-3-job-server-$BEAM_VERSION.jar}

case "$step" in
  job-server)
    : "${SPARK_MASTER:?set SPARK_MASTER=spark://HOST:7077}"
    exec docker run --rm --net=host -v /tmp/beam-artifact-staging:/tmp/beam-artifact-staging \
      "apache/beam_spark3_job_server:$BEAM_VERSION" \
      --spark-master-url="$SPARK_MASTER" --job-port=8099 --artifact-port=8098 --expansion-port=8097
    ;;
  job-server-jar)
    : "${SPARK_MASTER:?set SPARK_MASTER=spark://HOST:7077}"
    # from Maven Central: org/apache/beam/beam-runners-spark-3-job-server/$BEAM_VERSION/$JAR
    exec java --add-opens=java.base/sun.nio.ch=ALL-UNNAMED --add-opens=java.base/java.nio=ALL-UNNAMED \
      --add-opens=java.base/java.util=ALL-UNNAMED --add-opens=java.base/java.lang.invoke=ALL-UNNAMED \
      -jar "$JAR" --spark-master-url "$SPARK_MASTER" --job-port 8099 --artifact-port 8098 --expansion-port 8097
    ;;
  worker-pool)
    # Beam's boot program in pool mode: it starts SDK harness processes on request from the executors.
    exec docker run --rm --net=host -v "$SHARED:$SHARED" "$IMAGE" --worker_pool
    ;;
  build)
    if [ "$ENVIRONMENT" = EXTERNAL ]; then
      environment=(--environment_type EXTERNAL --environment_config "localhost:$WORKER_POOL_PORT")
    else
      environment=(--environment_type DOCKER --environment_config "$IMAGE")
    fi
    exec stack-v2 build --archive "$ARCHIVE" --output "$OUTPUT" --pipeline "$RECIPE" \
      --runner PortableRunner --job_endpoint "$JOB_ENDPOINT" --artifact_endpoint "$ARTIFACT_ENDPOINT" \
      "${environment[@]}" --sdk_worker_parallelism "$PARALLELISM"
    ;;
  *)
    echo "unknown step $step: job-server|job-server-jar|worker-pool|build" >&2
    exit 2
    ;;
esac
