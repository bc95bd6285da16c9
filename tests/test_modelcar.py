"""The modelcar layout and the `mlflow` runtime image's pins."""

from __future__ import annotations

import json
import re
import tomllib
from pathlib import Path

import pytest

from mlplatform.components import versions
from mlplatform.stacks.project import modelcar

PACKAGE_VERSION = tomllib.loads((Path(__file__).parents[1] / "pyproject.toml").read_text())["project"]["version"]


def test_layout_puts_the_model_under_models_with_relative_settings(tmp_path):
    model = tmp_path / "m"
    model.mkdir()
    (model / "MLmodel").write_text("flavors: {}\n")
    (model / "model.skops").write_bytes(b"x")
    dest = modelcar.layout(model, tmp_path / "car", "churn", "7")
    assert dest == tmp_path / "car" / "models" / "churn"
    assert (dest / "MLmodel").is_file() and (dest / "model.skops").is_file()
    settings = json.loads((dest / "model-settings.json").read_text())
    assert settings == {
        "name": "churn",
        "implementation": "mlplatform_runtime.MLflowRuntime",
        "parameters": {"uri": "./", "version": "7"},
    }
    assert (modelcar.RUNTIME_MODULE_DIR / "mlplatform_runtime.py").is_file()


def test_layout_refuses_a_folder_without_mlmodel(tmp_path):
    with pytest.raises(FileNotFoundError, match="no MLmodel file"):
        modelcar.layout(tmp_path, tmp_path / "car", "churn", "1")


def test_runtime_image_pins_match_versions():
    text = (modelcar.RUNTIME_MODULE_DIR / "mlserver.Dockerfile").read_text()
    args = dict(re.findall(r"^ARG (\w+)=(\S+)$", text, re.M))
    assert args == {
        "BASE": versions.SERVING_BASE_IMAGE,
        "MLSERVER": versions.MLSERVER,
        "MLSERVER_MLFLOW": versions.MLSERVER_MLFLOW,
        "MLFLOW": versions.MLFLOW_CLIENT,
        "SCIKIT_LEARN": versions.SERVING_SCIKIT_LEARN,
        "MLPLATFORM": f"mlplatform=={PACKAGE_VERSION}",  # the prediction-log hook, without dependencies
    }
    assert versions.SERVING_MLSERVER_TAG in text and versions.SERVING_MLSERVER_TAG.endswith(f"-mlplatform-{PACKAGE_VERSION}")
    deps = tomllib.loads((Path(__file__).parents[1] / "pyproject.toml").read_text())["project"]["dependencies"]
    for name in ("boto3", "pydantic"):  # what the hook imports besides the standard library and MLServer
        (pin,) = [d for d in deps if d.lower().startswith(name)]
        assert f'"{pin}"' in text, f"{pin} differs between pyproject.toml and mlserver.Dockerfile"
    assert "USER 1000:1000" in text


def _base_layout(path, media_type=modelcar.OCI_MANIFEST):
    """An OCI image layout holding a one-layer base image tagged `base` (what `oras cp --to-oci-layout` makes)."""
    import gzip
    import io
    import tarfile

    plain = io.BytesIO()
    with tarfile.open(fileobj=plain, mode="w") as tar:
        info = tarfile.TarInfo("bin/sh")
        info.size = 4
        tar.addfile(info, io.BytesIO(b"#!sh"))
    layer = gzip.compress(plain.getvalue())
    import hashlib

    config = json.dumps({"architecture": "amd64", "os": "linux", "rootfs": {"type": "layers", "diff_ids": [
        "sha256:" + hashlib.sha256(plain.getvalue()).hexdigest()]}, "history": [{"created_by": "base"}]}).encode()
    (path / "blobs" / "sha256").mkdir(parents=True)
    layer_d, config_d = modelcar._blob(path, layer), modelcar._blob(path, config)
    manifest = json.dumps({"schemaVersion": 2, "mediaType": media_type,
                           "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": config_d,
                                      "size": len(config)},
                           "layers": [{"mediaType": modelcar.LAYER_TYPES[media_type], "digest": layer_d,
                                       "size": len(layer)}]}).encode()
    m = modelcar._blob(path, manifest)
    (path / "oci-layout").write_text('{"imageLayoutVersion": "1.0.0"}')
    (path / "index.json").write_text(json.dumps({"schemaVersion": 2, "manifests": [
        {"mediaType": media_type, "digest": m, "size": len(manifest), "annotations": {modelcar.REF_NAME: "base"}}]}))
    return layer_d


@pytest.mark.parametrize("media_type", [modelcar.OCI_MANIFEST, modelcar.DOCKER_MANIFEST])
def test_the_modelcar_image_is_the_base_plus_one_layer_with_models(tmp_path, media_type):
    import gzip
    import hashlib
    import io
    import tarfile

    layout = tmp_path / "layout"
    base_layer = _base_layout(layout, media_type)
    model = tmp_path / "m"
    model.mkdir()
    (model / "MLmodel").write_text("flavors: {}\n")
    root = tmp_path / "root"
    modelcar.layout(model, root, "churn", "run-abc")
    digest = modelcar.add_models_layer(layout, "base", root, "churn-run-abc", {"mlflow.run_id": "abc"})
    # every blob is stored under its own digest
    for blob in (layout / "blobs" / "sha256").iterdir():
        assert hashlib.sha256(blob.read_bytes()).hexdigest() == blob.name
    index = json.loads((layout / "index.json").read_text())
    [entry] = [m for m in index["manifests"] if m["annotations"][modelcar.REF_NAME] == "churn-run-abc"]
    assert entry["digest"] == digest and entry["mediaType"] == media_type
    manifest = json.loads(modelcar._read_blob(layout, digest))
    assert [layer["digest"] for layer in manifest["layers"]][0] == base_layer and len(manifest["layers"]) == 2
    assert manifest["layers"][1]["mediaType"] == modelcar.LAYER_TYPES[media_type]
    assert ("annotations" in manifest) == (media_type == modelcar.OCI_MANIFEST)
    plain = gzip.decompress(modelcar._read_blob(layout, manifest["layers"][1]["digest"]))
    config = json.loads(modelcar._read_blob(layout, manifest["config"]["digest"]))
    assert config["rootfs"]["diff_ids"][1] == "sha256:" + hashlib.sha256(plain).hexdigest()
    assert len(config["history"]) == 2
    with tarfile.open(fileobj=io.BytesIO(plain)) as tar:
        members = {m.name: m for m in tar.getmembers()}
    assert {"models", "models/churn", "models/churn/MLmodel", "models/churn/model-settings.json"} <= set(members)
    assert members["models/churn/MLmodel"].mode == 0o644 and members["models/churn"].mode == 0o755
    assert members["models/churn/MLmodel"].uid == 0 and members["models/churn/MLmodel"].mtime == 0
    # reproducible: the same model gives the same image digest
    assert modelcar.add_models_layer(layout, "base", root, "again", {"mlflow.run_id": "abc"}) == digest


def test_a_layout_without_the_base_is_refused(tmp_path):
    layout = tmp_path / "layout"
    _base_layout(layout)
    with pytest.raises(LookupError, match="no single image tagged 'busybox'"):
        modelcar.add_models_layer(layout, "busybox", tmp_path, "t")
