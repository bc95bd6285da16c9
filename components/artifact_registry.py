"""ArtifactRegistry: where the platform keeps container images and model artifacts.

A model registry is an artifact repository: images and models pushed as OCI artifacts go to ECR
repositories, files (checkpoints, datasets, MLflow artifacts) go to one S3 bucket. Both are encrypted
with one customer-managed KMS key. An existing bucket and/or existing repositories can be adopted
instead of created; the component then creates nothing for the adopted part and only exposes its
names and ARNs.

Other components (MLflow, CI runners, team spaces) get least-privilege IAM documents from
`prefix_policy` (one S3 prefix) and `ecr_push_policy` (some repositories).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

import pulumi
import pulumi_aws as aws

from ._common import ValidationError, child, kms_key, policy_json, secure_bucket, tags
from .serving.prediction_log import PREFIX as PREDICTIONS_PREFIX
from .serving.prediction_log import prediction_log_statements

# Multipart uploads nobody completed (a crashed `aws s3 cp` of a checkpoint) are deleted after this.
ABORT_MULTIPART_DAYS = 7

# ECR repository names (CreateRepository API): path segments of lowercase alphanumerics joined by . _ -
_ECR_NAME = re.compile(r"^(?:[a-z0-9]+(?:[._-][a-z0-9]+)*/)*[a-z0-9]+(?:[._-][a-z0-9]+)*$")
# <account>.dkr.ecr.<region>.amazonaws.com/<repository>
_ECR_URL = re.compile(
    r"^(?P<account>\d{12})\.dkr\.ecr\.(?P<region>[a-z]{2}(?:-[a-z]+)+-\d)\.amazonaws\.com/(?P<repo>.+)$"
)
# S3 general purpose bucket naming rules.
_BUCKET = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
_BUCKET_BAD_PREFIXES = ("xn--", "sthree-", "amzn-s3-demo-")
_BUCKET_BAD_SUFFIXES = ("-s3alias", "--ol-s3", ".mrap", "--x-s3", "--table-s3")
# Buckets created before 2018 in us-east-1 may use uppercase and underscores: adopted names are checked loosely.
_LEGACY_BUCKET = re.compile(r"^[A-Za-z0-9._-]{3,255}$")
# KMS alias names allow letters, digits, / _ -
_ALIAS_SAFE = re.compile(r"^[A-Za-z0-9/_-]+$")

# What pushing and pulling an image or OCI artifact needs on the repository itself.
ECR_PUSH_PULL_ACTIONS = [
    "ecr:BatchCheckLayerAvailability",
    "ecr:BatchGetImage",
    "ecr:GetDownloadUrlForLayer",
    "ecr:InitiateLayerUpload",
    "ecr:UploadLayerPart",
    "ecr:CompleteLayerUpload",
    "ecr:PutImage",
]


@dataclass
class ExistingRegistry:
    """What to adopt instead of create.

    bucket_name: str | None = None
        An existing S3 bucket to use as the artifact bucket. When set, no bucket (and none of its
        settings) is created; the ARN is `arn:aws:s3:::<bucket_name>`.
    repository_urls: dict[str, str] = {}
        Existing ECR repositories by logical name, for example
        `{"images": "123456789012.dkr.ecr.us-east-1.amazonaws.com/team/images"}`. A name adopted here
        is not created even when it is also in `ArtifactRegistryArgs.repositories`. The ARN is derived
        from the URL.
    kms_key_arn: str | None = None
        The KMS key the adopted bucket encrypts with (SSE-KMS), so `prefix_policy` grants
        kms:Decrypt / kms:GenerateDataKey on it. None: the adopted bucket uses SSE-S3.
    """

    bucket_name: str | None = None
    repository_urls: dict[str, str] = field(default_factory=dict)
    kms_key_arn: str | None = None


@dataclass
class ArtifactRegistryArgs:
    """Inputs of ArtifactRegistry.

    repositories: list[str] = ["images", "models"]
        Logical ECR repository names (lowercase, ECR-legal, unique). Each becomes the repository
        f"{repository_prefix}/{name}", unless adopted through `existing.repository_urls`.
    repository_prefix: str = "mlplatform"
        Namespace in front of every created repository name (ECR-legal; may contain `/`).
    bucket_name: str | None = None
        Physical name of the artifact bucket (S3 naming rules). None: Pulumi auto-names it from
        f"{name}-artifacts" plus a random suffix.
    keep_tagged_images: int = 100
        ECR lifecycle of repositories NOT in `model_repositories` (images): keep the newest N tagged
        images, expire older tagged ones.
    untagged_expire_days: int = 14
        ECR lifecycle of every repository: expire untagged images (layers of an overwritten moving
        tag, pushes by digest) this many days after push.
    model_repositories: list[str] = ["models"]
        Repositories that hold models (data): their lifecycle selects untagged images only, so no rule
        ever expires a tagged model version, and they take no `mutable_tags`.
    mutable_tags: dict[str, list[str]] = {}
        Per repository, tags that may be pushed again (ECR `IMMUTABLE_WITH_EXCLUSION`, wildcard
        filters, for example {"images": ["retrain"]}); every other tag stays immutable.
    noncurrent_version_days: int = 90
        S3 lifecycle: delete an object's noncurrent (overwritten or deleted) versions after this many
        days. Incomplete multipart uploads are always aborted after ABORT_MULTIPART_DAYS (7) days.
    force_destroy: bool = False
        Let a destroy delete the bucket and repositories even when they still hold objects/images
        (all artifacts are lost). Keep False outside throwaway stacks.
    existing: ExistingRegistry | None = None
        Adopt an existing bucket and/or repositories instead of creating them (see ExistingRegistry).
    prediction_retention_days: int | None = None
        Served models' prediction logs (`predictions/`) expire after this many days; None (default):
        never (no rule is created; the user decides how long logs of real requests are kept).
    protect: bool = True
        Pulumi `protect` on the stateful resources (KMS key, bucket, repositories).
    tags: dict[str, str] = {}
        Extra tags on every AWS resource, added to the ownership tags.
    """

    repositories: list[str] = field(default_factory=lambda: ["images", "models"])
    repository_prefix: str = "mlplatform"
    bucket_name: str | None = None
    keep_tagged_images: int = 100
    untagged_expire_days: int = 14
    model_repositories: list[str] = field(default_factory=lambda: ["models"])
    mutable_tags: dict[str, list[str]] = field(default_factory=dict)
    noncurrent_version_days: int = 90
    force_destroy: bool = False
    existing: ExistingRegistry | None = None
    protect: bool = True
    tags: dict[str, str] = field(default_factory=dict)
    prediction_retention_days: int | None = None


def ecr_repository_arn(url: str, field_name: str = "existing.repository_urls") -> str:
    """The ARN of the repository behind an ECR URL (<acct>.dkr.ecr.<region>.amazonaws.com/<repo>)."""
    m = _ECR_URL.match(url)
    if not m or not _ECR_NAME.match(m["repo"]):
        raise ValidationError(
            field_name,
            f"{url!r} is not an ECR repository URL",
            "use the form <account-id>.dkr.ecr.<region>.amazonaws.com/<repository> (no scheme, no tag)",
        )
    partition = "aws-us-gov" if m["region"].startswith("us-gov-") else "aws"
    return f"arn:{partition}:ecr:{m['region']}:{m['account']}:repository/{m['repo']}"


def _positive_int(field_name: str, value: object) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValidationError(field_name, f"must be a positive whole number, got {value!r}", "use 1 or more")


def _check_bucket_name(field_name: str, name: str) -> None:
    fix = "use 3-63 lowercase letters, digits, '-' or '.', starting and ending with a letter or digit"
    if not isinstance(name, str) or not _BUCKET.match(name):
        raise ValidationError(field_name, f"{name!r} is not a valid S3 bucket name", fix)
    if ".." in name or re.fullmatch(r"\d+\.\d+\.\d+\.\d+", name):
        raise ValidationError(
            field_name, f"{name!r} is not a valid S3 bucket name (adjacent dots or an IP address)", fix
        )
    if name.startswith(_BUCKET_BAD_PREFIXES) or name.endswith(_BUCKET_BAD_SUFFIXES):
        raise ValidationError(
            field_name,
            f"{name!r} uses a prefix or suffix S3 reserves",
            f"avoid the prefixes {', '.join(_BUCKET_BAD_PREFIXES)} and suffixes {', '.join(_BUCKET_BAD_SUFFIXES)}",
        )


def _check_repo_name(field_name: str, name: object) -> None:
    if not isinstance(name, str) or not name or not _ECR_NAME.match(name):
        raise ValidationError(
            field_name,
            f"{name!r} is not a valid ECR repository name",
            "use lowercase letters and digits, separated by single '.', '_', '-' or '/' (for example 'models')",
        )


def _validate(name: str, args: ArtifactRegistryArgs) -> None:
    if not _ALIAS_SAFE.match(name):
        raise ValidationError(
            "name", f"{name!r} cannot be part of a KMS alias", "use letters, digits, '/', '_' and '-' only"
        )
    existing = args.existing or ExistingRegistry()
    if not isinstance(args.repositories, list):
        raise ValidationError(
            "repositories",
            f"must be a list of names, got {type(args.repositories).__name__}",
            'use for example ["images", "models"]',
        )
    if not args.repositories and not existing.repository_urls:
        raise ValidationError(
            "repositories", "is empty", 'name at least one repository, for example ["images", "models"]'
        )
    for repo in args.repositories:
        _check_repo_name("repositories", repo)
    duplicates = sorted({r for r in args.repositories if args.repositories.count(r) > 1})
    if duplicates:
        raise ValidationError(
            "repositories", f"lists {', '.join(duplicates)} more than once", "name each repository once"
        )
    _check_repo_name("repository_prefix", args.repository_prefix)
    for repo in args.repositories:
        if len(f"{args.repository_prefix}/{repo}") > 256:
            raise ValidationError(
                "repositories",
                f"{args.repository_prefix}/{repo} is longer than 256 characters",
                "shorten repository_prefix or the repository name",
            )
    if args.bucket_name is not None:
        _check_bucket_name("bucket_name", args.bucket_name)
        if existing.bucket_name is not None:
            raise ValidationError(
                "bucket_name",
                "is set together with existing.bucket_name",
                "set bucket_name to create a bucket, or existing.bucket_name to adopt one, not both",
            )
    for repo, moving in args.mutable_tags.items():
        if repo not in args.repositories:
            raise ValidationError(
                "mutable_tags", f"{repo!r} is not in repositories", "name a repository the registry creates"
            )
        if repo in args.model_repositories:
            raise ValidationError(
                "mutable_tags",
                f"{repo!r} holds models, whose tags never move",
                "give moving tags to an image repository only",
            )
        for tag in moving:
            if (
                not isinstance(tag, str)
                or not re.fullmatch(r"[A-Za-z0-9*][A-Za-z0-9_.*-]{0,127}", tag)
                or tag.strip("*") == ""
            ):
                raise ValidationError(
                    "mutable_tags",
                    f"{tag!r} is not an ECR tag filter",
                    "use a tag like retrain (letters, digits, '_', '.', '-', '*' wildcards)",
                )
    _positive_int("keep_tagged_images", args.keep_tagged_images)
    _positive_int("untagged_expire_days", args.untagged_expire_days)
    _positive_int("noncurrent_version_days", args.noncurrent_version_days)
    if args.prediction_retention_days is not None:
        _positive_int("prediction_retention_days", args.prediction_retention_days)
    if existing.bucket_name is not None and not (
        isinstance(existing.bucket_name, str) and _LEGACY_BUCKET.match(existing.bucket_name)
    ):
        raise ValidationError(
            "existing.bucket_name",
            f"{existing.bucket_name!r} is not an S3 bucket name",
            "give the bare bucket name (no s3:// and no path)",
        )
    for repo, url in existing.repository_urls.items():
        _check_repo_name("existing.repository_urls", repo)
        ecr_repository_arn(url)
    if existing.kms_key_arn is not None and not re.match(
        r"^arn:aws[a-z-]*:kms:[a-z0-9-]+:\d{12}:key/.+$", existing.kms_key_arn
    ):
        raise ValidationError(
            "existing.kms_key_arn",
            f"{existing.kms_key_arn!r} is not a KMS key ARN",
            "use arn:aws:kms:<region>:<account-id>:key/<key-id>",
        )


class ArtifactRegistry(pulumi.ComponentResource):
    """ECR repositories + an S3 artifact bucket, KMS-encrypted, private, TLS-only, with lifecycles.

    Outputs: bucket_name, bucket_arn, repository_urls (logical name -> URL), repository_arns
    (logical name -> ARN), kms_key_arn (the key this component created; the adopted key when it
    created nothing; None when there is neither).
    """

    bucket_name: pulumi.Output[str]
    bucket_arn: pulumi.Output[str]
    repository_urls: dict[str, pulumi.Output[str]]
    repository_arns: dict[str, pulumi.Output[str]]
    kms_key_arn: pulumi.Output[str | None]

    def __init__(self, name: str, args: ArtifactRegistryArgs, opts: pulumi.ResourceOptions | None = None):
        _validate(name, args)
        super().__init__("mlplatform:registry:ArtifactRegistry", name, None, opts)
        existing = args.existing or ExistingRegistry()
        t = tags(name, args.tags)
        adopted = dict(existing.repository_urls)
        to_create = [r for r in args.repositories if r not in adopted]
        create_bucket = existing.bucket_name is None

        key: aws.kms.Key | None = None
        if to_create or create_bucket:
            key = kms_key(
                self,
                f"{name}-artifacts",
                f"{name}-artifacts",
                f"mlplatform {name}: artifact bucket and ECR repositories",
                t,
                args.protect,
            )

        self.repository_urls, self.repository_arns = {}, {}
        for repo in to_create:
            assert key is not None  # created above whenever a repository is to be created
            repository = aws.ecr.Repository(
                f"{name}-{repo}",
                name=f"{args.repository_prefix}/{repo}",
                image_tag_mutability="IMMUTABLE_WITH_EXCLUSION" if args.mutable_tags.get(repo) else "IMMUTABLE",
                image_tag_mutability_exclusion_filters=[
                    {"filter": tag, "filter_type": "WILDCARD"} for tag in args.mutable_tags[repo]
                ]
                if args.mutable_tags.get(repo)
                else None,
                image_scanning_configuration={"scan_on_push": True},
                encryption_configurations=[{"encryption_type": "KMS", "kms_key": key.arn}],
                force_delete=args.force_destroy,
                tags=t,
                opts=child(self, protect=args.protect),
            )
            aws.ecr.LifecyclePolicy(
                f"{name}-{repo}",
                repository=repository.name,
                policy=_ecr_lifecycle(
                    args.untagged_expire_days, None if repo in args.model_repositories else args.keep_tagged_images
                ),
                opts=child(self),
            )
            self.repository_urls[repo] = repository.repository_url
            self.repository_arns[repo] = repository.arn
        for repo, url in adopted.items():
            self.repository_urls[repo] = pulumi.Output.from_input(url)
            self.repository_arns[repo] = pulumi.Output.from_input(ecr_repository_arn(url))

        if existing.bucket_name is None:
            assert key is not None  # created above whenever the bucket is to be created
            bucket = self._bucket(name, args, key, t)
            self.bucket_name, self.bucket_arn = bucket.bucket, bucket.arn
            self._bucket_key_arn = key.arn
        else:
            self.bucket_name = pulumi.Output.from_input(existing.bucket_name)
            self.bucket_arn = pulumi.Output.from_input(f"arn:aws:s3:::{existing.bucket_name}")
            self._bucket_key_arn = pulumi.Output.from_input(existing.kms_key_arn)
        self.kms_key_arn = key.arn if key is not None else pulumi.Output.from_input(existing.kms_key_arn)

        self.register_outputs(
            {
                "bucket_name": self.bucket_name,
                "bucket_arn": self.bucket_arn,
                "repository_urls": self.repository_urls,
                "repository_arns": self.repository_arns,
                "kms_key_arn": self.kms_key_arn,
            }
        )

    def _bucket(self, name: str, args: ArtifactRegistryArgs, key: aws.kms.Key, t: dict[str, str]) -> aws.s3.Bucket:
        bucket = aws.s3.Bucket(
            f"{name}-artifacts",
            bucket=args.bucket_name,
            force_destroy=args.force_destroy,
            tags=t,
            opts=child(self, protect=args.protect),
        )
        secure_bucket(self, f"{name}-artifacts", bucket, key.arn)
        aws.s3.BucketLifecycleConfiguration(
            f"{name}-artifacts",
            bucket=bucket.id,
            rules=[
                {
                    "id": "expire-noncurrent-versions",
                    "status": "Enabled",
                    "filter": {"prefix": ""},
                    "noncurrent_version_expiration": {"noncurrent_days": args.noncurrent_version_days},
                },
                {
                    "id": "abort-incomplete-multipart-uploads",
                    "status": "Enabled",
                    "filter": {"prefix": ""},
                    "abort_incomplete_multipart_upload": {"days_after_initiation": ABORT_MULTIPART_DAYS},
                },
                # Only when the user sets it: prediction logs are the one expiry, of that prefix only.
                *(
                    [
                        {
                            "id": "expire-prediction-logs",
                            "status": "Enabled",
                            "filter": {"prefix": f"{PREDICTIONS_PREFIX}/"},
                            "expiration": {"days": args.prediction_retention_days},
                        }
                    ]
                    if args.prediction_retention_days is not None
                    else []
                ),
            ],
            opts=child(self),
        )
        return bucket

    # -- IAM documents other components attach ----------------------------------------------------
    def check_repositories(self, field: str, repos: Any) -> None:
        """Raise ValidationError unless `repos` is a list of this registry's repository names."""
        if not isinstance(repos, list):
            raise ValidationError(
                field, f"must be a list, got {type(repos).__name__}", 'use for example ["models"], or [] for none'
            )
        unknown = [r for r in repos if r not in self.repository_arns]
        if unknown:
            raise ValidationError(
                field,
                f"{', '.join(map(repr, unknown))} is not a repository of the registry",
                f"use some of {', '.join(self.repository_arns) or '(none: pass [])'}",
            )

    def prefix_policy(self, prefix: str, write: bool = True) -> pulumi.Output[str]:
        """IAM policy JSON: list, read (and with `write`, put/delete) objects under `prefix/` only.

        Includes kms:Decrypt (and kms:GenerateDataKey for `write`) on the bucket's KMS key, which
        SSE-KMS needs.
        """
        if (
            not isinstance(prefix, str)
            or not prefix.strip("/")
            or prefix != prefix.strip("/")
            or any(c in prefix for c in "*?")
        ):
            raise ValidationError(
                "prefix",
                f"{prefix!r} is not a plain S3 key prefix",
                "use a non-empty prefix without leading/trailing '/' or wildcards, for example 'teams/vision'",
            )
        object_actions = ["s3:GetObject", "s3:PutObject", "s3:DeleteObject"] if write else ["s3:GetObject"]
        kms_actions = ["kms:Decrypt", "kms:GenerateDataKey"] if write else ["kms:Decrypt"]

        def document(bucket_arn: str, key_arn: str | None) -> str:
            statements: list[dict[str, Any]] = [
                {
                    "Sid": "ListPrefix",
                    "Effect": "Allow",
                    "Action": "s3:ListBucket",
                    "Resource": bucket_arn,
                    "Condition": {"StringLike": {"s3:prefix": [f"{prefix}/*"]}},
                },
                {
                    "Sid": "ObjectsUnderPrefix",
                    "Effect": "Allow",
                    "Action": object_actions,
                    "Resource": f"{bucket_arn}/{prefix}/*",
                },
            ]
            if key_arn:
                statements.append({"Sid": "BucketKey", "Effect": "Allow", "Action": kms_actions, "Resource": key_arn})
            return policy_json(statements)

        return pulumi.Output.all(self.bucket_arn, self._bucket_key_arn).apply(lambda a: document(a[0], a[1]))

    def prediction_log_policy(self, model: str) -> pulumi.Output[str]:
        """IAM policy JSON for a served model's runtime: put its prediction log under
        `predictions/<model>/` only (serving/prediction_log.py), with the bucket key for SSE-KMS."""
        if not isinstance(model, str) or not re.fullmatch(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?", model):
            raise ValidationError("model", f"{model!r} is not a model name", "use lowercase letters, digits and '-'")
        return pulumi.Output.all(self.bucket_arn, self._bucket_key_arn).apply(
            lambda a: policy_json(prediction_log_statements(a[0], model, a[1]))
        )

    def ecr_push_policy(self, repos: list[str]) -> pulumi.Output[str]:
        """IAM policy JSON: log in to ECR, push and pull the named repositories (logical names).

        ecr:GetAuthorizationToken only exists on "*". No KMS statement: ECR decrypts and encrypts
        through its own grant on the key, so pushers and pullers need no KMS permission.
        """
        known = ", ".join(self.repository_arns)
        if not isinstance(repos, list) or not repos:
            raise ValidationError(
                "repos", f"must be a non-empty list of repository names, got {repos!r}", f"use some of {known}"
            )
        unknown = [r for r in repos if r not in self.repository_arns]
        if unknown:
            raise ValidationError(
                "repos", f"{', '.join(map(str, unknown))} is not a repository of this registry", f"use some of {known}"
            )
        return pulumi.Output.all(*[self.repository_arns[r] for r in repos]).apply(
            lambda arns: policy_json(
                [
                    {"Sid": "EcrLogin", "Effect": "Allow", "Action": "ecr:GetAuthorizationToken", "Resource": "*"},
                    {"Sid": "PushPull", "Effect": "Allow", "Action": ECR_PUSH_PULL_ACTIONS, "Resource": sorted(arns)},
                ]
            )
        )


def _ecr_lifecycle(untagged_days: int, keep: int | None) -> str:
    """ECR lifecycle policy: untagged images expire after `untagged_days`; with `keep` (image
    repositories) the newest `keep` TAGGED images are kept and older tagged ones expire. Model
    repositories pass `keep=None`: no rule can select a tagged artifact (MLflow runs point at them)."""
    rules: list[dict[str, Any]] = [
        {
            "rulePriority": 1,
            "description": f"Expire untagged images after {untagged_days} days",
            "selection": {
                "tagStatus": "untagged",
                "countType": "sinceImagePushed",
                "countUnit": "days",
                "countNumber": untagged_days,
            },
            "action": {"type": "expire"},
        }
    ]
    if keep is not None:
        rules.append(
            {
                "rulePriority": 2,
                "description": f"Keep the newest {keep} tagged images",
                "selection": {
                    "tagStatus": "tagged",
                    "tagPatternList": ["*"],
                    "countType": "imageCountMoreThan",
                    "countNumber": keep,
                },
                "action": {"type": "expire"},
            }
        )
    return json.dumps({"rules": rules})
