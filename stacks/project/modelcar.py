"""A model as a "modelcar": the folder layout a serving image holds, and MLServer's settings for it.

A modelcar is an OCI image whose layers hold the model under `/models/<name>/` (an MLflow model folder:
`MLmodel`, the flavour's files, `requirements.txt`) plus MLServer's `model-settings.json`, on a minimal
base (versions.MODELCAR_BASE_IMAGE). The kubelet pulls it with the node's ECR rights, the pod status
reports its digest, and KServe's OCI storage or a Kubernetes image volume can mount the same image
later. The `mlflow` runtime container (MLServer, versions.MLSERVER) reads `/models` from it.

`layout()` writes that tree into a folder (what `train-evaluate.yml` turns into the image, and what the
tests and the benchmark serve from); `mlserver_settings()` is the server-wide settings.json.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

MODELS_ROOT = "/models"
RUNTIME_CLASS = "mlplatform_runtime.MLflowRuntime"  # stacks/templates/serving/mlplatform_runtime.py
RUNTIME_MODULE_DIR = Path(__file__).resolve().parents[1] / "templates" / "serving"


def model_settings(name: str, version: str) -> dict[str, Any]:
    """MLServer's model-settings.json for the MLflow model in the same folder, served through the
    platform's runtime class. The uri is relative (MLServer resolves it against the settings file), so
    the tree works wherever it is mounted or copied (`/models`, an init container's `/mnt/models`)."""
    return {"name": name, "implementation": RUNTIME_CLASS, "parameters": {"uri": "./", "version": version}}


def mlserver_settings(
    host: str = "0.0.0.0",  # in a pod: the pod IP; tests and benchmarks pass 127.0.0.1
    http_port: int = 8080,
    grpc_port: int = 8081,
    metrics_port: int = 8082,
) -> dict[str, Any]:
    """settings.json: one process per replica (parallel_workers 0: a 1-CPU pod gains nothing from a
    worker pool but an extra hop; scale with replicas), metrics on their own port for the PodMonitor."""
    return {
        "host": host,
        "http_port": http_port,
        "grpc_port": grpc_port,
        "metrics_port": metrics_port,
        "metrics_endpoint": "/metrics",
        "parallel_workers": 0,
        "load_models_at_startup": True,
    }


def layout(model_dir: Path, root: Path, name: str, version: str) -> Path:
    """Copy an MLflow model folder to `root/models/<name>/` with its model-settings.json; return it.
    `root/models` is the image's `/models` (MLServer: `mlserver start /models`)."""
    if not (model_dir / "MLmodel").is_file():
        raise FileNotFoundError(f"{model_dir}: no MLmodel file; give the folder mlflow logged or saved")
    dest = root / "models" / name
    shutil.copytree(model_dir, dest, dirs_exist_ok=True)
    settings = model_settings(name, version)
    (dest / "model-settings.json").write_text(json.dumps(settings, indent=1) + "\n")
    return dest
