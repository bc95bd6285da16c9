"""EvidenceLedger under the Pulumi mock monitor, and wired into every profile."""

from __future__ import annotations

import json
import warnings

import pulumi
import pulumi_kubernetes as k8s
import pytest

from conftest import assert_valid_k8s, k8s_objects, one, plan_of
from mlplatform.components._common import SYSTEM_NODE_SELECTOR, ValidationError
from mlplatform.components.evidence_ledger import (FORBIDDEN_WRITER_ACTIONS, EvidenceLedger, EvidenceLedgerArgs,
                                                   ExistingLedger, ObserverArgs)
from mlplatform.stacks.plan.mocks import ACCOUNT_ID, _hex, _uuid
from mlplatform.stacks.program import plan as stack_plan
from mlplatform.stacks.config.spec import SpecError, load_spec

ISSUER = "https://oidc.eks.us-east-1.amazonaws.com/id/ABCDEF0123456789"
OIDC_ARN = f"arn:aws:iam::{ACCOUNT_ID}:oidc-provider/{ISSUER.removeprefix('https://')}"
IMAGE = f"{ACCOUNT_ID}.dkr.ecr.us-east-1.amazonaws.com/mlplatform/dev/images:evidence-observer-0.1.0"
SIGNING = f"arn:aws:kms:us-east-1:{ACCOUNT_ID}:key/1111aaaa-2222-3333-4444-555566667777"
DATA_KEY = f"arn:aws:kms:us-east-1:{ACCOUNT_ID}:key/9999aaaa-2222-3333-4444-555566667777"
CRON_JOB = "kubernetes:batch/v1:CronJob"


def program(observer: bool = True, **overrides):
    def run():
        provider = k8s.Provider("k8s", kubeconfig="{}")
        args = dict(writer_roles={"ci-runners": "ml-dev-runners-role"},
                    observer=ObserverArgs(oidc_provider_arn=OIDC_ARN, oidc_issuer_url=ISSUER, image=IMAGE,
                                          k8s_provider=provider, cluster_name="ml-dev", region="us-east-1")
                    if observer else None)
        args.update(overrides)
        ledger = EvidenceLedger("ml", EvidenceLedgerArgs(**args))
        pulumi.export("bucket", ledger.bucket_name)
        pulumi.export("key", ledger.signing_key_arn)
        pulumi.export("url", ledger.ledger_url)
    return run


@pytest.fixture(scope="module")
def ledger():
    return plan_of(program())


def key_arn(name: str) -> str:  # what the mock monitor answers for a KMS key / role / policy of that name
    return f"arn:aws:kms:us-east-1:{ACCOUNT_ID}:key/{_uuid(name)}"


def role_name(name: str) -> str:
    return f"{name}-{_hex(name, 7)}"


def policy_arn(name: str) -> str:
    return f"arn:aws:iam::{ACCOUNT_ID}:policy/{name}-{_hex(name, 7)}"


def policy(plan, name):
    return json.loads(one(plan, "aws:iam/policy:Policy", name).inputs["policy"])


def actions(doc) -> set[str]:
    out = set()
    for s in doc["Statement"]:
        assert s["Effect"] == "Allow"
        out |= set([s["Action"]] if isinstance(s["Action"], str) else s["Action"])
    return out


# -- the bucket and the keys -----------------------------------------------------------------------
def test_bucket_is_object_locked_versioned_encrypted_private_tls_only_and_protected(ledger):
    bucket = one(ledger, "aws:s3/bucket:Bucket")
    assert bucket.inputs["objectLockEnabled"] is True and bucket.protect and not bucket.inputs.get("forceDestroy")
    lock = one(ledger, "aws:s3/bucketObjectLockConfiguration:BucketObjectLockConfiguration")
    assert lock.inputs["objectLockEnabled"] == "Enabled"
    assert lock.inputs["rule"] == {"defaultRetention": {"mode": "GOVERNANCE", "days": 365}}
    assert one(ledger, "aws:s3/bucketVersioning:BucketVersioning").inputs["versioningConfiguration"] == {"status": "Enabled"}
    keys = {r.name: r for r in ledger.of_type("aws:kms/key:Key")}
    (sse,) = one(ledger, "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration").inputs["rules"]
    assert sse["applyServerSideEncryptionByDefault"]["sseAlgorithm"] == "aws:kms"
    assert sse["applyServerSideEncryptionByDefault"]["kmsMasterKeyId"] == key_arn("ml-evidence")
    pab = one(ledger, "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock").inputs
    assert all(pab[k] is True for k in ("blockPublicAcls", "blockPublicPolicy", "ignorePublicAcls", "restrictPublicBuckets"))
    policy = one(ledger, "aws:s3/bucketPolicy:BucketPolicy")
    (deny,) = json.loads(policy.inputs["policy"])["Statement"]
    assert deny["Effect"] == "Deny" and deny["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
    # S3 answers OperationAborted to a bucket policy while the public access block is being applied
    assert one(ledger, "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock").urn in policy.depends_on
    assert not ledger.of_type("aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration")  # never expired
    signing = keys["ml-evidence-signing"]
    assert signing.inputs["customerMasterKeySpec"] == "ECC_NIST_P256" and signing.inputs["keyUsage"] == "SIGN_VERIFY"
    assert signing.protect and keys["ml-evidence"].protect
    assert ledger.outputs["key"] == key_arn("ml-evidence-signing") and ledger.outputs["url"] == f"s3://{ledger.outputs['bucket']}"
    assert one(ledger, "mlplatform:evidence:EvidenceLedger").name == "ml"


def test_compliance_mode_only_when_asked_and_with_a_warning(ledger):
    assert not [w for w in ledger.warnings if "COMPLIANCE" in w]
    p = plan_of(program(observer=False, retention_mode="COMPLIANCE", retention_days=2555))
    lock = one(p, "aws:s3/bucketObjectLockConfiguration:BucketObjectLockConfiguration")
    assert lock.inputs["rule"] == {"defaultRetention": {"mode": "COMPLIANCE", "days": 2555}}
    (warning,) = [w for w in p.warnings if "COMPLIANCE" in w]
    assert "nobody, not even the account's root user, can shorten" in warning


# -- the policies ----------------------------------------------------------------------------------
def test_writer_policy_appends_and_signs_but_never_deletes_or_changes_retention(ledger):
    doc = policy(ledger, "ml-evidence-writer")
    granted = actions(doc)
    assert "s3:PutObject" in granted and "kms:Sign" in granted
    # what `evidence record` reads before it writes: the bucket keeps every record, and no seq is hidden
    assert {"s3:GetBucketVersioning", "s3:GetBucketObjectLockConfiguration", "s3:ListBucketVersions"} <= granted
    assert not granted & set(FORBIDDEN_WRITER_ACTIONS)
    assert not any("*" in a for a in granted)
    assert not any(a.startswith("s3:Delete") or "Retention" in a or "LegalHold" in a or a.startswith("s3:PutBucket")
                   for a in granted)
    by_sid = {s["Sid"]: s for s in doc["Statement"]}
    assert by_sid["AppendRecords"]["Resource"].endswith("/ledger/*")
    assert by_sid["SignRecords"]["Resource"] == ledger.outputs["key"]
    # parliament's own IAM data: the only write-level S3 action is PutObject, nothing manages permissions
    parliament = pytest.importorskip("parliament", reason="parliament (IAM linter) is not installed")
    findings = parliament.analyze_policy_string(json.dumps(doc)).findings
    assert findings == [], [(f.issue, f.detail) for f in findings]
    levels = {}
    for a in granted:  # each action's access level in parliament's copy of the AWS IAM reference
        service, name = a.split(":")
        (svc,) = [x for x in parliament.iam_definition if x["prefix"] == service]
        (priv,) = [x for x in svc["privileges"] if x["privilege"] == name]
        levels[a] = priv["access_level"]
    assert {a for a, lvl in levels.items() if a.startswith("s3:") and lvl == "Write"} == {"s3:PutObject"}
    assert not [a for a, lvl in levels.items() if lvl in ("Permissions management", "Tagging")]


def test_writer_policy_is_attached_to_the_runners_and_the_observer(ledger):
    attached = {r.name: r.inputs for r in ledger.of_type("aws:iam/rolePolicyAttachment:RolePolicyAttachment")}
    writer_arn = policy_arn("ml-evidence-writer")
    assert set(attached) == {"ml-evidence-writer-ci-runners", "ml-evidence-writer-observer"}
    assert all(a["policyArn"] == writer_arn for a in attached.values())
    assert attached["ml-evidence-writer-ci-runners"]["role"] == "ml-dev-runners-role"
    assert attached["ml-evidence-writer-observer"]["role"] == role_name("ml-evidence-observer")


def test_reader_policy_reads_lists_and_verifies_only(ledger):
    doc = policy(ledger, "ml-evidence-reader")
    assert actions(doc) == {"s3:GetObject", "s3:GetObjectVersion", "s3:ListBucket", "s3:ListBucketVersions",
                            "kms:GetPublicKey", "kms:Verify", "kms:Decrypt"}
    parliament = pytest.importorskip("parliament", reason="parliament (IAM linter) is not installed")
    assert parliament.analyze_policy_string(json.dumps(doc)).findings == []


# -- the observer ----------------------------------------------------------------------------------
RESTRICTED_VOLUMES = {"configMap", "csi", "downwardAPI", "emptyDir", "ephemeral", "persistentVolumeClaim",
                      "projected", "secret", "image"}


def assert_restricted(pod: dict) -> None:
    """The Pod Security Standard `restricted` profile (kubernetes.io/docs/concepts/security/pod-security-standards)."""
    assert not any(pod.get(k) for k in ("hostNetwork", "hostPID", "hostIPC"))
    assert all(set(v) - {"name"} <= RESTRICTED_VOLUMES for v in pod.get("volumes", []))
    psc = pod.get("securityContext", {})
    assert psc.get("seccompProfile", {}).get("type") in ("RuntimeDefault", "Localhost")
    for c in pod["containers"] + pod.get("initContainers", []):
        sc = c["securityContext"]
        assert not sc.get("privileged") and sc["allowPrivilegeEscalation"] is False
        assert sc["capabilities"]["drop"] == ["ALL"] and not set(sc["capabilities"].get("add", [])) - {"NET_BIND_SERVICE"}
        assert (sc.get("runAsNonRoot") or psc.get("runAsNonRoot")) is True
        assert (sc.get("runAsUser", psc.get("runAsUser", 1))) != 0
        assert not c.get("ports") or not any(p.get("hostPort") for p in c["ports"])


def test_observer_runs_every_five_minutes_restricted_on_system_nodes(ledger):
    cron = one(ledger, CRON_JOB).inputs
    assert cron["spec"]["schedule"] == "*/5 * * * *" and cron["spec"]["concurrencyPolicy"] == "Forbid"
    pod = cron["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    assert pod["nodeSelector"] == {"kubernetes.io/os": "linux", **SYSTEM_NODE_SELECTOR}
    assert not pod.get("tolerations")  # nothing lets it onto GPU nodes
    assert_restricted(pod)
    (c,) = pod["containers"]
    assert c["image"] == IMAGE and c["command"] == ["mlplatform", "evidence", "observe"]
    assert c["securityContext"]["readOnlyRootFilesystem"] is True
    env = {e["name"]: e["value"] for e in c["env"]}
    assert env["MLPLATFORM_LEDGER"] == ledger.outputs["url"] and env["MLPLATFORM_LEDGER_KEY"] == ledger.outputs["key"]
    assert env["MLPLATFORM_CLUSTER"] == "ml-dev" and env["AWS_REGION"] == "us-east-1"
    ns = one(ledger, "kubernetes:core/v1:Namespace").inputs["metadata"]
    assert ns["name"] == "mlplatform-evidence" and ns["labels"]["pod-security.kubernetes.io/enforce"] == "restricted"
    for manifest in k8s_objects(ledger):
        assert_valid_k8s(manifest)


def test_observer_has_its_own_irsa_role_and_may_only_read_pods(ledger):
    role = one(ledger, "aws:iam/role:Role", "ml-evidence-observer")
    (st,) = json.loads(role.inputs["assumeRolePolicy"])["Statement"]
    host = ISSUER.removeprefix("https://")
    assert st["Condition"]["StringEquals"] == {f"{host}:sub": "system:serviceaccount:mlplatform-evidence:evidence-observer",
                                               f"{host}:aud": "sts.amazonaws.com"}
    sa = one(ledger, "kubernetes:core/v1:ServiceAccount").inputs["metadata"]
    assert sa["annotations"]["eks.amazonaws.com/role-arn"] == f"arn:aws:iam::{ACCOUNT_ID}:role/{role_name('ml-evidence-observer')}"
    cr = one(ledger, "kubernetes:rbac.authorization.k8s.io/v1:ClusterRole").inputs
    assert cr["rules"] == [{"apiGroups": [""], "resources": ["pods"], "verbs": ["get", "list"]}]
    crb = one(ledger, "kubernetes:rbac.authorization.k8s.io/v1:ClusterRoleBinding").inputs
    assert crb["subjects"] == [{"kind": "ServiceAccount", "name": "evidence-observer", "namespace": "mlplatform-evidence"}]


# -- adoption and validation ------------------------------------------------------------------------
def test_adopting_an_existing_bucket_and_key_creates_neither():
    p = plan_of(program(observer=False, existing=ExistingLedger("acme-evidence", SIGNING, DATA_KEY)))
    assert not p.of_type("aws:s3/bucket:Bucket") and not p.of_type("aws:kms/key:Key")
    assert p.outputs["bucket"] == "acme-evidence" and p.outputs["key"] == SIGNING
    writer = policy(p, "ml-evidence-writer")
    assert {s["Sid"]: s["Resource"] for s in writer["Statement"]}["SignRecords"] == SIGNING
    assert {s["Sid"]: s["Resource"] for s in writer["Statement"]}["EncryptRecords"] == DATA_KEY


@pytest.mark.parametrize("overrides, message", [
    ({"retention_mode": "LEGAL"}, "retention_mode: input should be 'GOVERNANCE' or 'COMPLIANCE'"),
    ({"retention_days": 0}, "retention_days: input should be greater than or equal to 1; use a value >= 1"),
    ({"retention_days": 36501}, "retention_days: input should be less than or equal to 36500"),
    ({"bucket_name": "Bad_Name"}, "bucket_name: 'Bad_Name' is not a valid S3 bucket name"),
    ({"existing": {"bucket_name": "acme-evidence", "signing_key_arn": "key-1"}},
     "existing.signing_key_arn: 'key-1' is not a KMS key ARN"),
    ({"writer_roles": {"CI": "role"}}, "writer_roles: must map lowercase logical names to IAM role names"),
])
def test_bad_inputs_are_refused_before_anything_is_created(overrides, message):
    with pytest.raises(ValidationError, match="^" + message.replace("(", r"\(").replace(")", r"\)")):
        plan_of(program(observer=False, **overrides))


# -- in every profile ------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def plans():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return {p: stack_plan(load_spec(p)) for p in ("pragmatic", "growth", "full")}


@pytest.mark.parametrize("profile, days", [("pragmatic", 365), ("growth", 1095), ("full", 2555)])
def test_every_profile_keeps_the_ledger(plans, profile, days):
    p = plans[profile]
    assert one(p, "mlplatform:evidence:EvidenceLedger").name == "ml-dev"
    lock = one(p, "aws:s3/bucketObjectLockConfiguration:BucketObjectLockConfiguration")
    assert lock.inputs["rule"] == {"defaultRetention": {"mode": "GOVERNANCE", "days": days}}
    assert one(p, "aws:s3/bucket:Bucket", "ml-dev-evidence").protect
    assert p.outputs["evidence_bucket"] == role_name("ml-dev-evidence")  # the auto-named bucket
    assert p.outputs["evidence_key"] == key_arn("ml-dev-evidence-signing")
    # the CI runners' role appends; the observer runs the image built into the stack's images repository
    attach = one(p, "aws:iam/rolePolicyAttachment:RolePolicyAttachment", "ml-dev-evidence-writer-ci-runners")
    assert attach.inputs["role"] == role_name("ml-dev-runners")
    assert attach.inputs["policyArn"] == policy_arn("ml-dev-evidence-writer")
    (c,) = one(p, CRON_JOB, "ml-dev-evidence-observer").inputs["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"]
    assert c["image"].endswith("/mlplatform/dev/images:evidence-observer-0.1.0")


def test_the_stack_config_chooses_retention_observer_and_adoption():
    p = stack_plan(load_spec("pragmatic", sets=["evidence.observer=false", "evidence.retention_mode=COMPLIANCE",
                                                "evidence.retention_days=3650"]))
    assert not p.of_type(CRON_JOB) or all("evidence" not in r.name for r in p.of_type(CRON_JOB))
    lock = one(p, "aws:s3/bucketObjectLockConfiguration:BucketObjectLockConfiguration")
    assert lock.inputs["rule"] == {"defaultRetention": {"mode": "COMPLIANCE", "days": 3650}}
    assert any("COMPLIANCE" in w for w in p.warnings)
    adopted = stack_plan(load_spec("pragmatic", sets=["evidence.existing.bucket_name=acme-evidence",
                                                      f"evidence.existing.signing_key_arn={SIGNING}"]))
    assert adopted.outputs["evidence_bucket"] == "acme-evidence" and adopted.outputs["evidence_key"] == SIGNING
    assert not [r for r in adopted.of_type("aws:s3/bucket:Bucket") if "evidence" in r.name]
    with pytest.raises(SpecError, match="^evidence.retention_mode: "):
        load_spec("pragmatic", sets=["evidence.retention_mode=FOREVER"])
    with pytest.raises(SpecError, match="^evidence.retention_days: "):
        load_spec("pragmatic", sets=["evidence.retention_days=0"])
