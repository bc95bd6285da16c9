"""A registered model that loads: the generated train-evaluate.yml's training, comparison, download and
registration steps, then model-publish.yml's promotion step, run as written against a REAL MLflow
tracking server (the pinned version, on 127.0.0.1) with a PostgreSQL backend (the machine's, started
here) and its artifacts in S3 (the moto server); then `models:/churn@production` loads and predicts.
The old registration (`create_model_version` of `runs:/<run>/model`) is shown not to load."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import urllib.request
from pathlib import Path

import pytest
import yaml

from mlplatform.stacks.config.spec import load_spec
from mlplatform.stacks.project.ci import WorkflowOptions, render_workflows

import pg_process
from serving_servers import free_port, stop, wait_http


def _missing() -> list[str]:
    """What the test needs that is not installed. Looked up, not imported: everything MLflow runs here
    runs in the server and the workflow steps' own processes, so this process (an xdist worker that
    collects every file) need not import the mlflow server (~4 s) just to collect the test."""
    from importlib.metadata import PackageNotFoundError, distribution

    missing = []
    for dist, why in (("mlflow", "the mlflow server (full mlflow, the test extra)"),
                      ("psycopg2-binary", "psycopg2-binary (the test extra): MLflow's PostgreSQL driver"),
                      ("scikit-learn", "scikit-learn (the test extra): the model the workflow trains")):  # fmt: skip
        try:
            distribution(dist)
        except PackageNotFoundError:
            missing.append(why)
    return missing


_MISSING = _missing()
pytestmark = pytest.mark.skipif(bool(_MISSING), reason=f"not installed: {'; '.join(_MISSING)}")

BIN = Path(sys.executable).parent
BUCKET = "mlflow-artifacts"
DIGEST = "sha256:" + "5e" * 32

TRAIN = textwrap.dedent("""
    import mlflow
    import numpy as np
    import pandas as pd
    from sklearn.linear_model import LogisticRegression

    x = pd.DataFrame(np.random.RandomState(0).rand(200, 4), columns=["f0", "f1", "f2", "f3"])
    y = (x["f0"] > 0.5).astype(int)
    with mlflow.start_run():  # continues the workflow's run (MLFLOW_RUN_ID)
        model = LogisticRegression().fit(x, y)
        mlflow.log_metric("val_loss", 0.2)
        # requirements named, not inferred (MLflow infers them by re-importing the model in a subprocess, ~6 s)
        mlflow.sklearn.log_model(model, name="model", input_example=x.head(2), pip_requirements=["scikit-learn"])
""")


def _load(text: str) -> dict:
    data = yaml.safe_load(text)
    return {("on" if k is True else k): v for k, v in data.items()}


def _step(wf: dict, job: str, name: str) -> dict:
    return next(s for s in wf["jobs"][job]["steps"] if s.get("name", "").startswith(name))


def _literal(env: dict) -> dict:
    return {k: str(v) for k, v in env.items() if "${{" not in str(v)}


@pytest.fixture
def tracking(aws, tmp_path):
    """`mlflow server` on 127.0.0.1: PostgreSQL backend store, artifacts proxied to s3://mlflow-artifacts."""
    import boto3

    boto3.client("s3").create_bucket(Bucket=BUCKET)
    pg = pg_process.start()
    pg.create_database("mlflow")
    dsn = pg.sqlalchemy_url("mlflow")
    port = free_port()
    log = tmp_path / "mlflow-server.log"
    env = {**os.environ, "MLFLOW_S3_ENDPOINT_URL": aws, "MLFLOW_DISABLE_TELEMETRY": "true"}
    with log.open("wb") as out:
        server = subprocess.Popen(
            [str(BIN / "mlflow"), "server", "--backend-store-uri", dsn, "--artifacts-destination",
             f"s3://{BUCKET}/mlflow", "--serve-artifacts", "--host", "127.0.0.1", "--port", str(port),
             "--workers", "1"],
            stdout=out, stderr=subprocess.STDOUT, env=env, start_new_session=True,  # stop() ends its children too
        )
    try:
        wait_http(f"http://127.0.0.1:{port}/health", server, log, timeout=180)
        yield {"url": f"http://127.0.0.1:{port}", "log": log}
    finally:
        stop(server, grace=0)  # its data is in the PostgreSQL deleted next: nothing to shut down gently
        pg_process.stop(pg)


def _bash(script: str, env: dict, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run(["bash", "-e", "-c", script], env=env, cwd=cwd, capture_output=True, text=True, timeout=300)


def _outputs(path: Path) -> dict[str, str]:
    out = dict(line.split("=", 1) for line in path.read_text().splitlines() if "=" in line)
    path.unlink()
    return out


def test_the_workflow_registers_a_model_that_loads_at_production(tracking, tmp_path):
    repo, temp, stubs = tmp_path / "checkout", tmp_path / "runner-temp", tmp_path / "bin"
    for d in (repo, temp, stubs):
        d.mkdir()
    (repo / "train.py").write_text(TRAIN)
    calls = tmp_path / "calls.log"
    # The registry and the ledger are not what this test is about: `oras` and `mlplatform evidence` log
    # their calls; every other command is the real one.
    (stubs / "oras").write_text(f'#!/bin/sh\necho "oras $*" >> {calls}\n[ "$1" = manifest ] && exit 1\nexit 0\n')
    (stubs / "mlplatform").write_text(
        f'#!/bin/sh\nif [ "$1" = evidence ]; then echo "mlplatform $*" >> {calls}; echo "ledger/churn/0001.json"; '
        f'exit 0; fi\nexec {BIN / "mlplatform"} "$@"\n')
    for f in stubs.iterdir():
        f.chmod(0o755)
    output = tmp_path / "output"
    options = WorkflowOptions(model_owners=["@acme/ml-leads"], model_name="churn", train_command="python train.py")
    # Without serving the publish step moves the alias itself; with serving it moves after the canary
    # completed (a cluster this test does not have; tests/test_workflows.py runs that path with stand-ins).
    workflows = render_workflows(load_spec("pragmatic", sets=["serving.enabled=false"]), options)
    wf, publish = _load(workflows["train-evaluate.yml"]), _load(workflows["model-publish.yml"])
    env = {
        **{k: v for k, v in os.environ.items() if k.startswith("AWS_")},
        **_literal(wf["env"]),
        "PATH": f"{stubs}:{BIN}:/usr/bin:/bin", "HOME": str(tmp_path), "RUNNER_TEMP": str(temp),
        "GITHUB_OUTPUT": str(output), "GITHUB_STEP_SUMMARY": str(tmp_path / "summary.md"),
        "GITHUB_SERVER_URL": "https://github.com", "GITHUB_REPOSITORY": "acme/churn", "GITHUB_RUN_ID": "7",
        "GITHUB_SHA": "c0ffee" * 6 + "abcd", "GITHUB_EVENT_NAME": "workflow_dispatch", "GITHUB_REF": "refs/heads/main",
        "GITHUB_WORKFLOW_REF": "acme/churn/.github/workflows/train-evaluate.yml@refs/heads/main",
        "MLFLOW_TRACKING_URI": tracking["url"],
        # MLflow 3.15's telemetry, with no way out of this machine, unsets its session variable from one thread
        # while a request reads it from another (KeyError '_MLFLOW_TELEMETRY_SESSION_ID', now and then)
        "MLFLOW_DISABLE_TELEMETRY": "true",
        "REPOSITORY": "123456789012.dkr.ecr.us-east-1.amazonaws.com/mlplatform/dev/models",
    }
    assert env["MODEL_NAME"] == "churn" and env["MODEL_ARTIFACT_PATH"] == "model"

    def step(workflow: dict, job: str, name: str, **values: str) -> None:
        s = _step(workflow, job, name)
        job_env = workflow["jobs"][job].get("env", {})
        done = _bash(s["run"], {**env, **_literal(job_env), **_literal(s.get("env", {})), **values}, repo)
        assert done.returncode == 0, f"{name}:\n{done.stdout}\n{done.stderr}\n{tracking['log'].read_text()[-2000:]}"

    # train: start the run, train (the training code logs the model with log_model(name="model")), compare
    step(wf, "train", "Start the MLflow run")
    run_id = _outputs(output)["run_id"]
    step(wf, "train", "Train", MLFLOW_RUN_ID=run_id)
    step(wf, "train", "Compare the candidate", MLFLOW_RUN_ID=run_id)
    assert _outputs(output)["promote"] == "true"  # no production yet
    # candidate: download the logged model, (push: stand-in digest), record and register
    step(wf, "candidate", "Download the candidate model", MLFLOW_RUN_ID=run_id)
    model_uri = _outputs(output)["model_uri"]
    assert model_uri.startswith("models:/m-")
    assert (temp / "candidate" / "model" / "MLmodel").is_file()  # what the push step packs
    step(wf, "candidate", "Record provenance", MLFLOW_RUN_ID=run_id, PROMOTE="true", DIGEST=DIGEST,
         OCI_REF=f"{env['REPOSITORY']}@{DIGEST}", MODEL_URI=model_uri)
    assert _outputs(output)["version"] == "1"
    # promotion (model-publish.yml after the release pull request is merged): the alias moves
    (temp / "approval.json").write_text("{}")
    (temp / "releases.json").write_text(json.dumps([{"model": "churn", "version": "1", "digest": DIGEST}]))
    step(publish, "publish", "Tag the artifact")
    assert "alias `production` now points at version 1" in (tmp_path / "summary.md").read_text()

    # The old registration, for contrast: a version whose source is the run path.
    check = textwrap.dedent(f"""
        import json, mlflow, pandas as pd
        from mlflow import MlflowClient
        c = MlflowClient()
        v = c.get_model_version_by_alias("churn", "production")
        x = pd.DataFrame([[0.9, 0.1, 0.1, 0.1], [0.1, 0.9, 0.9, 0.9]], columns=["f0", "f1", "f2", "f3"])
        out = {{"version": v.version, "source": v.source, "run_id": v.run_id, "model_id": v.model_id,
               "digest": v.tags["oci.digest"],
               "predictions": [int(p) for p in mlflow.pyfunc.load_model("models:/churn@production").predict(x)]}}
        old = c.create_model_version("churn", "runs:/{run_id}/model", "{run_id}")
        try:
            mlflow.pyfunc.load_model(f"models:/churn/{{old.version}}")
            out["old_loads"] = True
        except Exception as e:
            out["old_loads"] = False
            out["old_error"] = str(e)[:300]
        print(json.dumps(out))
    """)
    loaded = subprocess.run([sys.executable, "-c", check], env={**env, "PATH": f"{BIN}:/usr/bin:/bin"},
                            capture_output=True, text=True, timeout=300)
    assert loaded.returncode == 0, loaded.stderr
    result = json.loads(loaded.stdout.strip().splitlines()[-1])
    assert result["version"] == "1" and result["digest"] == DIGEST
    assert result["run_id"] == run_id and result["source"] == model_uri  # the logged model, with its run
    assert result["predictions"] == [1, 0]
    assert result["old_loads"] is False, "the runs:/ registration loads: the issue's gap is gone upstream"
    assert [c.split()[3] for c in calls.read_text().splitlines() if c.startswith("mlplatform")] == [
        "provenance", "evaluation", "approval", "deployment"]
    with urllib.request.urlopen(f"{tracking['url']}/health", timeout=5) as r:
        assert r.status == 200
