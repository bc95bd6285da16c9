"""The modelcar push for real: the image layout train-evaluate.yml builds (a base image plus one layer with
/models, `stacks/project/modelcar.add_models_layer`) copied into a real registry on 127.0.0.1 (Debian's
`docker-registry`, the CNCF Distribution registry 2.8) and read back by digest, as the kubelet pulls it.

The workflow pushes with `oras cp --from-oci-layout LAYOUT:TAG REPO:TAG` and checks the digest with `oras
manifest fetch --descriptor`. oras is not packaged in Debian (nor on PyPI as a CLI), so this test copies the
same layout with Debian's skopeo (`copy --preserve-digests`, which fails rather than rewrite a manifest):
what it proves is that the layout our code writes is an image a registry accepts, that its manifest
digest (the ledger's subject) is the one the registry serves, and that the models layer holds the model.
The oras command lines themselves still only run in the workflow. `.ci/tools.sh` unpacks both tools."""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
import subprocess
import tarfile
import urllib.request
from pathlib import Path

import pytest
from realtools import tool
from serving_servers import free_port, stop, wait_http
from test_modelcar import _base_layout

from mlplatform.stacks.project import modelcar

REPO = "mlplatform/dev/models"


@pytest.fixture(scope="module")
def registry(tmp_path_factory):
    binary = tool("docker-registry")
    tmp = tmp_path_factory.mktemp("registry")
    port = free_port()
    config = {"version": 0.1, "log": {"level": "error"}, "http": {"addr": f"127.0.0.1:{port}"},
              "storage": {"filesystem": {"rootdirectory": str(tmp / "data")}, "delete": {"enabled": False}}}  # fmt: skip
    (tmp / "config.yml").write_text(json.dumps(config))  # YAML is a superset of JSON
    log = tmp / "registry.log"
    with log.open("wb") as out:
        proc = subprocess.Popen([binary, "serve", str(tmp / "config.yml")], stdout=out, stderr=subprocess.STDOUT)
    try:
        wait_http(f"http://127.0.0.1:{port}/v2/", proc, log, timeout=30)
        yield f"127.0.0.1:{port}"
    finally:
        stop(proc)


def skopeo(tmp_path, *args: str) -> subprocess.CompletedProcess[str]:
    binary = tool("skopeo")
    policy = tmp_path / "policy.json"
    policy.write_text(json.dumps({"default": [{"type": "insecureAcceptAnything"}]}))
    # Unpacked by .ci/tools.sh with the one library the machine lacks (libgpgme) beside it.
    libs = Path(binary).parent.parent / "lib" / "x86_64-linux-gnu"
    env = {**os.environ, "LD_LIBRARY_PATH": str(libs), "REGISTRY_AUTH_FILE": str(tmp_path / "auth.json")}
    return subprocess.run([binary, "--policy", str(policy), *args], capture_output=True, text=True, env=env,
                          timeout=120, check=False)  # fmt: skip


def _get(url: str, accept: str = "") -> tuple[bytes, dict[str, str]]:
    req = urllib.request.Request(url, headers={"Accept": accept} if accept else {})
    with urllib.request.urlopen(req, timeout=30) as r:
        return r.read(), dict(r.headers)


def test_the_modelcar_is_pushed_and_pulled_back_by_the_digest_the_ledger_records(registry, tmp_path):
    # An OCI base. A Docker schema 2 base, which add_models_layer also handles (test_modelcar), cannot be
    # pushed from a layout by skopeo 1.9: its oci: transport only reads index entries of OCI media types
    # ("no descriptor found for reference"); that case still rests on oras in the workflow.
    media_type = modelcar.OCI_MANIFEST
    layout = tmp_path / "layout"
    _base_layout(layout, media_type)
    model = tmp_path / "model"
    model.mkdir()
    (model / "MLmodel").write_text("flavors: {}\n")
    (model / "model.skops").write_bytes(b"weights")
    root = tmp_path / "root"
    modelcar.layout(model, root, "churn", "run-abc")
    tag = "churn-run-abc"
    digest = modelcar.add_models_layer(layout, "base", root, tag, {"mlflow.run_id": "abc"})

    dest = f"docker://{registry}/{REPO}:{tag}"
    pushed = skopeo(tmp_path, "copy", "--preserve-digests", "--dest-tls-verify=false", f"oci:{layout}:{tag}", dest)
    assert pushed.returncode == 0, pushed.stderr

    # The registry serves the manifest our code wrote, byte for byte: its digest is the ledger's subject.
    body, headers = _get(f"http://{registry}/v2/{REPO}/manifests/{tag}", accept=media_type)
    assert headers["Docker-Content-Digest"] == digest
    assert "sha256:" + hashlib.sha256(body).hexdigest() == digest
    manifest = json.loads(body)
    assert manifest["mediaType"] == media_type and len(manifest["layers"]) == 2
    # Pulled by digest, as the kubelet does for the Rollout's `image: <repository>@<digest>`.
    by_digest = skopeo(tmp_path, "inspect", "--raw", "--tls-verify=false", f"docker://{registry}/{REPO}@{digest}")
    assert by_digest.returncode == 0, by_digest.stderr
    assert "sha256:" + hashlib.sha256(by_digest.stdout.encode()).hexdigest() == digest
    # The last layer holds /models/<name>/ with the model and MLServer's settings, readable by any user.
    blob, _ = _get(f"http://{registry}/v2/{REPO}/blobs/{manifest['layers'][-1]['digest']}")
    with tarfile.open(fileobj=io.BytesIO(gzip.decompress(blob))) as tar:
        members = {m.name: m for m in tar.getmembers()}
        assert {"models/churn/MLmodel", "models/churn/model.skops", "models/churn/model-settings.json"} <= set(members)
        assert members["models/churn/model.skops"].mode == 0o644
        settings = json.loads(tar.extractfile(members["models/churn/model-settings.json"]).read())  # type: ignore[union-attr]
    assert settings["implementation"] == modelcar.RUNTIME_CLASS
    # And the config the registry holds lists the layer's diff id (what the kubelet verifies on unpack).
    config, _ = _get(f"http://{registry}/v2/{REPO}/blobs/{manifest['config']['digest']}")
    diff_ids = json.loads(config)["rootfs"]["diff_ids"]
    assert diff_ids[-1] == "sha256:" + hashlib.sha256(gzip.decompress(blob)).hexdigest()
