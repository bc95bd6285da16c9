"""The modelcar layout and the `mlflow` runtime image's pins."""

from __future__ import annotations

import json
import re

import pytest

from mlplatform.components import versions
from mlplatform.stacks.project import modelcar


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
    }
    assert versions.SERVING_MLSERVER_TAG in text
    assert "USER 1000:1000" in text
