"""The inputs of `EvidenceLedger` (components/evidence_ledger.py), Pulumi-free: the stack spec's
`evidence:` section is built from `EvidenceSettings`, its `existing` IS `ExistingLedger`."""

from __future__ import annotations

import re
from typing import Any, Literal

from pydantic import Field, field_validator

from . import Args, Section, ValidationError

RETENTION_MODES = ("GOVERNANCE", "COMPLIANCE")
KEY_ARN = re.compile(r"^arn:aws[a-z-]*:kms:[a-z0-9-]+:\d{12}:key/[A-Za-z0-9-]+$")
_BUCKET = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")


def _key_arn(v: str | None) -> str | None:
    if v is not None and not KEY_ARN.match(v):
        raise ValidationError("", f"{v!r} is not a KMS key ARN", "use arn:aws:kms:<region>:<account-id>:key/<key-id>")
    return v


class ExistingLedger(Section):
    """A ledger that already exists, to adopt instead of create.

    Fields:
        bucket_name (str, required): the bucket (made with Object Lock and versioning).
        signing_key_arn (str, required): its ECC_NIST_P256 SIGN_VERIFY KMS key.
        kms_key_arn (str | None, default None): the key the bucket encrypts with (SSE-KMS); None: SSE-S3.
    """

    positional = ("bucket_name", "signing_key_arn", "kms_key_arn")

    bucket_name: str
    signing_key_arn: str
    kms_key_arn: str | None = None

    @field_validator("bucket_name")
    @classmethod
    def _bucket(cls, v: str) -> str:
        if not _BUCKET.match(v):
            raise ValidationError("", f"{v!r} is not an S3 bucket name", "give the bare bucket name (no s3://)")
        return v

    @field_validator("signing_key_arn", "kms_key_arn")
    @classmethod
    def _keys(cls, v: str | None) -> str | None:
        return _key_arn(v)


class EvidenceSettings(Section):
    """What a user chooses of the evidence ledger: the fields `EvidenceLedgerArgs` and the stack's
    `evidence:` section share (one definition of each bound and default).

    Fields:
        retention_mode ("GOVERNANCE" | "COMPLIANCE", default "GOVERNANCE"): Object Lock default retention
            mode. "COMPLIANCE": nobody (not even the root user) can shorten or lift a record's retention,
            nor delete the bucket while a record is retained; a warning says so.
        retention_days (int, default 365): default retention of every record, 1..36500 days.
        existing (ExistingLedger | None, default None): adopt this bucket and key instead of creating them.
    """

    retention_mode: Literal["GOVERNANCE", "COMPLIANCE"] = "GOVERNANCE"
    retention_days: int = Field(365, ge=1, le=36500)
    existing: ExistingLedger | None = None


class EvidenceLedgerArgs(EvidenceSettings, Args):
    """Inputs of EvidenceLedger: `EvidenceSettings` (retention_mode, retention_days, existing) plus:

    Fields:
        bucket_name (str | None, default None): physical bucket name; None: auto-named `<name>-evidence-...`.
        writer_roles (dict[str, Input[str]], default {}): IAM role NAMES the writer policy is attached to,
            by a stable logical name (for example {"ci-runners": runners.role_name}).
        observer (ObserverArgs | None, default None): run the observer CronJob.
        protect (bool, default True): Pulumi `protect` on the bucket and both keys.
        tags (dict[str, str], default {}): extra tags on every AWS resource.
    """

    bucket_name: str | None = None
    writer_roles: dict[str, Any] = {}
    observer: Any = None  # evidence_ledger.ObserverArgs (it holds Pulumi inputs)
    protect: bool = True
    tags: dict[str, str] = {}
