"""Prediction logs: sampled, personal fields dropped, JSON lines under predictions/<model>/<digest>/dt=.../
in a real (moto) S3; the role may only write that prefix; the only expiry is the one the user sets."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import boto3
import pytest

from conftest import one, plan_of
from mlplatform.components.artifact_registry import ArtifactRegistry, ArtifactRegistryArgs
from mlplatform.components.serving.prediction_log import SCHEMA, PredictionLogger, log_prefix

DIGEST = "sha256:" + "ab" * 32
REQUEST = {"dataframe_split": {"columns": ["age", "email", "income"], "data": [[41, "a@b.c", 5200.0]]},
           "customer": {"email": "a@b.c", "segment": "b2c"}}
RESPONSE = {"predictions": [0.82]}
NOON = datetime(2026, 12, 7, 12, 0, 5, tzinfo=UTC)


@pytest.fixture
def bucket(aws):
    s3 = boto3.client("s3", region_name="us-east-1")
    s3.create_bucket(Bucket="ml-artifacts")
    return s3


def objects(s3, prefix=""):
    return [o["Key"] for o in s3.list_objects_v2(Bucket="ml-artifacts", Prefix=prefix).get("Contents", [])]


def test_records_land_as_json_lines_under_the_models_digest_and_day(bucket):
    log = PredictionLogger("ml-artifacts", "churn", DIGEST, sample=1.0, drop_fields=["email"], s3=bucket,
                           clock=lambda: NOON)
    assert log.log(REQUEST, RESPONSE, latency_ms=12.5, request_id="r-1")
    key = log.flush()
    assert key.startswith("predictions/churn/sha256-" + "ab" * 32 + "/dt=2026-12-07/120005-") and key.endswith(".jsonl")
    assert objects(bucket) == [key]
    lines = bucket.get_object(Bucket="ml-artifacts", Key=key)["Body"].read().decode().splitlines()
    record = json.loads(lines[0])
    assert record == {"schema": SCHEMA, "id": "r-1", "time": NOON.isoformat(), "model": "churn", "digest": DIGEST,
                      # a dropped field goes as a key and as a column of a dataframe_split table
                      "request": {"dataframe_split": {"columns": ["age", "income"], "data": [[41, 5200.0]]},
                                  "customer": {"segment": "b2c"}},
                      "response": RESPONSE, "latency_ms": 12.5}
    assert log.flush() is None  # nothing buffered: nothing written


def test_the_sample_share_is_kept_and_zero_turns_it_off(bucket):
    log = PredictionLogger("ml-artifacts", "churn", DIGEST, sample=0.1, s3=bucket, batch_records=10**6)
    kept = sum(log.sampled(f"req-{i}") for i in range(20000))
    assert 1800 < kept < 2200
    assert log.sampled("req-7") == log.sampled("req-7")  # stable per request id
    off = PredictionLogger("ml-artifacts", "churn", DIGEST, sample=0.0, s3=None)
    assert not any(off.log(REQUEST, RESPONSE) for _ in range(100)) and off.flush() is None
    assert objects(bucket) == []


def test_a_full_batch_is_written_without_waiting(bucket):
    log = PredictionLogger("ml-artifacts", "churn", DIGEST, sample=1.0, s3=bucket, batch_records=3)
    for i in range(7):
        log.log(REQUEST, RESPONSE, request_id=str(i))
    assert len(objects(bucket, log_prefix("churn"))) == 2
    log.close()
    assert len(objects(bucket)) == 3


def test_from_env_and_bad_settings():
    env = {"MLPLATFORM_PREDICTION_LOG_BUCKET": "b", "MLPLATFORM_PREDICTION_LOG_MODEL": "churn",
           "MLPLATFORM_PREDICTION_LOG_DIGEST": DIGEST, "MLPLATFORM_PREDICTION_LOG_SAMPLE": "0",
           "MLPLATFORM_PREDICTION_LOG_DROP_FIELDS": "email, name"}
    log = PredictionLogger.from_env(env)
    assert (log.bucket, log.model, log.sample, set(log.drop_fields)) == ("b", "churn", 0.0, {"email", "name"})
    with pytest.raises(ValueError, match="MLPLATFORM_PREDICTION_LOG_DIGEST: not set"):
        PredictionLogger.from_env({k: v for k, v in env.items() if not k.endswith("DIGEST")})
    with pytest.raises(ValueError, match="^digest: 'latest' is not an OCI digest"):
        PredictionLogger("b", "churn", "latest", sample=0)
    with pytest.raises(ValueError, match="^log_sample: 1.5 is not a share"):
        PredictionLogger("b", "churn", DIGEST, sample=1.5, s3=object())


def test_the_models_role_may_only_put_under_its_own_prefix():
    import pulumi_aws as aws

    def program():
        registry = ArtifactRegistry("ml-dev", ArtifactRegistryArgs())
        aws.iam.Policy("churn-predictions", policy=registry.prediction_log_policy("churn"))

    doc = json.loads(one(plan_of(program), "aws:iam/policy:Policy", "churn-predictions").inputs["policy"])
    write, key = doc["Statement"]
    assert write["Action"] == "s3:PutObject" and write["Resource"].endswith("/predictions/churn/*")
    assert key["Action"] == "kms:GenerateDataKey" and key["Resource"].startswith("arn:aws:kms")
    assert len(doc["Statement"]) == 2  # no read, list or delete


def lifecycle_rules(plan):
    return one(plan, "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration").inputs["rules"]


def test_no_expiry_unless_the_user_sets_prediction_retention_days():
    rules = lifecycle_rules(plan_of(lambda: ArtifactRegistry("ml-dev", ArtifactRegistryArgs())))
    assert not [r for r in rules if "expiration" in r]
    rules = lifecycle_rules(plan_of(lambda: ArtifactRegistry("ml-dev", ArtifactRegistryArgs(prediction_retention_days=30))))
    (expiring,) = [r for r in rules if "expiration" in r]
    assert expiring["filter"] == {"prefix": "predictions/"} and expiring["expiration"] == {"days": 30}


def test_the_stack_spec_carries_the_settings():
    from mlplatform.stacks.config.spec import SpecError, load_spec

    spec = load_spec("pragmatic", overrides={"serving": {"models": {"churn": {"drop_fields": ["email"]}}}})
    assert spec.serving.models["churn"].log_sample == 0.1 and spec.serving.prediction_retention_days is None
    with pytest.raises(SpecError, match="log_sample"):
        load_spec("pragmatic", overrides={"serving": {"models": {"churn": {"log_sample": 2}}}})


def test_the_stack_gives_each_logged_model_a_put_only_role_and_its_pods_the_environment():
    """From the stack's plan to the rendered Rollout to the logger the hook builds: the pod runs as the model's
    service account (IRSA: put under predictions/<model>/ only), and its environment -- the bucket and region
    from the namespace's ConfigMap -- gives a logger with the spec's settings."""
    from conftest import assert_valid_k8s
    from mlplatform.stacks.config.spec import load_spec
    from mlplatform.stacks.program import plan
    from mlplatform.stacks.project.serving import Release, render

    spec = load_spec("growth", overrides={"serving": {"environments": ["staging", "production"], "models": {
        "churn": {"log_sample": 0.25, "drop_fields": ["email", "name"]}, "quiet": {"log_sample": 0},
        "llm": {"runtime": "vllm", "gpu": 1}}}})
    p = plan(spec)
    accounts = {(r.inputs["metadata"]["namespace"], r.inputs["metadata"]["name"]): r
                for r in p.of_type("kubernetes:core/v1:ServiceAccount") if r.inputs["metadata"]["name"].startswith("model-")}
    assert set(accounts) == {("serving-staging", "model-churn"), ("serving-production", "model-churn")}
    role = one(p, "aws:iam/role:Role", "ml-dev-model-churn")
    subjects = [s["Condition"]["StringEquals"] for s in json.loads(role.inputs["assumeRolePolicy"])["Statement"]]
    assert sorted(v for c in subjects for k, v in c.items() if k.endswith(":sub")) == [
        "system:serviceaccount:serving-production:model-churn", "system:serviceaccount:serving-staging:model-churn"]
    doc = json.loads(one(p, "aws:iam/rolePolicy:RolePolicy", "ml-dev-model-churn-predictions").inputs["policy"])
    assert {tuple(st["Action"]) if isinstance(st["Action"], list) else st["Action"] for st in doc["Statement"]} == {
        "s3:PutObject", "kms:GenerateDataKey"}
    assert doc["Statement"][0]["Resource"].endswith("/predictions/churn/*")
    for account in accounts.values():
        arn = account.inputs["metadata"]["annotations"]["eks.amazonaws.com/role-arn"]
        assert arn.startswith("arn:aws:iam::") and ":role/ml-dev-model-churn" in arn  # the mocks' ARN of that role
        assert_valid_k8s({"apiVersion": "v1", "kind": "ServiceAccount", "metadata": account.inputs["metadata"],
                          "automountServiceAccountToken": account.inputs["automountServiceAccountToken"]})
    configs = {r.inputs["metadata"]["namespace"]: r.inputs for r in p.of_type("kubernetes:core/v1:ConfigMap")
               if r.inputs["metadata"]["name"] == "mlplatform-prediction-log"}
    assert set(configs) == {"serving-staging", "serving-production"}

    release = Release("churn", "4", DIGEST, f"123456789012.dkr.ecr.us-east-1.amazonaws.com/m/models@{DIGEST}")
    for env, objects in render(spec, "dev", release).items():
        (rollout,) = [o for o in objects if o["kind"] == "Rollout"]
        pod = rollout["spec"]["template"]["spec"]
        ns = rollout["metadata"]["namespace"]
        assert (ns, pod["serviceAccountName"]) in accounts
        environ = {}
        for e in pod["containers"][0]["env"]:
            ref = e.get("valueFrom", {}).get("configMapKeyRef")
            environ[e["name"]] = configs[ns]["data"][ref["key"]] if ref else e["value"]
            if ref:
                assert ref["name"] == configs[ns]["metadata"]["name"]
        assert environ["AWS_REGION"] == "us-east-1"
        log = PredictionLogger.from_env(environ, s3=object())
        assert (log.model, log.digest, log.sample, sorted(log.drop_fields)) == ("churn", DIGEST, 0.25, ["email", "name"])
        assert log.bucket == configs[ns]["data"]["bucket"] == p.outputs["artifact_bucket"]
    # 0 %, and runtimes without the hook: no service account, no prediction-log environment
    for model in ("quiet", "llm"):
        other = render(spec, "dev", Release(model, "1", DIGEST, f"r/m@{DIGEST}"), ["production"])["production"]
        (rollout,) = [o for o in other if o["kind"] == "Rollout"]
        pod = rollout["spec"]["template"]["spec"]
        assert "serviceAccountName" not in pod
        assert not [e for e in pod["containers"][0]["env"] if e["name"].startswith("MLPLATFORM_PREDICTION_LOG_")]
