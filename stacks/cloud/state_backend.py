"""Where Pulumi keeps a stack's state and how it encrypts the stack's secrets.

`local`: a `file://` folder inside the project (for trying mlplatform; nothing in the cloud).
`s3`: a bucket created or adopted with boto3 and brought to a safe shape: versioning on, default
encryption (SSE-KMS with the state key when there is one, else SSE-S3), public access fully blocked,
ACLs disabled, and a policy that denies any request not over TLS. Secrets in the stack config are
encrypted by a KMS key (`awskms://alias/...`) or, without one, by a passphrase
(`PULUMI_CONFIG_PASSPHRASE`).

Every step reads first and writes only what differs, so a second run changes nothing and an adopted
bucket keeps its own policy statements and tags.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from mlplatform.components.conventions import MANAGED_BY

from ..config.spec import SpecError
from .doctor import aws_client

LOCAL_STATE_DIR = ".pulumi-state"
TLS_SID = "DenyInsecureTransport"
DEFAULT_KMS_ALIAS = "alias/mlplatform-state"  # one key per account and region, shared by its stacks


@dataclass
class BackendResult:
    """What `ensure_*` did: the URL/provider to use, and the changes made (empty: already in shape)."""

    url: str
    created: bool = False
    changes: list[str] = field(default_factory=list)


def local_backend_url() -> str:
    """The project-relative state folder (Pulumi resolves it from the project directory)."""
    return f"file://{LOCAL_STATE_DIR}"


def default_bucket_name(account: str, region: str) -> str:
    return f"mlplatform-state-{account}-{region}"


def s3_backend_url(bucket: str, region: str) -> str:
    return f"s3://{bucket}?region={region}"


def kms_secrets_provider(alias: str, region: str) -> str:
    return f"awskms://{alias}?region={region}"


def tls_only_statement(bucket: str) -> dict[str, Any]:
    return {
        "Sid": TLS_SID,
        "Effect": "Deny",
        "Principal": "*",
        "Action": "s3:*",
        "Resource": [f"arn:aws:s3:::{bucket}", f"arn:aws:s3:::{bucket}/*"],
        "Condition": {"Bool": {"aws:SecureTransport": "false"}},
    }


def _code(e: Exception) -> str:
    return str(getattr(e, "response", {}).get("Error", {}).get("Code", ""))


def ensure_state_bucket(bucket: str, region: str, kms_key_arn: str | None = None, s3: Any = None) -> BackendResult:
    """Create or adopt `bucket` and bring it to the safe shape above. Idempotent."""
    from botocore.exceptions import ClientError

    s3 = s3 or aws_client("s3", region)
    result = BackendResult(url=s3_backend_url(bucket, region))
    try:
        s3.head_bucket(Bucket=bucket)
    except ClientError as e:
        if _code(e) in ("403", "AccessDenied", "Forbidden"):
            raise SpecError(
                "--state-bucket",
                f"bucket {bucket} exists but this account can't use it",
                "choose another name with --state-bucket",
            ) from None
        if _code(e) not in ("404", "NoSuchBucket", "NotFound"):
            raise
        kwargs: dict[str, Any] = {"Bucket": bucket, "ObjectOwnership": "BucketOwnerEnforced"}
        if region != "us-east-1":
            kwargs["CreateBucketConfiguration"] = {"LocationConstraint": region}
        s3.create_bucket(**kwargs)
        s3.put_bucket_tagging(
            Bucket=bucket,
            Tagging={
                "TagSet": [
                    {"Key": "mlplatform:managed-by", "Value": MANAGED_BY},
                    {"Key": "mlplatform:component", "Value": "state-backend"},
                ]
            },
        )
        result.created = True
        result.changes.append("created")

    if s3.get_bucket_versioning(Bucket=bucket).get("Status") != "Enabled":
        s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
        result.changes.append("versioning enabled")

    rule: dict[str, Any] = (
        {
            "ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "aws:kms", "KMSMasterKeyID": kms_key_arn},
            "BucketKeyEnabled": True,
        }
        if kms_key_arn
        else {"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}
    )
    try:
        current = s3.get_bucket_encryption(Bucket=bucket)["ServerSideEncryptionConfiguration"]["Rules"]
    except ClientError:
        current = []
    if not any(_same_rule(r, rule) for r in current):
        s3.put_bucket_encryption(Bucket=bucket, ServerSideEncryptionConfiguration={"Rules": [rule]})
        result.changes.append("default encryption " + ("SSE-KMS" if kms_key_arn else "SSE-S3"))

    blocked = {
        "BlockPublicAcls": True,
        "IgnorePublicAcls": True,
        "BlockPublicPolicy": True,
        "RestrictPublicBuckets": True,
    }
    try:
        pab = s3.get_public_access_block(Bucket=bucket)["PublicAccessBlockConfiguration"]
    except ClientError:
        pab = {}
    if any(pab.get(k) is not True for k in blocked):
        s3.put_public_access_block(Bucket=bucket, PublicAccessBlockConfiguration=blocked)
        result.changes.append("public access blocked")

    try:
        owner = s3.get_bucket_ownership_controls(Bucket=bucket)["OwnershipControls"]["Rules"]
    except ClientError:
        owner = []
    if [r.get("ObjectOwnership") for r in owner] != ["BucketOwnerEnforced"]:
        s3.put_bucket_ownership_controls(
            Bucket=bucket, OwnershipControls={"Rules": [{"ObjectOwnership": "BucketOwnerEnforced"}]}
        )
        result.changes.append("ACLs disabled")

    try:
        policy = json.loads(s3.get_bucket_policy(Bucket=bucket)["Policy"])
    except ClientError:
        policy = {"Version": "2012-10-17", "Statement": []}
    statements = policy.get("Statement", [])
    statements = [statements] if isinstance(statements, dict) else statements
    wanted = tls_only_statement(bucket)
    if wanted not in statements:
        policy["Statement"] = [s for s in statements if s.get("Sid") != TLS_SID] + [wanted]
        s3.put_bucket_policy(Bucket=bucket, Policy=json.dumps(policy))
        result.changes.append("TLS-only policy")
    return result


def _same_rule(have: dict[str, Any], want: dict[str, Any]) -> bool:
    a, b = have.get("ApplyServerSideEncryptionByDefault", {}), want["ApplyServerSideEncryptionByDefault"]
    if a.get("SSEAlgorithm") != b["SSEAlgorithm"]:
        return False
    if b["SSEAlgorithm"] == "aws:kms":
        return a.get("KMSMasterKeyID") == b["KMSMasterKeyID"] and bool(have.get("BucketKeyEnabled"))
    return True


def ensure_secrets_key(alias: str, region: str, kms: Any = None) -> tuple[str, BackendResult]:
    """Create or adopt the KMS key behind `alias` (rotation on): (key arn, result with the provider URL)."""
    from botocore.exceptions import ClientError

    if not alias.startswith("alias/"):
        alias = f"alias/{alias}"
    kms = kms or aws_client("kms", region)
    result = BackendResult(url=kms_secrets_provider(alias, region))
    try:
        meta = kms.describe_key(KeyId=alias)["KeyMetadata"]
    except ClientError as e:
        if _code(e) != "NotFoundException":
            raise
        meta = kms.create_key(
            Description="mlplatform: encrypts Pulumi stack secrets and the state bucket",
            KeyUsage="ENCRYPT_DECRYPT",
            KeySpec="SYMMETRIC_DEFAULT",
            Tags=[
                {"TagKey": "mlplatform:managed-by", "TagValue": MANAGED_BY},
                {"TagKey": "mlplatform:component", "TagValue": "state-backend"},
            ],
        )["KeyMetadata"]
        kms.create_alias(AliasName=alias, TargetKeyId=meta["KeyId"])
        result.created = True
        result.changes.append(f"created KMS key {alias}")
    if meta.get("KeyState") not in (None, "Enabled"):
        raise SpecError(
            "--kms-alias",
            f"KMS key {alias} is {meta['KeyState']}",
            "enable it, or choose another alias with --kms-alias",
        )
    if not kms.get_key_rotation_status(KeyId=meta["KeyId"]).get("KeyRotationEnabled"):
        kms.enable_key_rotation(KeyId=meta["KeyId"])
        result.changes.append("key rotation enabled")
    return meta["Arn"], result


@dataclass
class StateBackend:
    """The backend `init` writes into Pulumi.yaml and the stack file."""

    url: str
    secrets_provider: str | None  # None: passphrase
    changes: list[str] = field(default_factory=list)


def ensure_s3_backend(
    region: str,
    bucket: str | None = None,
    kms_alias: str | None = None,
    use_kms: bool = True,
    account: str | None = None,
) -> StateBackend:
    """Bucket (+ KMS key for secrets and bucket encryption when `use_kms`), created or adopted."""
    if bucket is None:
        if account is None:
            account = aws_client("sts", region).get_caller_identity()["Account"]
        bucket = default_bucket_name(account, region)
    changes: list[str] = []
    key_arn, provider = None, None
    if use_kms:
        key_arn, key = ensure_secrets_key(kms_alias or DEFAULT_KMS_ALIAS, region)
        provider = key.url
        changes += key.changes
    b = ensure_state_bucket(bucket, region, key_arn)
    changes += [f"bucket {bucket}: {c}" for c in b.changes]
    return StateBackend(url=b.url, secrets_provider=provider, changes=changes)
