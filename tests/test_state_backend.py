"""The S3 state backend and the KMS secrets key, against a real moto server process."""

from __future__ import annotations

import json

import boto3

from mlplatform.stacks.cloud.state_backend import (
    DEFAULT_KMS_ALIAS,
    ensure_s3_backend,
    ensure_secrets_key,
    ensure_state_bucket,
    local_backend_url,
)

REGION = "eu-west-1"


def _bucket_shape(s3, bucket: str) -> dict:
    return {
        "versioning": s3.get_bucket_versioning(Bucket=bucket).get("Status"),
        "sse": s3.get_bucket_encryption(Bucket=bucket)["ServerSideEncryptionConfiguration"]["Rules"],
        "public_access_block": s3.get_public_access_block(Bucket=bucket)["PublicAccessBlockConfiguration"],
        "ownership": s3.get_bucket_ownership_controls(Bucket=bucket)["OwnershipControls"]["Rules"],
        "policy": json.loads(s3.get_bucket_policy(Bucket=bucket)["Policy"]),
        "location": s3.get_bucket_location(Bucket=bucket)["LocationConstraint"],
    }


def test_new_bucket_and_key_have_every_property(aws):
    key_arn, key = ensure_secrets_key("mlplatform-state", REGION)
    assert key.created and key.url == "awskms://alias/mlplatform-state?region=eu-west-1"
    result = ensure_state_bucket("team-state", REGION, key_arn)
    assert result.created and result.url == "s3://team-state?region=eu-west-1"

    s3 = boto3.client("s3", region_name=REGION)
    shape = _bucket_shape(s3, "team-state")
    assert shape["location"] == REGION
    assert shape["versioning"] == "Enabled"
    assert shape["sse"] == [{"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "aws:kms", "KMSMasterKeyID": key_arn},
                             "BucketKeyEnabled": True}]
    assert shape["public_access_block"] == {"BlockPublicAcls": True, "IgnorePublicAcls": True,
                                            "BlockPublicPolicy": True, "RestrictPublicBuckets": True}
    assert shape["ownership"] == [{"ObjectOwnership": "BucketOwnerEnforced"}]
    [deny] = shape["policy"]["Statement"]
    assert deny["Effect"] == "Deny" and deny["Principal"] == "*" and deny["Action"] == "s3:*"
    assert deny["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
    assert sorted(deny["Resource"]) == ["arn:aws:s3:::team-state", "arn:aws:s3:::team-state/*"]
    tags = {t["Key"]: t["Value"] for t in s3.get_bucket_tagging(Bucket="team-state")["TagSet"]}
    assert tags["mlplatform:managed-by"] == "mlplatform"

    kms = boto3.client("kms", region_name=REGION)
    meta = kms.describe_key(KeyId="alias/mlplatform-state")["KeyMetadata"]
    assert meta["Arn"] == key_arn and meta["KeyState"] == "Enabled"
    assert kms.get_key_rotation_status(KeyId=meta["KeyId"])["KeyRotationEnabled"] is True


def test_without_kms_the_bucket_uses_sse_s3(aws):
    ensure_state_bucket("plain-state", "us-east-1")
    s3 = boto3.client("s3", region_name="us-east-1")
    rules = s3.get_bucket_encryption(Bucket="plain-state")["ServerSideEncryptionConfiguration"]["Rules"]
    assert rules[0]["ApplyServerSideEncryptionByDefault"]["SSEAlgorithm"] == "AES256"


def test_second_run_changes_nothing(aws):
    first = ensure_s3_backend(REGION, bucket="team-state")
    assert first.changes[0] == f"created KMS key {DEFAULT_KMS_ALIAS}"
    assert "bucket team-state: created" in first.changes
    second = ensure_s3_backend(REGION, bucket="team-state")
    assert second.changes == []
    assert (second.url, second.secrets_provider) == (first.url, first.secrets_provider)
    kms = boto3.client("kms", region_name=REGION)
    assert len(kms.list_keys()["Keys"]) == 1  # the key was adopted, not created twice


def test_adopted_bucket_keeps_its_own_policy_and_tags(aws):
    s3 = boto3.client("s3", region_name=REGION)
    s3.create_bucket(Bucket="theirs", CreateBucketConfiguration={"LocationConstraint": REGION})
    s3.put_bucket_tagging(Bucket="theirs", Tagging={"TagSet": [{"Key": "owner", "Value": "platform-team"}]})
    audit = {"Sid": "AuditRead", "Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::123456789012:root"},
             "Action": "s3:GetObject", "Resource": "arn:aws:s3:::theirs/*"}
    s3.put_bucket_policy(Bucket="theirs", Policy=json.dumps({"Version": "2012-10-17", "Statement": [audit]}))

    result = ensure_state_bucket("theirs", REGION)
    assert not result.created
    assert result.changes == ["versioning enabled", "default encryption SSE-S3", "public access blocked",
                              "ACLs disabled", "TLS-only policy"]
    statements = json.loads(s3.get_bucket_policy(Bucket="theirs")["Policy"])["Statement"]
    assert audit in statements and [s["Sid"] for s in statements] == ["AuditRead", "DenyInsecureTransport"]
    assert s3.get_bucket_tagging(Bucket="theirs")["TagSet"] == [{"Key": "owner", "Value": "platform-team"}]
    assert ensure_state_bucket("theirs", REGION).changes == []


def test_default_bucket_name_comes_from_the_account(aws):
    backend = ensure_s3_backend(REGION, use_kms=False)
    assert backend.url == "s3://mlplatform-state-123456789012-eu-west-1?region=eu-west-1"
    assert backend.secrets_provider is None
    assert boto3.client("s3", region_name=REGION).head_bucket(Bucket="mlplatform-state-123456789012-eu-west-1")


def test_local_backend_is_a_folder_in_the_project():
    assert local_backend_url() == "file://.pulumi-state"
