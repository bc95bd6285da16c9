# The `mlflow` runtime image: MLServer with its MLflow runtime and the MLflow the models are logged with,
# plus mlplatform_runtime.py (the platform's model metric and prediction hook) and the mlplatform package
# without its dependencies (no Pulumi): its `mlplatform.prediction` entry point is the served model's
# prediction log (components/serving/prediction_hook.py; boto3 and pydantic are all it needs besides).
# Build context: this folder (stacks/templates/serving/). Push it to the stack's `images` ECR repository under
# components/versions.py SERVING_MLSERVER_TAG (immutable tags: the tag pins one digest):
#
#   REPO=$(mlplatform outputs --json | jq -r .repository_urls.images)
#   docker build -t "$REPO:mlserver-1.7.1-mlflow-3.15.1-mlplatform-0.1.0" stacks/templates/serving -f stacks/templates/serving/mlserver.Dockerfile
#   docker push "$REPO:mlserver-1.7.1-mlflow-3.15.1-mlplatform-0.1.0"
#
# (From a checkout of mlplatform: build a wheel, serve or copy it, and pass --build-arg MLPLATFORM=<wheel URL>.)
#
# The model is not in this image: the modelcar (an image holding /models/<name>/ with model-settings.json)
# brings it, and the server starts with `mlserver start /models` (or where the pod mounts or copies it).
# A model whose flavour needs more libraries (xgboost, lightgbm, torch) needs them here: add them pinned,
# as the model's requirements.txt names them, and give the image its own tag.
ARG BASE=python:3.12.8-slim-bookworm
FROM ${BASE}
ARG MLSERVER=1.7.1
ARG MLSERVER_MLFLOW=1.7.1
ARG MLFLOW=3.15.1
ARG SCIKIT_LEARN=1.9.1
ARG MLPLATFORM=mlplatform==0.1.0
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONPATH=/opt/mlplatform MLSERVER_PARALLEL_WORKERS=0 MLSERVER_METRICS_PORT=8082 \
    MLSERVER_GZIP_ENABLED=false MLSERVER_DEBUG=false
RUN pip install "mlserver==${MLSERVER}" "mlserver-mlflow==${MLSERVER_MLFLOW}" "mlflow==${MLFLOW}" "scikit-learn==${SCIKIT_LEARN}" \
        "boto3>=1.34,<2" "pydantic>=2.7,<3" \
 && pip install --no-deps "${MLPLATFORM}" \
 && groupadd --gid 1000 mlserver && useradd --uid 1000 --gid 1000 --no-create-home --shell /usr/sbin/nologin mlserver
COPY mlplatform_runtime.py /opt/mlplatform/mlplatform_runtime.py
USER 1000:1000
EXPOSE 8080 8081 8082
CMD ["mlserver", "start", "/models"]
