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
