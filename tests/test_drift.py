"""The drift job against a moto S3 (prediction logs, reference data, the evidence ledger), a real PostgreSQL
(the `monitoring` schema, its own role) and a real Pushgateway; the pushed score fires the shipped
ModelDrift rule in the real promtool."""

from __future__ import annotations

import io
import re
import socket
import subprocess
import time
import urllib.request
from datetime import UTC, date, datetime

import boto3
import numpy as np
import pandas as pd
import pytest
import yaml

import pg_process
from mlplatform.components.serving.prediction_log import PredictionLogger
from mlplatform.stacks.evidence import records as R
from mlplatform.stacks.evidence.ledger import Ledger
from mlplatform.stacks.monitoring import drift, store
from realtools import tool
from test_alert_rules import expand

psycopg = pytest.importorskip("psycopg")

MODEL, DIGEST = "churn", "sha256:" + "cd" * 32
ARTIFACTS, EVIDENCE = "ml-artifacts", "team-evidence"
FEATURES = [f"x{i}" for i in range(5)]
TODAY = date(2026, 12, 7)
MONITORING_PW = "monitoring-role-password-0123456789"


@pytest.fixture(scope="module")
def postgres():
    pg = pg_process.start()
    try:
        with psycopg.connect(pg.dsn(), autocommit=True) as admin:
            admin.execute("CREATE DATABASE mlflow")
        with psycopg.connect(pg.dsn(dbname="mlflow")) as admin:
            admin.execute("CREATE TABLE public.experiments (id int PRIMARY KEY, name text)")  # MLflow's own data
            admin.commit()
            store.setup(admin, MONITORING_PW)
        yield pg
    finally:
        pg_process.stop(pg)


@pytest.fixture
def monitoring_conn(postgres):
    with psycopg.connect(postgres.dsn(user=store.ROLE, password=MONITORING_PW, dbname="mlflow")) as conn:
        yield conn


@pytest.fixture
def env(aws):
    s3 = boto3.client("s3", region_name="us-east-1")
    s3.create_bucket(Bucket=ARTIFACTS)
    s3.put_bucket_versioning(Bucket=ARTIFACTS, VersioningConfiguration={"Status": "Enabled"})
    s3.create_bucket(Bucket=EVIDENCE, ObjectLockEnabledForBucket=True)
    s3.put_object_lock_configuration(Bucket=EVIDENCE, ObjectLockConfiguration={
        "ObjectLockEnabled": "Enabled", "Rule": {"DefaultRetention": {"Mode": "GOVERNANCE", "Days": 1}}})
    kms = boto3.client("kms", region_name="us-east-1")
    key = kms.create_key(KeySpec="ECC_NIST_P256", KeyUsage="SIGN_VERIFY")["KeyMetadata"]["KeyId"]
    ledger = Ledger(f"s3://{EVIDENCE}/acme", key_id=key)
    rng = np.random.default_rng(7)
    reference = pd.DataFrame({f: rng.normal(0, 1, 4000) for f in FEATURES})
    reference["prediction"] = rng.uniform(0, 1, 4000)
    buf = io.StringIO()
    reference.to_csv(buf, index=False)
    version = s3.put_object(Bucket=ARTIFACTS, Key="datasets/churn/train.csv", Body=buf.getvalue().encode())["VersionId"]
    s3.put_object(Bucket=ARTIFACTS, Key="datasets/churn/train.csv", Body=b"x0\n99\n")  # a later version: not the one named
    fields = R.parse_fields(("commit=" + "3f2a9c1e" * 5, f"data=s3://{ARTIFACTS}/datasets/churn/train.csv?versionId={version}",
                             "repository=https://github.com/acme/churn", "ref=refs/heads/main",
                             "workflow=.github/workflows/train-evaluate.yml"))
    ledger.append("provenance", MODEL, [DIGEST], R.build_predicate("provenance", DIGEST, fields))
    return {"s3": s3, "ledger": ledger, "rng": rng}


def log_window(s3, rng, shift: float, days: int = 3, per_day: int = 100, rows: int = 10) -> None:
    """`per_day` logged requests of `rows` rows each per day; the first three features moved by `shift`."""
    for d in range(days):
        day = datetime(2026, 12, 7 - d, 12, 0, tzinfo=UTC)
        log = PredictionLogger(ARTIFACTS, MODEL, DIGEST, sample=1.0, s3=s3, clock=lambda day=day: day, batch_records=10**6)
        for _ in range(per_day):
            data = rng.normal(0, 1, (rows, len(FEATURES)))
            data[:, :3] += shift
            log.log({"dataframe_split": {"columns": FEATURES, "data": data.tolist()}},
                    {"predictions": rng.uniform(0, 1, rows).tolist()})
        log.flush()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def pushgateway(tmp_path_factory):
    port = free_port()
    proc = subprocess.Popen([tool("prometheus-pushgateway"), f"--web.listen-address=127.0.0.1:{port}"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    for _ in range(100):
        try:
            urllib.request.urlopen(f"{url}/-/ready", timeout=1).close()
            break
        except OSError:
            time.sleep(0.1)
    yield url
    proc.terminate()
    proc.wait(timeout=10)


def run_job(env, conn, gateway, threshold=0.5):
    ledger = env["ledger"]
    return drift.run(
        s3=env["s3"], bucket=ARTIFACTS, model=MODEL, digest=DIGEST, ledger_records=ledger.read(MODEL),
        threshold=threshold, window_days_=7, conn=conn, gateway=gateway,
        record=lambda result: ledger.append("drift", MODEL, [DIGEST], R.build_predicate("drift", DIGEST, {}, result.predicate())).key,
        today=TODAY,
    )


def test_a_window_from_the_reference_distribution_does_not_drift(env, monitoring_conn, pushgateway):
    log_window(env["s3"], env["rng"], shift=0.0)
    result, run_id, key = run_job(env, monitoring_conn, pushgateway)
    assert result.rows_current == 3000 and result.rows_reference == 4000
    assert {c.feature for c in result.columns} == set(FEATURES) | {"prediction"}
    assert result.score < result.threshold and not result.drifted and result.drifted_features == 0
    assert result.reference_uri.startswith(f"s3://{ARTIFACTS}/datasets/churn/train.csv?versionId=")
    row = monitoring_conn.execute("SELECT drifted, score FROM monitoring.drift_runs WHERE id = %s", (run_id,)).fetchone()
    assert row == (False, pytest.approx(result.score))


def test_a_shifted_window_drifts_lands_in_the_schema_pushes_the_alerts_score_and_records(
        env, monitoring_conn, pushgateway, postgres, tmp_path, profile_plans):
    log_window(env["s3"], env["rng"], shift=1.0)
    result, run_id, key = run_job(env, monitoring_conn, pushgateway)
    assert result.drifted and result.score >= 0.5 and result.drifted_features == 3
    assert {c.feature for c in result.columns if c.drifted} == {"x0", "x1", "x2"}

    # the monitoring schema, written by its own role
    run = monitoring_conn.execute(
        "SELECT model, digest, drifted, score, threshold, drifted_features, ledger_key FROM monitoring.drift_runs "
        "WHERE id = %s", (run_id,)).fetchone()
    assert run == (MODEL, DIGEST, True, pytest.approx(result.score), 0.5, 3, key)
    features = monitoring_conn.execute(
        "SELECT feature, drifted FROM monitoring.drift_features WHERE run_id = %s ORDER BY feature", (run_id,)).fetchall()
    assert [f for f, d in features if d] == ["x0", "x1", "x2"] and len(features) == 6
    with pytest.raises(psycopg.errors.InsufficientPrivilege):
        monitoring_conn.execute("SELECT * FROM public.experiments")
    monitoring_conn.rollback()

    # the ledger record
    rec = env["ledger"].read(MODEL)[-1]
    assert rec.key == key and rec.kind == "drift" and rec.predicate["drifted"] is True
    assert rec.predicate["score"] == pytest.approx(result.score) and rec.subjects == [DIGEST]

    # the Pushgateway holds the score; the shipped ModelDrift rule fires on exactly those series
    text = urllib.request.urlopen(f"{pushgateway}/metrics", timeout=5).read().decode()
    pushed = {m[0]: (m[1], float(m[2])) for m in re.findall(r"^(mlplatform_model_drift_(?:score|threshold))\{([^}]*)\} (\S+)$", text, re.M)}
    assert pushed["mlplatform_model_drift_score"][1] == pytest.approx(result.score)
    (rule_obj,) = profile_plans["pragmatic"].of_type("kubernetes:monitoring.coreos.com/v1:PrometheusRule")
    groups = rule_obj.inputs["spec"]["groups"]
    (tmp_path / "rules.yaml").write_text(yaml.safe_dump({"groups": groups}))
    (model_drift,) = [r for g in groups for r in g["rules"] if r.get("alert") == "ModelDrift"]
    labels = {"model": MODEL, "digest": DIGEST, **model_drift["labels"]}
    series = [{"series": f"{name}{{{lbl}}}", "values": f"{value}x10"} for name, (lbl, value) in pushed.items()]
    expected = {"exp_labels": labels,
                "exp_annotations": {k: expand(v, labels, pushed["mlplatform_model_drift_score"][1])
                                    for k, v in model_drift["annotations"].items()}}
    test = {"rule_files": ["rules.yaml"], "evaluation_interval": "1m", "tests": [{"interval": "1m", "input_series": series,
            "alert_rule_test": [{"eval_time": "2m", "alertname": "ModelDrift", "exp_alerts": [expected]}]}]}
    (tmp_path / "t.yaml").write_text(yaml.safe_dump(test))
    res = subprocess.run([tool("promtool"), "test", "rules", "t.yaml"], cwd=tmp_path, capture_output=True, text=True)
    assert res.returncode == 0, res.stdout + res.stderr


def test_no_logs_or_no_reference_is_one_clear_error(env, monitoring_conn):
    with pytest.raises(drift.DriftError, match="^window: no prediction log of churn@"):
        run_job(env, monitoring_conn, None)
    with pytest.raises(drift.DriftError, match="^reference: no provenance record names sha256:00"):
        drift.reference_of(env["ledger"].read(MODEL), "sha256:" + "00" * 32)


def test_request_formats_of_the_scoring_server():
    assert drift.feature_rows({"dataframe_records": [{"a": 1}]}) == [{"a": 1}]
    assert drift.feature_rows({"inputs": {"a": [1, 2], "b": [3, 4]}}) == [{"a": 1, "b": 3}, {"a": 2, "b": 4}]
    assert drift.feature_rows({"instances": [[1, 2]]}) == [{"f0": 1, "f1": 2}]
    assert drift.predictions_of([[0.2], [0.9]]) == [0.2, 0.9]


def test_the_cronjobs_entry_point_finds_the_versions_and_reads_its_environment(env, postgres, monkeypatch):
    from mlplatform.stacks.monitoring.job import run_from_env

    log_window(env["s3"], env["rng"], shift=1.0)
    for k, v in {"PGHOST": "127.0.0.1", "PGPORT": str(postgres.port), "PGDATABASE": "mlflow", "PGUSER": store.ROLE,
                 "PGPASSWORD": MONITORING_PW}.items():
        monkeypatch.setenv(k, v)
    environ = {"MLPLATFORM_PREDICTION_LOG_BUCKET": ARTIFACTS, "MLPLATFORM_LEDGER": f"s3://{EVIDENCE}/acme",
               "MLPLATFORM_LEDGER_KEY": env["ledger"].key_id}
    # today's window: the log was written for 2026-12-05..07, so pin the job's clock to that day
    import mlplatform.stacks.monitoring.job as job

    class _Today(datetime):
        @classmethod
        def now(cls, tz=None):
            return datetime(2026, 12, 7, 18, tzinfo=UTC)

    monkeypatch.setattr(job, "datetime", _Today)
    (result,) = run_from_env(MODEL, None, 7, 0.5, environ)
    assert result.digest == DIGEST and result.drifted
    assert env["ledger"].read(MODEL)[-1].kind == "drift"
    from mlplatform.stacks.errors import SpecError

    with pytest.raises(SpecError, match="^MLPLATFORM_LEDGER: not set"):
        run_from_env(MODEL, None, 7, 0.5, {"MLPLATFORM_PREDICTION_LOG_BUCKET": ARTIFACTS})


def test_a_served_model_gets_a_pushgateway_a_cronjob_and_a_drift_panel(profile_plans):
    import json as _json

    from chartcheck import check_values
    from conftest import assert_valid_k8s, helm_values, k8s_objects, one
    from mlplatform.stacks.config.spec import load_spec
    from mlplatform.stacks.program import plan
    from test_metric_facts import PENDING_SERVING_RUNTIMES, unknown_metrics

    p = plan(load_spec("growth", overrides={"serving": {"models": {"churn": {}, "ranker": {"log_sample": 0.5}}},
                                            "monitoring": {"drift": {"schedule": "30 2 * * *", "threshold": 0.3}}}))
    gateway = helm_values(p, "prometheus-pushgateway")[0]
    assert gateway["serviceMonitor"]["honorLabels"] is True
    assert gateway["serviceMonitor"]["additionalLabels"] == {"release": "ml-dev-monitoring"}
    report = check_values("prometheus-pushgateway", gateway)
    assert report.ok, report
    jobs = {r.name: r for r in p.of_type("kubernetes:batch/v1:CronJob") if "drift" in r.name}
    assert set(jobs) == {"ml-dev-drift-churn", "ml-dev-drift-ranker"}
    spec = jobs["ml-dev-drift-churn"].inputs["spec"]
    assert spec["schedule"] == "30 2 * * *"
    args = spec["jobTemplate"]["spec"]["template"]["spec"]["containers"][0]["args"]
    assert args == ["drift", "run", "--model", "churn", "--window-days", "7", "--threshold", "0.3"]
    for obj in k8s_objects(p):
        if obj.get("kind") == "CronJob":
            assert_valid_k8s(obj)
    pod = spec["jobTemplate"]["spec"]["template"]["spec"]
    account = one(p, "kubernetes:core/v1:ServiceAccount", "ml-dev-drift")
    assert pod["serviceAccountName"] == account.inputs["metadata"]["name"] == "mlplatform-drift"
    assert "eks.amazonaws.com/role-arn" in account.inputs["metadata"]["annotations"]
    policies = {r.name: _json.loads(r.inputs["policy"]) for r in p.of_type("aws:iam/rolePolicy:RolePolicy")
                if r.name.startswith("ml-dev-drift-")}
    assert set(policies) == {"ml-dev-drift-predictions", "ml-dev-drift-datasets"}
    attached = {r.name for r in p.of_type("aws:iam/rolePolicyAttachment:RolePolicyAttachment") if r.name.startswith("ml-dev-drift-")}
    assert attached == {"ml-dev-drift-ledger-writer", "ml-dev-drift-ledger-reader"}
    env_names = {e["name"] for e in pod["containers"][0]["env"]}
    assert {"MLPLATFORM_PREDICTION_LOG_BUCKET", "MLPLATFORM_LEDGER", "MLPLATFORM_LEDGER_KEY", "MLPLATFORM_PUSHGATEWAY"} <= env_names
    for doc in policies.values():  # read only
        actions = {a for st in doc["Statement"] for a in ([st["Action"]] if isinstance(st["Action"], str) else st["Action"])}
        assert actions <= {"s3:ListBucket", "s3:GetObject", "kms:Decrypt"}
    board = _json.loads(next(iter(one(p, "kubernetes:core/v1:ConfigMap", "ml-dev-dashboard-model-drift").inputs["data"].values())))
    titles = [panel.get("title") for panel in board["panels"]]
    assert "churn: drift score" in titles and "ranker: drift score" in titles
    assert unknown_metrics(p, PENDING_SERVING_RUNTIMES) == []
