# The evidence observer image: runs `mlplatform evidence observe` (the EvidenceLedger CronJob, every 5 minutes).
#
# It needs no build context: it installs the released package. Build it and push it to the stack's `images`
# ECR repository (immutable tags, so the tag pins one digest) under the tag the stack deploys,
# components/versions.py EVIDENCE_OBSERVER_TAG:
#
#   REPO=$(mlplatform outputs --json | jq -r .repository_urls.images)
#   aws ecr get-login-password | docker login --username AWS --password-stdin "${REPO%%/*}"
#   python -c "import importlib.resources as r; print(r.files('mlplatform.stacks.evidence')
#              .joinpath('observer.Dockerfile').read_text(), end='')" | docker build -t "$REPO:evidence-observer-0.1.0" -
#   docker push "$REPO:evidence-observer-0.1.0"
#
# (From a checkout of mlplatform instead: build a wheel, serve or copy it, and pass --build-arg MLPLATFORM=<wheel URL>.)
# Only what the observer imports is installed (no Pulumi): the package without its dependencies, plus
# boto3, cryptography, click, rich, pydantic and PyYAML in the ranges pyproject.toml pins.
ARG BASE=python:3.12.8-slim-bookworm
FROM ${BASE}
ARG MLPLATFORM="mlplatform==0.1.0"
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
RUN pip install --no-deps "$MLPLATFORM" \
 && pip install "boto3>=1.34,<2" "cryptography>=42" "click>=8.1,<9" "rich>=13,<16" "pydantic>=2.7,<3" "pyyaml>=6,<7" \
 && groupadd --gid 65532 observer && useradd --uid 65532 --gid 65532 --no-create-home --shell /usr/sbin/nologin observer
USER 65532:65532
CMD ["mlplatform", "evidence", "observe"]
