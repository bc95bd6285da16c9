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
    worker pool but an extra hop; scale with replicas), metrics on their own port for the PodMonitor, no
    gzip of the (small) answers, no debug mode (neither changed CPU per request measurably)."""
    return {
        "host": host,
        "http_port": http_port,
        "grpc_port": grpc_port,
        "metrics_port": metrics_port,
        "metrics_endpoint": "/metrics",
        "parallel_workers": 0,
        "load_models_at_startup": True,
        "gzip_enabled": False,
        "debug": False,
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


# -- the modelcar image: the base image plus one layer holding /models ------------------------------------
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
LAYER_TYPES = {OCI_MANIFEST: "application/vnd.oci.image.layer.v1.tar+gzip",
               DOCKER_MANIFEST: "application/vnd.docker.image.rootfs.diff.tar.gzip"}  # fmt: skip
REF_NAME = "org.opencontainers.image.ref.name"


def _blob(layout: Path, data: bytes) -> str:
    import hashlib

    digest = "sha256:" + hashlib.sha256(data).hexdigest()
    path = layout / "blobs" / "sha256" / digest.split(":", 1)[1]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return digest


def _read_blob(layout: Path, digest: str) -> bytes:
    return (layout / "blobs" / digest.replace(":", "/", 1)).read_bytes()


def models_layer(root: Path) -> tuple[bytes, str]:
    """(gzip-compressed tar of `root/models` as `models/...`, the sha256 diff id of the plain tar).

    Reproducible: entries sorted, times 0, owner root, files 0644 and folders 0755 (any user reads them)."""
    import gzip
    import hashlib
    import io
    import tarfile

    plain = io.BytesIO()
    with tarfile.open(fileobj=plain, mode="w", format=tarfile.PAX_FORMAT) as tar:
        base = root / "models"
        for path in [base, *sorted(base.rglob("*"))]:
            info = tar.gettarinfo(str(path), arcname=str(path.relative_to(root)))
            info.mtime, info.uid, info.gid, info.uname, info.gname = 0, 0, 0, "root", "root"
            info.mode = 0o755 if path.is_dir() else 0o644
            if path.is_file():
                with path.open("rb") as f:
                    tar.addfile(info, f)
            else:
                tar.addfile(info)
    data = plain.getvalue()
    return gzip.compress(data, mtime=0), "sha256:" + hashlib.sha256(data).hexdigest()


def add_models_layer(
    layout: Path, base_tag: str, root: Path, tag: str, annotations: dict[str, str] | None = None
) -> str:
    """In the OCI image layout `layout`, which holds the base image tagged `base_tag` (one platform:
    `oras cp --platform linux/amd64 --to-oci-layout BASE layout:base`), write the modelcar image tagged
    `tag`: the base's layers plus one layer with `root/models/`, its config's diff ids and history
    extended. Returns the new manifest's digest (what `oras cp --from-oci-layout layout:tag REPO:tag`
    pushes, and the ledger's subject)."""
    index_path = layout / "index.json"
    index = json.loads(index_path.read_text())
    found = [m for m in index.get("manifests", []) if m.get("annotations", {}).get(REF_NAME) == base_tag]
    if len(found) != 1:
        raise LookupError(f"{layout}: no single image tagged {base_tag!r} (copy the base with oras cp --platform)")
    base = json.loads(_read_blob(layout, found[0]["digest"]))
    media_type = base.get("mediaType", found[0].get("mediaType"))
    if media_type not in LAYER_TYPES:
        raise ValueError(f"{base_tag}: {media_type} is not one platform's image manifest (use oras cp --platform)")
    layer, diff_id = models_layer(root)
    config = json.loads(_read_blob(layout, base["config"]["digest"]))
    config.setdefault("rootfs", {"type": "layers", "diff_ids": []})["diff_ids"].append(diff_id)
    config.setdefault("history", []).append(
        {"created": "1970-01-01T00:00:00Z", "created_by": "mlplatform modelcar: /models"}
    )
    config_bytes = json.dumps(config, separators=(",", ":")).encode()
    manifest = {
        **base,
        "config": {**base["config"], "digest": _blob(layout, config_bytes), "size": len(config_bytes)},
        "layers": [
            *base["layers"],
            {"mediaType": LAYER_TYPES[media_type], "digest": _blob(layout, layer), "size": len(layer)},
        ],
    }
    if annotations and media_type == OCI_MANIFEST:
        manifest["annotations"] = {**base.get("annotations", {}), **annotations}
    manifest_bytes = json.dumps(manifest, separators=(",", ":")).encode()
    digest = _blob(layout, manifest_bytes)
    entry = {"mediaType": media_type, "digest": digest, "size": len(manifest_bytes), "annotations": {REF_NAME: tag}}
    index["manifests"] = [m for m in index["manifests"] if m.get("annotations", {}).get(REF_NAME) != tag] + [entry]
    index_path.write_text(json.dumps(index, indent=1) + "\n")
    return digest
