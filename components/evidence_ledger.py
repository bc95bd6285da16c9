"""EvidenceLedger: where the chain of evidence is kept — signed, append-only, locked.

Creates (or adopts) an S3 bucket made with Object Lock (default retention GOVERNANCE for
`retention_days`; COMPLIANCE only when asked, with a warning: nobody, not even the account root, can
shorten it), versioning, SSE-KMS with its own customer-managed key, all public access blocked, ACLs
off and a TLS-only bucket policy; and an asymmetric KMS signing key (ECC_NIST_P256, SIGN_VERIFY) the
records are signed with. No lifecycle rule: evidence is never expired by a rule we set.

Two managed IAM policies:
* writer (`writer_policy_arn`): s3:PutObject of records under `ledger/` and kms:Sign with the signing
  key; plus what appending needs — reading the chain's tail (s3:ListBucket and s3:ListBucketVersions under
  `ledger/`, s3:GetObject), and checking the bucket keeps every record (s3:GetBucketVersioning,
  s3:GetBucketObjectLockConfiguration) and SSE-KMS on the bucket key (kms:GenerateDataKey, kms:Decrypt). Never a delete, a
  retention or legal-hold change, governance bypass or any bucket setting. Attached to every role in
  `writer_roles` (the CI runners' role) and to the observer's IRSA role.
* reader (`reader_policy_arn`): get and list records and their versions, kms:GetPublicKey and
  kms:Verify on the signing key, kms:Decrypt on the bucket key. For team and auditor roles.

The observer (optional, `observer=ObserverArgs(...)`): a CronJob every 5 minutes on the system nodes,
in its own namespace enforcing the `restricted` Pod Security level, with its own IRSA role carrying the
writer policy and a ClusterRole that may only get/list pods. It runs `mlplatform evidence observe`
from an image built from this package (`versions.EVIDENCE_OBSERVER_TAG`), recording what runs.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_aws as aws
import pulumi_kubernetes as k8s

from ._common import (
    ValidationError,
    child,
    irsa_trust_policy,
    kms_key,
    namespace,
    policy_json,
    secure_bucket,
    tags,
)
from .args.evidence_ledger import RETENTION_MODES as RETENTION_MODES
from .args.evidence_ledger import EvidenceLedgerArgs as EvidenceLedgerArgs
from .args.evidence_ledger import EvidenceSettings as EvidenceSettings
from .args.evidence_ledger import ExistingLedger as ExistingLedger
from .artifact_registry import _check_bucket_name
from .conventions import DNS_LABEL, PART_OF, RESTRICTED_CONTAINER, SYSTEM_NODE_SELECTOR
from .cron import FIX as CRON_FIX
from .cron import valid_cron

LEDGER_PREFIX = "ledger"  # records: ledger/<model>/<seq>-<sha256>.json
OBSERVER_NAMESPACE = "mlplatform-evidence"
OBSERVER_NAME = "evidence-observer"
OBSERVER_SCHEDULE = "*/5 * * * *"
OBSERVER_UID = 65532
OBSERVER_RESOURCES = {"requests": {"cpu": "50m", "memory": "128Mi"}, "limits": {"cpu": "250m", "memory": "256Mi"}}
IRSA_ANNOTATION = "eks.amazonaws.com/role-arn"
# What a writer may never do; the plan tests check the writer policy against this list.
FORBIDDEN_WRITER_ACTIONS = (
    "s3:DeleteObject",
    "s3:DeleteObjectVersion",
    "s3:PutObjectRetention",
    "s3:PutObjectLegalHold",
    "s3:BypassGovernanceRetention",
    "s3:PutBucketObjectLockConfiguration",
    "s3:PutLifecycleConfiguration",
    "s3:PutBucketPolicy",
    "s3:PutBucketVersioning",
    "s3:DeleteBucket",
    "kms:ScheduleKeyDeletion",
    "kms:DisableKey",
    "kms:PutKeyPolicy",
)


@dataclass
class ObserverArgs:
    """The observer CronJob.

    Fields:
        oidc_provider_arn (Input[str], required): the cluster's IAM OIDC provider (IRSA).
        oidc_issuer_url (Input[str], required): the cluster's OIDC issuer.
        k8s_provider (ProviderResource | None, default None): the cluster's Kubernetes provider.
        image (Input[str], required): the observer image (built from this package; see versions.py).
        cluster_name (Input[str] | None, default None): written into each observation.
        region (Input[str] | None, default None): AWS region of the ledger (AWS_REGION); None: the provider's.
        namespace (str, default "mlplatform-evidence"): its namespace (created, Pod Security `restricted`).
        schedule (str, default "*/5 * * * *"): how often it looks.
    """

    oidc_provider_arn: pulumi.Input[str]
    oidc_issuer_url: pulumi.Input[str]
    image: pulumi.Input[str]
    k8s_provider: pulumi.ProviderResource | None = None
    cluster_name: pulumi.Input[str] | None = None
    region: pulumi.Input[str] | None = None
    namespace: str = OBSERVER_NAMESPACE
    schedule: str = OBSERVER_SCHEDULE


def _validate(name: str, args: EvidenceLedgerArgs) -> None:
    if not re.match(r"^[A-Za-z0-9/_-]+$", name):
        raise ValidationError(
            "name", f"{name!r} cannot be part of a KMS alias", "use letters, digits, '/', '_' and '-'"
        )
    if args.bucket_name is not None:
        _check_bucket_name("bucket_name", args.bucket_name)
    if not isinstance(args.writer_roles, dict) or not all(
        isinstance(k, str) and DNS_LABEL.match(k) for k in args.writer_roles
    ):
        raise ValidationError(
            "writer_roles",
            "must map lowercase logical names to IAM role names",
            'write it like {"ci-runners": role.name}',
        )
    e = args.existing
    if e is not None:
        if args.bucket_name is not None:
            raise ValidationError(
                "bucket_name",
                "is set together with existing",
                "set bucket_name to create a ledger, or existing to adopt one, not both",
            )
    o = args.observer
    if o is not None:
        if not isinstance(o, ObserverArgs):
            raise ValidationError(
                "observer",
                f"must be ObserverArgs or None, got {type(o).__name__}",
                "pass ObserverArgs(oidc_provider_arn=..., oidc_issuer_url=..., image=...)",
            )
        if not DNS_LABEL.match(o.namespace):
            raise ValidationError(
                "observer.namespace",
                f"{o.namespace!r} is not a namespace name",
                "use lowercase letters, digits and '-'",
            )
        if not valid_cron(o.schedule):
            raise ValidationError("observer.schedule", f"{o.schedule!r} is not a cron schedule", CRON_FIX)
        if o.image is None or (isinstance(o.image, str) and (not o.image or any(c.isspace() for c in o.image))):
            raise ValidationError(
                "observer.image",
                f"{o.image!r} is not an image reference",
                "use REGISTRY/REPOSITORY:TAG (an immutable ECR tag) or @sha256:DIGEST",
            )


# -- IAM documents (pure functions; the plan tests and parliament read them) -----------------------
def writer_policy(bucket_arn: str, signing_key_arn: str, kms_key_arn: str | None) -> str:
    statements: list[dict[str, Any]] = [
        {
            "Sid": "AppendRecords",
            "Effect": "Allow",
            "Action": "s3:PutObject",
            "Resource": f"{bucket_arn}/{LEDGER_PREFIX}/*",
        },
        {
            "Sid": "ReadTheChain",
            "Effect": "Allow",
            "Action": "s3:GetObject",
            "Resource": f"{bucket_arn}/{LEDGER_PREFIX}/*",
        },
        {
            # versions too: a record hidden by a delete marker still holds its seq (never written twice)
            "Sid": "ListTheChain",
            "Effect": "Allow",
            "Action": ["s3:ListBucket", "s3:ListBucketVersions"],
            "Resource": bucket_arn,
            "Condition": {"StringLike": {"s3:prefix": [f"{LEDGER_PREFIX}/*"]}},
        },
        {
            # `evidence record` refuses a bucket that is not versioned with Object Lock: it reads both settings
            "Sid": "CheckWriteOnce",
            "Effect": "Allow",
            "Action": ["s3:GetBucketVersioning", "s3:GetBucketObjectLockConfiguration"],
            "Resource": bucket_arn,
        },
        {"Sid": "SignRecords", "Effect": "Allow", "Action": "kms:Sign", "Resource": signing_key_arn},
    ]
    if kms_key_arn:
        statements.append(
            {
                "Sid": "EncryptRecords",
                "Effect": "Allow",
                "Action": ["kms:Decrypt", "kms:GenerateDataKey"],
                "Resource": kms_key_arn,
            }
        )
    return policy_json(statements)


def reader_policy(bucket_arn: str, signing_key_arn: str, kms_key_arn: str | None) -> str:
    statements: list[dict[str, Any]] = [
        {
            "Sid": "ReadRecords",
            "Effect": "Allow",
            "Action": ["s3:GetObject", "s3:GetObjectVersion"],
            "Resource": f"{bucket_arn}/{LEDGER_PREFIX}/*",
        },
        {
            "Sid": "ListRecordsAndVersions",
            "Effect": "Allow",
            "Action": ["s3:ListBucket", "s3:ListBucketVersions"],
            "Resource": bucket_arn,
        },
        {
            "Sid": "VerifySignatures",
            "Effect": "Allow",
            "Action": ["kms:GetPublicKey", "kms:Verify"],
            "Resource": signing_key_arn,
        },
    ]
    if kms_key_arn:
        statements.append(
            {"Sid": "DecryptRecords", "Effect": "Allow", "Action": "kms:Decrypt", "Resource": kms_key_arn}
        )
    return policy_json(statements)


def observer_pod_spec(image: Any, service_account: str, env: list[dict[str, Any]]) -> dict[str, Any]:
    """The observer's pod: restricted Pod Security, system nodes, read-only root, one Job at a time."""
    return {
        "serviceAccountName": service_account,
        # It reads pods through the Kubernetes API: the token is mounted (the ClusterRole allows only get/list pods).
        "automountServiceAccountToken": True,
        "restartPolicy": "Never",
        "nodeSelector": {"kubernetes.io/os": "linux", **SYSTEM_NODE_SELECTOR},
        "securityContext": {
            "runAsNonRoot": True,
            "runAsUser": OBSERVER_UID,
            "runAsGroup": OBSERVER_UID,
            "fsGroup": OBSERVER_UID,
            "seccompProfile": {"type": "RuntimeDefault"},
        },
        "containers": [
            {
                "name": OBSERVER_NAME,
                "image": image,
                "imagePullPolicy": "Always",
                "command": ["mlplatform", "evidence", "observe"],
                "env": env,
                "resources": OBSERVER_RESOURCES,
                "securityContext": {**RESTRICTED_CONTAINER, "runAsNonRoot": True, "runAsUser": OBSERVER_UID},
            }
        ],
    }


class EvidenceLedger(pulumi.ComponentResource):
    """An Object Lock bucket + an ECC signing key + writer/reader policies (+ the observer CronJob).

    Outputs: bucket_name, bucket_arn, ledger_url (s3://bucket), signing_key_arn, kms_key_arn (the
    bucket's encryption key; None for an adopted SSE-S3 bucket), writer_policy_arn, reader_policy_arn,
    observer_role_arn (None without the observer).
    """

    bucket_name: pulumi.Output[str]
    bucket_arn: pulumi.Output[str]
    ledger_url: pulumi.Output[str]
    signing_key_arn: pulumi.Output[str]
    kms_key_arn: pulumi.Output[str | None]
    writer_policy_arn: pulumi.Output[str]
    reader_policy_arn: pulumi.Output[str]
    observer_role_arn: pulumi.Output[str] | None

    def __init__(self, name: str, args: EvidenceLedgerArgs, opts: pulumi.ResourceOptions | None = None):
        _validate(name, args)
        super().__init__("mlplatform:evidence:EvidenceLedger", name, None, opts)
        t = tags(name, args.tags)
        e = args.existing
        if e is None:
            if args.retention_mode == "COMPLIANCE":
                pulumi.log.warn(
                    f"{name}: evidence retention_mode COMPLIANCE: for {args.retention_days} days nobody, "
                    "not even the account's root user, can shorten or lift a record's retention or delete "
                    "the bucket; GOVERNANCE (the default) lets a principal with "
                    "s3:BypassGovernanceRetention do so",
                    resource=self,
                )
            data_key = kms_key(
                self,
                f"{name}-evidence",
                f"{name}-evidence",
                f"mlplatform {name}: evidence ledger bucket encryption",
                t,
                args.protect,
            )
            signing = aws.kms.Key(
                f"{name}-evidence-signing",
                description=f"mlplatform {name}: signs evidence records (DSSE, ECDSA P-256)",
                customer_master_key_spec="ECC_NIST_P256",
                key_usage="SIGN_VERIFY",
                enable_key_rotation=False,  # KMS rotates only symmetric keys; a new key would orphan old signatures
                deletion_window_in_days=30,
                tags=t,
                opts=child(self, protect=args.protect),
            )
            aws.kms.Alias(
                f"{name}-evidence-signing",
                name=f"alias/{name}-evidence-signing",
                target_key_id=signing.key_id,
                opts=child(self),
            )
            bucket = self._bucket(name, args, data_key, t)
            self.bucket_name, self.bucket_arn = bucket.bucket, bucket.arn
            self.signing_key_arn = signing.arn
            self.kms_key_arn = data_key.arn
        else:
            self.bucket_name = pulumi.Output.from_input(e.bucket_name)
            self.bucket_arn = pulumi.Output.from_input(f"arn:aws:s3:::{e.bucket_name}")
            self.signing_key_arn = pulumi.Output.from_input(e.signing_key_arn)
            self.kms_key_arn = pulumi.Output.from_input(e.kms_key_arn)
        self.ledger_url = pulumi.Output.concat("s3://", self.bucket_name)

        docs = pulumi.Output.all(self.bucket_arn, self.signing_key_arn, self.kms_key_arn)
        writer = aws.iam.Policy(
            f"{name}-evidence-writer",
            description=f"Append signed evidence records to the {name} ledger (no delete)",
            policy=docs.apply(lambda a: writer_policy(a[0], a[1], a[2])),
            tags=t,
            opts=child(self),
        )
        reader = aws.iam.Policy(
            f"{name}-evidence-reader",
            description=f"Read and verify the {name} evidence ledger",
            policy=docs.apply(lambda a: reader_policy(a[0], a[1], a[2])),
            tags=t,
            opts=child(self),
        )
        self.writer_policy_arn, self.reader_policy_arn = writer.arn, reader.arn
        for logical, role in sorted(args.writer_roles.items()):
            aws.iam.RolePolicyAttachment(
                f"{name}-evidence-writer-{logical}", role=role, policy_arn=writer.arn, opts=child(self)
            )

        self.observer_role_arn = self._observer(name, args.observer, writer, t) if args.observer else None
        self.register_outputs(
            {
                "bucket_name": self.bucket_name,
                "bucket_arn": self.bucket_arn,
                "ledger_url": self.ledger_url,
                "signing_key_arn": self.signing_key_arn,
                "kms_key_arn": self.kms_key_arn,
                "writer_policy_arn": self.writer_policy_arn,
                "reader_policy_arn": self.reader_policy_arn,
                "observer_role_arn": self.observer_role_arn,
            }
        )

    def _bucket(self, name: str, args: EvidenceLedgerArgs, key: aws.kms.Key, t: dict[str, str]) -> aws.s3.Bucket:
        bucket = aws.s3.Bucket(
            f"{name}-evidence",
            bucket=args.bucket_name,
            object_lock_enabled=True,
            force_destroy=False,
            tags=t,
            opts=child(self, protect=args.protect),
        )
        versioning = secure_bucket(self, f"{name}-evidence", bucket, key.arn)
        aws.s3.BucketObjectLockConfiguration(
            f"{name}-evidence",
            bucket=bucket.id,
            object_lock_enabled="Enabled",
            rule={"default_retention": {"mode": args.retention_mode, "days": args.retention_days}},
            opts=child(self, depends_on=[versioning]),
        )
        return bucket

    def _observer(self, name: str, o: ObserverArgs, writer: aws.iam.Policy, t: dict[str, str]) -> pulumi.Output[str]:
        kube = pulumi.ResourceOptions(parent=self, provider=o.k8s_provider)
        ns = namespace(
            self,
            f"{name}-evidence",
            o.namespace,
            o.k8s_provider,
            enforce="restricted",
            audit="restricted",
            warn="restricted",
        )
        role = aws.iam.Role(
            f"{name}-evidence-observer",
            description=f"IRSA role of {o.namespace}/{OBSERVER_NAME}: records observations in the ledger",
            assume_role_policy=pulumi.Output.all(o.oidc_provider_arn, o.oidc_issuer_url).apply(
                lambda v: irsa_trust_policy(v[0], v[1], o.namespace, OBSERVER_NAME)
            ),
            tags=t,
            opts=child(self),
        )
        aws.iam.RolePolicyAttachment(
            f"{name}-evidence-writer-observer", role=role.name, policy_arn=writer.arn, opts=child(self)
        )
        sa = k8s.core.v1.ServiceAccount(
            f"{name}-evidence-observer",
            metadata={
                "name": OBSERVER_NAME,
                "namespace": o.namespace,
                "labels": PART_OF,
                "annotations": {IRSA_ANNOTATION: role.arn},
            },
            opts=pulumi.ResourceOptions.merge(kube, pulumi.ResourceOptions(depends_on=[ns])),
        )
        cluster_role = k8s.rbac.v1.ClusterRole(
            f"{name}-evidence-observer",
            metadata={"name": f"mlplatform-{OBSERVER_NAME}", "labels": PART_OF},
            rules=[{"apiGroups": [""], "resources": ["pods"], "verbs": ["get", "list"]}],
            opts=kube,
        )
        k8s.rbac.v1.ClusterRoleBinding(
            f"{name}-evidence-observer",
            metadata={"name": f"mlplatform-{OBSERVER_NAME}", "labels": PART_OF},
            role_ref={
                "apiGroup": "rbac.authorization.k8s.io",
                "kind": "ClusterRole",
                "name": cluster_role.metadata.name,
            },
            subjects=[{"kind": "ServiceAccount", "name": OBSERVER_NAME, "namespace": o.namespace}],
            opts=kube,
        )
        region = o.region or aws.get_region_output(opts=pulumi.InvokeOutputOptions(parent=self)).region
        env: list[dict[str, Any]] = [
            {"name": "MLPLATFORM_LEDGER", "value": self.ledger_url},
            {"name": "MLPLATFORM_LEDGER_KEY", "value": self.signing_key_arn},
            {"name": "AWS_REGION", "value": region},
            {"name": "PYTHONDONTWRITEBYTECODE", "value": "1"},
        ]
        if o.cluster_name is not None:
            env.append({"name": "MLPLATFORM_CLUSTER", "value": o.cluster_name})
        k8s.batch.v1.CronJob(
            f"{name}-evidence-observer",
            metadata={"name": OBSERVER_NAME, "namespace": o.namespace, "labels": PART_OF},
            spec={
                "schedule": o.schedule,
                "timeZone": "Etc/UTC",
                "concurrencyPolicy": "Forbid",  # one writer of observations at a time
                "startingDeadlineSeconds": 120,
                "successfulJobsHistoryLimit": 1,
                "failedJobsHistoryLimit": 3,
                "jobTemplate": {
                    "spec": {
                        "backoffLimit": 0,
                        "activeDeadlineSeconds": 240,  # done before the next run
                        "ttlSecondsAfterFinished": 3600,
                        "template": {
                            "metadata": {"labels": {"app.kubernetes.io/name": OBSERVER_NAME, **PART_OF}},
                            "spec": observer_pod_spec(o.image, OBSERVER_NAME, env),
                        },
                    }
                },
            },
            opts=pulumi.ResourceOptions.merge(kube, pulumi.ResourceOptions(depends_on=[ns, sa])),
        )
        return role.arn
