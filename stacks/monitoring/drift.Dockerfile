# The drift job image: runs `mlplatform drift run --model <name>` (the drift CronJob of each served model gives
# only the arguments: the entry point is `mlplatform`).
#
# It needs no build context: it installs the released package. The generated `platform-images.yml` workflow
# (`mlplatform ci render`) builds it and pushes it to the stack's `images` ECR repository (immutable tags, so the
# tag pins one digest) under the tag the stack deploys, components/versions.py DRIFT_JOB_TAG; by hand:
#
#   REPO=$(mlplatform outputs --json | jq -r .repository_urls.images)
#   aws ecr get-login-password | docker login --username AWS --password-stdin "${REPO%%/*}"
#   python -c "import importlib.resources as r; print(r.files('mlplatform.stacks.monitoring')
#              .joinpath('drift.Dockerfile').read_text(), end='')" | docker build -t "$REPO:drift-job-0.1.0" -
#   docker push "$REPO:drift-job-0.1.0"
#
# Only what the job imports is installed (no Pulumi): the package without its dependencies, the `drift` extra
# (Evidently, pandas, the Pushgateway client, psycopg) and boto3, cryptography, click, rich, pydantic, PyYAML and
# croniter (the drift settings check their schedule), in the ranges pyproject.toml pins.
ARG BASE=python:3.12.8-slim-bookworm
FROM ${BASE}
ARG MLPLATFORM="mlplatform==0.1.0"
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1 \
    MPLCONFIGDIR=/tmp HOME=/tmp
RUN pip install --no-deps "$MLPLATFORM" \
 && pip install "evidently==0.7.23" "pandas>=2.2,<3" "prometheus-client==0.26.0" "psycopg[binary]==3.3.9" \
        "boto3>=1.34,<2" "cryptography>=42" "click>=8.1,<9" "rich>=13,<16" "pydantic>=2.7,<3" "pyyaml>=6,<7" \
        "croniter>=6,<8" \
 && groupadd --gid 65532 drift && useradd --uid 65532 --gid 65532 --no-create-home --shell /usr/sbin/nologin drift
USER 65532:65532
ENTRYPOINT ["mlplatform"]
CMD ["drift", "run", "--help"]
