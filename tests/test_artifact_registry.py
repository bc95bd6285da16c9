"""ArtifactRegistry under the Pulumi mock monitor: real inputs of every resource it registers."""

from __future__ import annotations

import json

import pulumi
import pulumi_aws as aws
import pytest

from conftest import one, plan_of
from mlplatform.components._common import ValidationError
from mlplatform.components.artifact_registry import (
    ArtifactRegistry,
    ArtifactRegistryArgs,
    ExistingRegistry,
    ecr_repository_arn,
)
from mlplatform.stacks.plan.mocks import ACCOUNT_ID

S3 = "aws:s3/"
BUCKET = "aws:s3/bucket:Bucket"
REPO = "aws:ecr/repository:Repository"
KEY = "aws:kms/key:Key"
ADOPTED_URL = f"{ACCOUNT_ID}.dkr.ecr.eu-west-1.amazonaws.com/team/images"


def registry_plan(args: ArtifactRegistryArgs | None = None, policies=None):
    """Plan of one registry `reg`; `policies(registry)` may return {name: Output[str]} to attach as IAM policies."""

    def program():
        reg = ArtifactRegistry("reg", args or ArtifactRegistryArgs())
        for pname, doc in (policies(reg) if policies else {}).items():
            aws.iam.Policy(pname, policy=doc)
        pulumi.export("bucket_name", reg.bucket_name)
        pulumi.export("bucket_arn", reg.bucket_arn)
        pulumi.export("repository_urls", reg.repository_urls)
        pulumi.export("repository_arns", reg.repository_arns)
        pulumi.export("kms_key_arn", reg.kms_key_arn)

    return plan_of(program)


@pytest.fixture(scope="module")
def plan():
    return registry_plan()


def key_arn(plan) -> str:
    return plan.outputs["kms_key_arn"]


def test_component_type_and_outputs(plan):
    comp = one(plan, "mlplatform:registry:ArtifactRegistry", "reg")
    assert all(r.parent == comp.urn for r in plan.resources if r.type.startswith("aws:"))
    out = plan.outputs
    assert out["bucket_arn"] == f"arn:aws:s3:::{out['bucket_name']}"
    assert out["bucket_name"].startswith("reg-artifacts-")
    assert out["repository_urls"] == {
        "images": f"{ACCOUNT_ID}.dkr.ecr.us-east-1.amazonaws.com/mlplatform/images",
        "models": f"{ACCOUNT_ID}.dkr.ecr.us-east-1.amazonaws.com/mlplatform/models",
    }
    assert out["repository_arns"]["models"] == f"arn:aws:ecr:us-east-1:{ACCOUNT_ID}:repository/mlplatform/models"
    assert out["kms_key_arn"].startswith(f"arn:aws:kms:us-east-1:{ACCOUNT_ID}:key/")


def test_every_aws_resource_carries_ownership_tags(plan):
    tagged = [r for r in plan.resources if r.type in (BUCKET, REPO, KEY)]
    assert len(tagged) == 4
    for r in tagged:
        assert r.inputs["tags"]["mlplatform:managed-by"] == "mlplatform"
        assert r.inputs["tags"]["mlplatform:component"] == "reg"


def test_kms_key_rotates_is_protected_and_aliased(plan):
    key = one(plan, KEY)
    assert key.inputs["enableKeyRotation"] is True
    assert key.protect is True
    assert one(plan, "aws:kms/alias:Alias").inputs["name"] == "alias/reg-artifacts"


def test_bucket_is_protected_and_not_force_destroyed(plan):
    bucket = one(plan, BUCKET)
    assert bucket.protect is True
    assert bucket.inputs["forceDestroy"] is False
    assert "bucket" not in bucket.inputs  # auto-named from "reg-artifacts"
    assert bucket.name == "reg-artifacts"


def test_public_access_fully_blocked(plan):
    pab = one(plan, S3 + "bucketPublicAccessBlock:BucketPublicAccessBlock")
    for flag in ("blockPublicAcls", "blockPublicPolicy", "ignorePublicAcls", "restrictPublicBuckets"):
        assert pab.inputs[flag] is True, flag
    assert pab.inputs["bucket"] == plan.outputs["bucket_name"]


def test_bucket_owner_enforced(plan):
    own = one(plan, S3 + "bucketOwnershipControls:BucketOwnershipControls")
    assert own.inputs["rule"] == {"objectOwnership": "BucketOwnerEnforced"}


def test_sse_kms_with_component_key_and_bucket_key(plan):
    sse = one(plan, S3 + "bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration")
    [rule] = sse.inputs["rules"]
    assert rule["applyServerSideEncryptionByDefault"] == {"sseAlgorithm": "aws:kms", "kmsMasterKeyId": key_arn(plan)}
    assert rule["bucketKeyEnabled"] is True
    assert rule["blockedEncryptionTypes"] == ["SSE-C"]


def test_versioning_enabled(plan):
    ver = one(plan, S3 + "bucketVersioning:BucketVersioning")
    assert ver.inputs["versioningConfiguration"]["status"] == "Enabled"
    assert ver.inputs["bucket"] == plan.outputs["bucket_name"]


def test_bucket_policy_denies_non_tls(plan):
    pol = one(plan, S3 + "bucketPolicy:BucketPolicy")
    arn = plan.outputs["bucket_arn"]
    [stmt] = json.loads(pol.inputs["policy"])["Statement"]
    assert stmt["Effect"] == "Deny"
    assert stmt["Principal"] == "*"
    assert stmt["Action"] == "s3:*"
    assert sorted(stmt["Resource"]) == [arn, f"{arn}/*"]
    assert stmt["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
    pab = one(plan, S3 + "bucketPublicAccessBlock:BucketPublicAccessBlock")
    assert pab.urn in pol.depends_on


def test_bucket_lifecycle_rules(plan):
    lc = one(plan, S3 + "bucketLifecycleConfiguration:BucketLifecycleConfiguration")
    rules = {r["id"]: r for r in lc.inputs["rules"]}
    assert all(r["status"] == "Enabled" for r in rules.values())
    assert rules["expire-noncurrent-versions"]["noncurrentVersionExpiration"] == {"noncurrentDays": 90}
    assert rules["abort-incomplete-multipart-uploads"]["abortIncompleteMultipartUpload"] == {"daysAfterInitiation": 7}


def test_ecr_repositories_immutable_scanned_kms_protected(plan):
    repos = {r.inputs["name"]: r for r in plan.of_type(REPO)}
    assert sorted(repos) == ["mlplatform/images", "mlplatform/models"]
    for repo in repos.values():
        assert repo.inputs["imageTagMutability"] == "IMMUTABLE"
        assert repo.inputs["imageScanningConfiguration"] == {"scanOnPush": True}
        assert repo.inputs["encryptionConfigurations"] == [{"encryptionType": "KMS", "kmsKey": key_arn(plan)}]
        assert repo.inputs["forceDelete"] is False
        assert repo.protect is True


def lifecycle_rules(plan) -> dict[str, list[dict]]:
    return {p.inputs["repository"]: sorted(json.loads(p.inputs["policy"])["rules"], key=lambda r: r["rulePriority"])
            for p in plan.of_type("aws:ecr/lifecyclePolicy:LifecyclePolicy")}


def selects_tagged(rule: dict) -> bool:
    """Can this ECR lifecycle rule expire an image that has a tag? (tagStatus any or tagged)"""
    return rule["selection"]["tagStatus"] in ("any", "tagged")


def test_ecr_lifecycle_policy_rules(plan):
    policies = lifecycle_rules(plan)
    assert sorted(policies) == ["mlplatform/images", "mlplatform/models"]
    untagged, keep = policies["mlplatform/images"]
    assert untagged["selection"] == {"tagStatus": "untagged", "countType": "sinceImagePushed",
                                     "countUnit": "days", "countNumber": 14}
    # Images keep their newest 100 tagged releases (their own rule).
    assert keep["selection"] == {"tagStatus": "tagged", "tagPatternList": ["*"], "countType": "imageCountMoreThan",
                                 "countNumber": 100}
    assert keep["rulePriority"] > untagged["rulePriority"]
    assert untagged["action"] == keep["action"] == {"type": "expire"}


def test_no_lifecycle_rule_can_expire_a_tagged_model(plan):
    """The model registry is data: MLflow runs point at tagged model versions (oci.reference)."""
    [only] = lifecycle_rules(plan)["mlplatform/models"]
    assert only["selection"]["tagStatus"] == "untagged" and not selects_tagged(only)
    # Whatever keep_tagged_images says, and for any repository called a model repository.
    p = registry_plan(ArtifactRegistryArgs(repositories=["weights", "images"], model_repositories=["weights"],
                                           keep_tagged_images=1))
    rules = lifecycle_rules(p)
    assert not any(selects_tagged(r) for r in rules["mlplatform/weights"])
    assert any(selects_tagged(r) for r in rules["mlplatform/images"])  # the check can fail


def test_only_the_retraining_tag_of_images_moves():
    p = registry_plan(ArtifactRegistryArgs(mutable_tags={"images": ["retrain"]}))
    repos = {r.inputs["name"]: r.inputs for r in p.of_type(REPO)}
    assert repos["mlplatform/images"]["imageTagMutability"] == "IMMUTABLE_WITH_EXCLUSION"
    assert repos["mlplatform/images"]["imageTagMutabilityExclusionFilters"] == [
        {"filter": "retrain", "filterType": "WILDCARD"}]
    assert repos["mlplatform/models"]["imageTagMutability"] == "IMMUTABLE"
    assert "imageTagMutabilityExclusionFilters" not in repos["mlplatform/models"]


def test_custom_settings_reach_the_resources():
    p = registry_plan(ArtifactRegistryArgs(
        repositories=["train/images"], repository_prefix="acme", bucket_name="acme-ml-artifacts",
        keep_tagged_images=30, untagged_expire_days=3, noncurrent_version_days=30,
        force_destroy=True, protect=False, tags={"team": "ml"}))
    repo = one(p, REPO)
    assert repo.inputs["name"] == "acme/train/images"
    assert repo.inputs["forceDelete"] is True and repo.protect is False
    assert repo.inputs["tags"]["team"] == "ml"
    [untagged, keep] = json.loads(one(p, "aws:ecr/lifecyclePolicy:LifecyclePolicy").inputs["policy"])["rules"]
    assert keep["selection"]["tagStatus"] == "tagged"
    assert untagged["selection"]["countNumber"] == 3 and keep["selection"]["countNumber"] == 30
    bucket = one(p, BUCKET)
    assert bucket.inputs["bucket"] == "acme-ml-artifacts"
    assert bucket.inputs["forceDestroy"] is True and bucket.protect is False
    assert p.outputs["bucket_arn"] == "arn:aws:s3:::acme-ml-artifacts"
    lc = one(p, S3 + "bucketLifecycleConfiguration:BucketLifecycleConfiguration")
    assert {"noncurrentDays": 30} in [r.get("noncurrentVersionExpiration") for r in lc.inputs["rules"]]


# -- IAM helpers ------------------------------------------------------------------------------------

def statements(plan, policy_name):
    return json.loads(one(plan, "aws:iam/policy:Policy", policy_name).inputs["policy"])["Statement"]


def resources_of(stmt):
    res = stmt["Resource"]
    return res if isinstance(res, list) else [res]


def test_prefix_policy_is_scoped_to_the_prefix():
    p = registry_plan(policies=lambda r: {"rw": r.prefix_policy("teams/vision"),
                                          "ro": r.prefix_policy("teams/vision", write=False)})
    arn, key = p.outputs["bucket_arn"], p.outputs["kms_key_arn"]
    rw = {s["Sid"]: s for s in statements(p, "rw")}
    assert rw["ListPrefix"]["Action"] == "s3:ListBucket"
    assert rw["ListPrefix"]["Resource"] == arn
    assert rw["ListPrefix"]["Condition"] == {"StringLike": {"s3:prefix": ["teams/vision/*"]}}
    assert sorted(rw["ObjectsUnderPrefix"]["Action"]) == ["s3:DeleteObject", "s3:GetObject", "s3:PutObject"]
    assert rw["ObjectsUnderPrefix"]["Resource"] == f"{arn}/teams/vision/*"
    assert sorted(rw["BucketKey"]["Action"]) == ["kms:Decrypt", "kms:GenerateDataKey"]
    assert rw["BucketKey"]["Resource"] == key
    ro = {s["Sid"]: s for s in statements(p, "ro")}
    assert ro["ObjectsUnderPrefix"]["Action"] == ["s3:GetObject"]
    assert ro["BucketKey"]["Action"] == ["kms:Decrypt"]
    for stmt in statements(p, "rw") + statements(p, "ro"):
        assert stmt["Effect"] == "Allow"
        assert "*" not in resources_of(stmt)
        assert "*" not in stmt["Action"] and "s3:*" not in stmt["Action"]


def test_ecr_push_policy_scoped_to_named_repositories():
    p = registry_plan(policies=lambda r: {"push": r.ecr_push_policy(["models"])})
    stmts = {s["Sid"]: s for s in statements(p, "push")}
    assert stmts["EcrLogin"] == {"Sid": "EcrLogin", "Effect": "Allow", "Action": "ecr:GetAuthorizationToken", "Resource": "*"}
    push = stmts["PushPull"]
    assert push["Resource"] == [p.outputs["repository_arns"]["models"]]
    assert {"ecr:PutImage", "ecr:BatchGetImage", "ecr:CompleteLayerUpload"} <= set(push["Action"])
    assert not any(a.endswith("*") for a in push["Action"])
    # The only "*" resource is the one ECR login requires.
    star = [s["Sid"] for s in stmts.values() if "*" in resources_of(s)]
    assert star == ["EcrLogin"]


def test_helper_validation_errors():
    def program():
        reg = ArtifactRegistry("reg", ArtifactRegistryArgs())
        with pytest.raises(ValidationError, match=r"^prefix: '/teams' is not a plain S3 key prefix; "):
            reg.prefix_policy("/teams")
        with pytest.raises(ValidationError, match=r"^prefix: 'teams/\*' is not a plain S3 key prefix"):
            reg.prefix_policy("teams/*")
        with pytest.raises(ValidationError, match=r"^repos: datasets is not a repository of this registry; use some of images, models$"):
            reg.ecr_push_policy(["datasets"])
        with pytest.raises(ValidationError, match=r"^repos: must be a non-empty list"):
            reg.ecr_push_policy([])

    plan_of(program)


# -- adoption ---------------------------------------------------------------------------------------

def test_adopt_bucket_creates_no_s3_resources():
    p = registry_plan(ArtifactRegistryArgs(existing=ExistingRegistry(bucket_name="legacy-ml-bucket")),
                      policies=lambda r: {"rw": r.prefix_policy("mlflow")})
    assert [r for r in p.resources if r.type.startswith(S3)] == []
    assert p.outputs["bucket_name"] == "legacy-ml-bucket"
    assert p.outputs["bucket_arn"] == "arn:aws:s3:::legacy-ml-bucket"
    # Repositories are still created, so the key is too.
    assert len(p.of_type(REPO)) == 2 and len(p.of_type(KEY)) == 1
    rw = {s["Sid"]: s for s in statements(p, "rw")}
    assert rw["ObjectsUnderPrefix"]["Resource"] == "arn:aws:s3:::legacy-ml-bucket/mlflow/*"
    assert "BucketKey" not in rw  # the adopted bucket's key is unknown: SSE-S3 assumed


def test_adopted_bucket_key_is_used_by_prefix_policy():
    adopted_key = f"arn:aws:kms:us-east-1:{ACCOUNT_ID}:key/1234abcd-12ab-34cd-56ef-1234567890ab"
    p = registry_plan(ArtifactRegistryArgs(existing=ExistingRegistry(bucket_name="legacy-ml-bucket", kms_key_arn=adopted_key)),
                      policies=lambda r: {"rw": r.prefix_policy("mlflow")})
    rw = {s["Sid"]: s for s in statements(p, "rw")}
    assert rw["BucketKey"]["Resource"] == adopted_key


def test_adopt_repository_urls():
    p = registry_plan(ArtifactRegistryArgs(existing=ExistingRegistry(repository_urls={"images": ADOPTED_URL})),
                      policies=lambda r: {"push": r.ecr_push_policy(["images", "models"])})
    assert [r.inputs["name"] for r in p.of_type(REPO)] == ["mlplatform/models"]
    assert len(p.of_type("aws:ecr/lifecyclePolicy:LifecyclePolicy")) == 1
    assert p.outputs["repository_urls"]["images"] == ADOPTED_URL
    assert p.outputs["repository_arns"]["images"] == f"arn:aws:ecr:eu-west-1:{ACCOUNT_ID}:repository/team/images"
    push = {s["Sid"]: s for s in statements(p, "push")}["PushPull"]
    assert f"arn:aws:ecr:eu-west-1:{ACCOUNT_ID}:repository/team/images" in push["Resource"]
    assert p.outputs["repository_arns"]["models"] in push["Resource"]


def test_adopt_everything_creates_nothing():
    p = registry_plan(ArtifactRegistryArgs(
        repositories=["images"],
        existing=ExistingRegistry(bucket_name="legacy-ml-bucket", repository_urls={"images": ADOPTED_URL})))
    assert [r.type for r in p.resources] == ["mlplatform:registry:ArtifactRegistry"]
    assert p.outputs["kms_key_arn"] is None


def test_ecr_repository_arn_partition():
    assert ecr_repository_arn(f"{ACCOUNT_ID}.dkr.ecr.us-gov-west-1.amazonaws.com/x") == \
        f"arn:aws-us-gov:ecr:us-gov-west-1:{ACCOUNT_ID}:repository/x"


# -- validation -------------------------------------------------------------------------------------

@pytest.mark.parametrize("kwargs, message", [
    (dict(repositories=["Models"]), r"^repositories: 'Models' is not a valid ECR repository name; use lowercase"),
    (dict(repositories=["models", ""]), r"^repositories: '' is not a valid ECR repository name"),
    (dict(repositories=["models_"]), r"^repositories: 'models_' is not a valid ECR repository name"),
    (dict(repositories=["models", "images", "models"]), r"^repositories: lists models more than once; name each repository once$"),
    (dict(repositories=[]), r"^repositories: is empty; name at least one repository"),
    (dict(repository_prefix="ML/"), r"^repository_prefix: 'ML/' is not a valid ECR repository name"),
    (dict(bucket_name="My_Bucket"), r"^bucket_name: 'My_Bucket' is not a valid S3 bucket name; use 3-63 lowercase"),
    (dict(bucket_name="ab"), r"^bucket_name: 'ab' is not a valid S3 bucket name"),
    (dict(bucket_name="-artifacts"), r"^bucket_name: '-artifacts' is not a valid S3 bucket name"),
    (dict(bucket_name="ml..artifacts"), r"^bucket_name: 'ml..artifacts' is not a valid S3 bucket name \(adjacent dots"),
    (dict(bucket_name="192.168.1.10"), r"IP address"),
    (dict(bucket_name="xn--artifacts"), r"^bucket_name: 'xn--artifacts' uses a prefix or suffix S3 reserves"),
    (dict(bucket_name="artifacts-s3alias"), r"^bucket_name: 'artifacts-s3alias' uses a prefix or suffix S3 reserves"),
    (dict(bucket_name="new-bucket", existing=ExistingRegistry(bucket_name="old-bucket")),
     r"^bucket_name: is set together with existing.bucket_name; set bucket_name to create"),
    (dict(keep_tagged_images=0), r"^keep_tagged_images: must be a positive whole number, got 0; use 1 or more$"),
    (dict(untagged_expire_days=-1), r"^untagged_expire_days: must be a positive whole number, got -1; use 1 or more$"),
    (dict(noncurrent_version_days=-30), r"^noncurrent_version_days: must be a positive whole number, got -30"),
    (dict(noncurrent_version_days=True), r"^noncurrent_version_days: must be a positive whole number, got True"),
    (dict(existing=ExistingRegistry(bucket_name="s3://bucket/path")), r"^existing.bucket_name: 's3://bucket/path' is not an S3 bucket name"),
    (dict(existing=ExistingRegistry(repository_urls={"images": "https://123456789012.dkr.ecr.us-east-1.amazonaws.com/x"})),
     r"^existing.repository_urls: 'https://123456789012.dkr.ecr.us-east-1.amazonaws.com/x' is not an ECR repository URL; use the form"),
    (dict(existing=ExistingRegistry(repository_urls={"images": "123.dkr.ecr.us-east-1.amazonaws.com/x"})),
     r"^existing.repository_urls: .* is not an ECR repository URL"),
    (dict(existing=ExistingRegistry(repository_urls={"images": f"{ACCOUNT_ID}.dkr.ecr.us-east-1.amazonaws.com/x:latest"})),
     r"^existing.repository_urls: .* is not an ECR repository URL"),
    (dict(existing=ExistingRegistry(repository_urls={"Images": ADOPTED_URL})),
     r"^existing.repository_urls: 'Images' is not a valid ECR repository name"),
    (dict(existing=ExistingRegistry(bucket_name="b-1", kms_key_arn="alias/foo")),
     r"^existing.kms_key_arn: 'alias/foo' is not a KMS key ARN"),
    (dict(mutable_tags={"models": ["latest"]}), r"^mutable_tags: 'models' holds models, whose tags never move; give"),
    (dict(mutable_tags={"charts": ["x"]}), r"^mutable_tags: 'charts' is not in repositories"),
    (dict(mutable_tags={"images": ["re train"]}), r"^mutable_tags: 're train' is not an ECR tag filter"),
    (dict(mutable_tags={"images": ["*"]}), r"^mutable_tags: '\*' is not an ECR tag filter"),
])
def test_validation_errors(kwargs, message):
    # Validation runs before any Pulumi call, so no program (and no mock monitor) is needed.
    with pytest.raises(ValidationError, match=message):
        ArtifactRegistry("reg", ArtifactRegistryArgs(**kwargs))


def test_invalid_name_for_alias():
    with pytest.raises(ValidationError, match=r"^name: 'ml platform' cannot be part of a KMS alias"):
        ArtifactRegistry("ml platform", ArtifactRegistryArgs())
