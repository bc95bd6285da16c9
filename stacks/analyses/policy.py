"""Security and reliability rules over a Plan, and waivers.

Each rule reads the Plan (resource inputs as the provider takes them, protect flags, dependencies) and
yields findings: rule id, severity, the resource's URN, what is wrong and the fix. A stack config can
waive a rule for a resource (`waivers: [{rule, resource, reason}]`); a waived finding stays in the
report with its reason, and only unwaived `high` findings fail `mlplatform check`.

A resource that another one configures (an S3 bucket's encryption, a database's parameter group) is
linked to it by the dependency Pulumi records when one's output feeds the other's input.
"""

from __future__ import annotations

import fnmatch
import json
import re
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass, replace
from typing import Any

from mlplatform.components.conventions import AUTOSCALED_TAG, POOL_LABEL, SYSTEM_POOL

from ..config.rules import RULE_IDS
from ..plan.offline import SECRET, STATEFUL_TYPES, UNKNOWN, Plan, PlannedResource
from . import chart_rules  # noqa: F401  # registers the rules checked against the pinned charts' facts
from .rules import REGISTERED, Rule, rule

SEVERITIES = ("high", "medium", "low", "info")

BUCKET_TYPES = ("aws:s3/bucket:Bucket", "aws:s3/bucketV2:BucketV2")
PUBLIC_ACCESS_BLOCK = "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock"
BUCKET_SSE = "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration"
BUCKET_VERSIONING = "aws:s3/bucketVersioning:BucketVersioning"
BUCKET_POLICY = "aws:s3/bucketPolicy:BucketPolicy"
RDS_INSTANCE = "aws:rds/instance:Instance"
RDS_CLUSTER = "aws:rds/cluster:Cluster"
RDS_PARAMETER_GROUP = "aws:rds/parameterGroup:ParameterGroup"
ECR_REPOSITORY = "aws:ecr/repository:Repository"
EKS_CLUSTER = "aws:eks/cluster:Cluster"
NODE_GROUP = "aws:eks/nodeGroup:NodeGroup"
LAUNCH_TEMPLATE = "aws:ec2/launchTemplate:LaunchTemplate"
EC2_INSTANCE = "aws:ec2/instance:Instance"
EC2_NODE_CLASS = "kubernetes:karpenter.k8s.aws/v1:EC2NodeClass"
IAM_ROLE = "aws:iam/role:Role"
IAM_POLICY_TYPES = (
    "aws:iam/policy:Policy",
    "aws:iam/rolePolicy:RolePolicy",
    "aws:iam/userPolicy:UserPolicy",
    "aws:iam/groupPolicy:GroupPolicy",
)
IAM_ATTACHMENT_TYPES = (
    "aws:iam/rolePolicyAttachment:RolePolicyAttachment",
    "aws:iam/userPolicyAttachment:UserPolicyAttachment",
    "aws:iam/groupPolicyAttachment:GroupPolicyAttachment",
    "aws:iam/policyAttachment:PolicyAttachment",
)
ADMIN_POLICY_ARNS = ("arn:aws:iam::aws:policy/AdministratorAccess",)
HELM_RELEASE = "kubernetes:helm.sh/v3:Release"
# Resources holding state (data or identity) that no update may delete: DESIGN "stateful resources".
REQUIRED_LOG_TYPES = ("api", "audit", "authenticator")
MIN_BACKUP_DAYS = 7
MAX_HOP_LIMIT = 2


@dataclass(frozen=True)
class Finding:
    """One problem with one resource.

    `source` names who found it (mlplatform, checkov, kubernetes-validate); `address` is the
    resource's Terraform address (checkov findings); `waived` holds the waiver's reason.
    """

    rule: str
    severity: str
    urn: str
    name: str
    message: str
    fix: str
    source: str = "mlplatform"
    title: str = ""
    address: str | None = None
    waived: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


# -- helpers -------------------------------------------------------------------------------------
def _true(value: Any) -> bool:
    """True, or the string "true" (launch template EBS flags are strings)."""
    return value is True or (isinstance(value, str) and value.lower() == "true")


def _known(value: Any) -> bool:
    return value not in (SECRET, UNKNOWN)


def _configuring(plan: Plan, target: PlannedResource, type_: str) -> list[PlannedResource]:
    """Resources of `type_` that take `target`'s outputs as inputs (a bucket's policy, encryption...)."""
    return [r for r in plan.of_type(type_) if target.urn in r.depends_on]


def _list(value: Any) -> list[Any]:
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


def _document(text: Any) -> dict[str, Any] | None:
    if isinstance(text, dict):
        return text
    if not isinstance(text, str) or not _known(text):
        return None
    try:
        doc = json.loads(text)
    except ValueError:
        return None
    return doc if isinstance(doc, dict) else None


def _statements(doc: dict[str, Any] | None) -> list[dict[str, Any]]:
    return [s for s in _list((doc or {}).get("Statement")) if isinstance(s, dict)]


def _wildcard(values: Any) -> bool:
    return any(v in ("*", "*:*") for v in _list(values))


# -- S3 ------------------------------------------------------------------------------------------
def _buckets(plan: Plan) -> list[PlannedResource]:
    return [r for t in BUCKET_TYPES for r in plan.of_type(t)]


@rule("s3-public-access-block", "high", "S3 bucket blocks all public access")
def _s3_public_access(plan: Plan):
    flags = ("blockPublicAcls", "blockPublicPolicy", "ignorePublicAcls", "restrictPublicBuckets")
    for b in _buckets(plan):
        blocks = _configuring(plan, b, PUBLIC_ACCESS_BLOCK)
        if not blocks:
            yield b, "has no public access block", "add an aws.s3.BucketPublicAccessBlock with all four flags true"
            continue
        off = [f for f in flags if not any(_true(pab.inputs.get(f)) for pab in blocks)]
        if off:
            yield b, f"public access block leaves {', '.join(off)} off", "set all four flags to true"


@rule("s3-encryption", "high", "S3 bucket encrypts objects by default")
def _s3_encryption(plan: Plan):
    for b in _buckets(plan):
        rules = [r for c in _configuring(plan, b, BUCKET_SSE) for r in _list(c.inputs.get("rules"))]
        inline = (b.inputs.get("serverSideEncryptionConfiguration") or {}).get("rule")
        rules += _list(inline)
        algorithms = [((r or {}).get("applyServerSideEncryptionByDefault") or {}).get("sseAlgorithm") for r in rules]
        if not any(a in ("aws:kms", "aws:kms:dsse", "AES256") for a in algorithms):
            yield (
                b,
                "has no default server-side encryption",
                ("add an aws.s3.BucketServerSideEncryptionConfiguration with sse_algorithm aws:kms and a KMS key"),
            )


@rule("s3-versioning", "medium", "S3 bucket keeps object versions")
def _s3_versioning(plan: Plan):
    for b in _buckets(plan):
        statuses = [
            (c.inputs.get("versioningConfiguration") or {}).get("status")
            for c in _configuring(plan, b, BUCKET_VERSIONING)
        ]
        if "Enabled" not in statuses and not _true((b.inputs.get("versioning") or {}).get("enabled")):
            yield (
                b,
                "does not keep object versions (an overwrite or delete loses data)",
                ("add an aws.s3.BucketVersioning with status Enabled"),
            )


def _denies_plain_http(doc: dict[str, Any] | None) -> bool:
    for s in _statements(doc):
        if s.get("Effect") != "Deny":
            continue
        principal = s.get("Principal")
        if not (principal == "*" or (isinstance(principal, dict) and _wildcard(principal.get("AWS")))):
            continue
        if not any(a in ("*", "s3:*") for a in _list(s.get("Action"))):
            continue
        cond = s.get("Condition") or {}
        for op in ("Bool", "BoolIfExists"):
            value = (cond.get(op) or {}).get("aws:SecureTransport")
            if value is False or (isinstance(value, str) and value.lower() == "false"):
                return True
    return False


@rule("s3-tls-only", "high", "S3 bucket refuses requests without TLS")
def _s3_tls(plan: Plan):
    for b in _buckets(plan):
        policies = [p.inputs.get("policy") for p in _configuring(plan, b, BUCKET_POLICY)]
        if not all(_known(p) for p in policies):
            continue  # a policy known only after apply can't be judged
        if not any(_denies_plain_http(_document(p)) for p in policies):
            yield (
                b,
                "accepts requests over plain HTTP",
                (
                    'add a bucket policy statement: Deny, Principal "*", Action s3:*, '
                    'Condition Bool aws:SecureTransport "false"'
                ),
            )


# -- RDS -----------------------------------------------------------------------------------------
def _databases(plan: Plan) -> list[PlannedResource]:
    return plan.of_type(RDS_INSTANCE) + plan.of_type(RDS_CLUSTER)


@rule("rds-encrypted", "high", "Database storage is encrypted")
def _rds_encrypted(plan: Plan):
    for db in _databases(plan):
        if not _true(db.inputs.get("storageEncrypted")):
            yield db, "stores data unencrypted", "set storage_encrypted=True (with a KMS key: kms_key_id)"


@rule("rds-private", "high", "Database is not reachable from the internet")
def _rds_private(plan: Plan):
    for db in plan.of_type(RDS_INSTANCE):
        if _true(db.inputs.get("publiclyAccessible")):
            yield db, "has a public endpoint", "set publicly_accessible=False and reach it from inside the VPC"


@rule("rds-deletion-protection", "high", "Database has deletion protection")
def _rds_deletion(plan: Plan):
    for db in _databases(plan):
        if not _true(db.inputs.get("deletionProtection")):
            yield db, "can be deleted by one API call", "set deletion_protection=True"


@rule("rds-backups", "high", f"Database keeps automated backups for at least {MIN_BACKUP_DAYS} days")
def _rds_backups(plan: Plan):
    for db in _databases(plan):
        days = db.inputs.get("backupRetentionPeriod")
        if not isinstance(days, int) or days < MIN_BACKUP_DAYS:
            yield (
                db,
                f"keeps automated backups for {days if days is not None else 'the default'} day(s)",
                (f"set backup_retention_period to {MIN_BACKUP_DAYS} or more (database.backup_retention_days)"),
            )


def _forces_tls(group: PlannedResource) -> bool:
    for p in _list(group.inputs.get("parameters")):
        name, value = str((p or {}).get("name", "")), str((p or {}).get("value", "")).lower()
        if name == "rds.force_ssl" and value == "1":
            return True
        if name == "require_secure_transport" and value in ("1", "on"):
            return True
    return False


@rule("rds-tls", "high", "Database refuses connections without TLS")
def _rds_tls(plan: Plan):
    for db in plan.of_type(RDS_INSTANCE):
        wanted = db.inputs.get("parameterGroupName")
        groups = [
            g
            for g in plan.of_type(RDS_PARAMETER_GROUP)
            if g.urn in db.depends_on or (wanted and g.inputs.get("name") == wanted)
        ]
        if not any(_forces_tls(g) for g in groups):
            yield (
                db,
                "accepts connections without TLS (no parameter group forcing it)",
                (
                    "give it an aws.rds.ParameterGroup with rds.force_ssl = 1 (PostgreSQL) or "
                    "require_secure_transport = 1 (MySQL)"
                ),
            )


# -- ECR -----------------------------------------------------------------------------------------
@rule("ecr-scan-on-push", "medium", "ECR repository scans images on push")
def _ecr_scan(plan: Plan):
    for repo in plan.of_type(ECR_REPOSITORY):
        if not _true((repo.inputs.get("imageScanningConfiguration") or {}).get("scanOnPush")):
            yield (
                repo,
                "does not scan pushed images for vulnerabilities",
                ("set image_scanning_configuration={'scan_on_push': True}"),
            )


@rule("ecr-immutable-tags", "medium", "ECR repository tags are immutable")
def _ecr_immutable(plan: Plan):
    for repo in plan.of_type(ECR_REPOSITORY):
        if not str(repo.inputs.get("imageTagMutability", "MUTABLE")).startswith("IMMUTABLE"):
            yield repo, "lets a push overwrite an existing tag", 'set image_tag_mutability="IMMUTABLE"'


# -- EKS -----------------------------------------------------------------------------------------
@rule("eks-secrets-encryption", "high", "EKS encrypts Kubernetes secrets with a KMS key")
def _eks_secrets(plan: Plan):
    for c in plan.of_type(EKS_CLUSTER):
        configs = _list(c.inputs.get("encryptionConfig"))
        ok = any(
            "secrets" in _list((e or {}).get("resources")) and ((e or {}).get("provider") or {}).get("keyArn")
            for e in configs
        )
        if not ok:
            yield (
                c,
                "stores Kubernetes secrets without envelope encryption",
                ("set encryption_config with resources ['secrets'] and a KMS key ARN"),
            )


@rule("eks-control-plane-logs", "medium", "EKS sends api, audit and authenticator logs to CloudWatch")
def _eks_logs(plan: Plan):
    for c in plan.of_type(EKS_CLUSTER):
        missing = [t for t in REQUIRED_LOG_TYPES if t not in _list(c.inputs.get("enabledClusterLogTypes"))]
        if missing:
            yield c, f"does not log {', '.join(missing)}", (f"add {', '.join(missing)} to cluster.control_plane_logs")


@rule("eks-public-endpoint", "medium", "EKS public endpoint is limited to known networks")
def _eks_endpoint(plan: Plan):
    for c in plan.of_type(EKS_CLUSTER):
        vpc = c.inputs.get("vpcConfig") or {}
        if vpc.get("endpointPublicAccess") is False:
            continue
        cidrs = _list(vpc.get("publicAccessCidrs"))
        if not cidrs or "0.0.0.0/0" in cidrs:
            yield (
                c,
                "Kubernetes API is open to the whole internet (0.0.0.0/0)",
                ("set cluster.public_access_cidrs to your office/VPN ranges, or endpoint_public_access: false"),
            )


# -- nodes ---------------------------------------------------------------------------------------
def _node_templates(plan: Plan) -> Iterator[tuple[PlannedResource, dict[str, Any], list[Any], str | None]]:
    """(resource, metadata options, block device mappings, key name) of launch templates and instances."""
    for r in plan.of_type(LAUNCH_TEMPLATE) + plan.of_type(EC2_INSTANCE):
        yield (
            r,
            r.inputs.get("metadataOptions") or {},
            _list(r.inputs.get("blockDeviceMappings")),
            r.inputs.get("keyName"),
        )


def _node_classes(plan: Plan) -> list[PlannedResource]:
    return plan.of_type(EC2_NODE_CLASS)


def _without_launch_template(plan: Plan) -> list[PlannedResource]:
    return [ng for ng in plan.of_type(NODE_GROUP) if not ng.inputs.get("launchTemplate")]


@rule("nodes-imdsv2", "high", "Nodes require IMDSv2 (session tokens)")
def _imdsv2(plan: Plan):
    fix = "set metadata_options http_tokens='required'"
    for r, meta, _, _ in _node_templates(plan):
        if meta.get("httpEndpoint") != "disabled" and meta.get("httpTokens") != "required":
            yield r, "lets pods read instance credentials with IMDSv1", fix
    for nc in _node_classes(plan):
        meta = (nc.inputs.get("spec") or {}).get("metadataOptions") or {}
        if meta.get("httpTokens", "required") != "required":  # Karpenter's default is required
            yield nc, "lets pods read instance credentials with IMDSv1", "set spec.metadataOptions.httpTokens: required"
    for ng in _without_launch_template(plan):
        yield (
            ng,
            "uses EKS's default launch template, which does not require IMDSv2",
            ("give the node group a launch template with http_tokens='required'"),
        )


@rule("nodes-imds-hop-limit", "high", f"Node metadata hop limit is at most {MAX_HOP_LIMIT}")
def _hop_limit(plan: Plan):
    for r, meta, _, _ in _node_templates(plan):
        hops = meta.get("httpPutResponseHopLimit")
        if isinstance(hops, int) and hops > MAX_HOP_LIMIT:
            yield (
                r,
                f"metadata hop limit {hops} lets containers reach the node's credentials",
                ("set http_put_response_hop_limit to 1 (2 only for pods that need IMDS)"),
            )
    for nc in _node_classes(plan):
        hops = ((nc.inputs.get("spec") or {}).get("metadataOptions") or {}).get("httpPutResponseHopLimit")
        if isinstance(hops, int) and hops > MAX_HOP_LIMIT:
            yield (
                nc,
                f"metadata hop limit {hops} lets containers reach the node's credentials",
                ("set spec.metadataOptions.httpPutResponseHopLimit: 1"),
            )


@rule("nodes-no-ssh-key", "medium", "Nodes have no SSH key")
def _ssh_key(plan: Plan):
    for r, _, _, key in _node_templates(plan):
        if key:
            yield r, f"installs SSH key {key!r} on nodes", "remove key_name; use SSM Session Manager for node access"
    for ng in plan.of_type(NODE_GROUP):
        if ng.inputs.get("remoteAccess"):
            yield ng, "opens SSH to its nodes (remote_access)", "remove remote_access; use SSM Session Manager"


@rule("nodes-encrypted-volumes", "high", "Node volumes are encrypted")
def _volumes(plan: Plan):
    for r, _, mappings, _ in _node_templates(plan):
        ebs = [m["ebs"] for m in mappings if isinstance(m, dict) and m.get("ebs")]
        if r.type == LAUNCH_TEMPLATE and not ebs:
            yield (
                r,
                "leaves the root volume's encryption to the AMI and the account default",
                ("add a block_device_mappings entry for the root device with ebs encrypted='true'"),
            )
        elif any(not _true(e.get("encrypted")) for e in ebs):
            yield r, "creates an unencrypted EBS volume", "set ebs encrypted='true' on every block device mapping"
    for nc in _node_classes(plan):
        mappings = _list((nc.inputs.get("spec") or {}).get("blockDeviceMappings"))
        if any(not _true(((m or {}).get("ebs") or {}).get("encrypted")) for m in mappings):
            yield nc, "creates an unencrypted EBS volume", "set encrypted: true on every blockDeviceMappings entry"
    for ng in _without_launch_template(plan):
        yield (
            ng,
            "root volumes follow the account's EBS default encryption",
            ("give the node group a launch template with an encrypted root volume"),
        )


# -- IAM -----------------------------------------------------------------------------------------
def _policy_documents(plan: Plan) -> Iterator[tuple[PlannedResource, str, dict[str, Any] | None]]:
    for t in IAM_POLICY_TYPES:
        for r in plan.of_type(t):
            yield r, "policy", _document(r.inputs.get("policy"))
    for r in plan.of_type(IAM_ROLE):
        for i, p in enumerate(_list(r.inputs.get("inlinePolicies"))):
            yield r, f"inline policy {(p or {}).get('name', i)}", _document((p or {}).get("policy"))


@rule("iam-no-wildcard-admin", "high", 'No IAM policy allows "*" actions on "*" resources')
def _iam_wildcard(plan: Plan):
    fix = "list the actions and resources the principal needs"
    for r, where, doc in _policy_documents(plan):
        for s in _statements(doc):
            if s.get("Effect") != "Allow" or not _wildcard(s.get("Resource")):
                continue
            if _wildcard(s.get("Action")):
                yield r, f'{where} allows every action ("*") on every resource', fix
            elif "NotAction" in s:
                yield r, f"{where} allows everything but {s['NotAction']} on every resource", fix
    for t in IAM_ATTACHMENT_TYPES:
        for r in plan.of_type(t):
            if r.inputs.get("policyArn") in ADMIN_POLICY_ARNS:
                yield r, "attaches AdministratorAccess", fix
    for r in plan.of_type(IAM_ROLE):
        if any(a in ADMIN_POLICY_ARNS for a in _list(r.inputs.get("managedPolicyArns"))):
            yield r, "has AdministratorAccess", fix


_SERVICE_ACCOUNT = re.compile(r"^system:serviceaccount:[a-z0-9]([-a-z0-9]*[a-z0-9])?:[a-z0-9]([-.a-z0-9]*[a-z0-9])?$")


def _irsa_problem(statement: dict[str, Any]) -> str | None:
    """Why a web-identity trust statement is not pinned to one service account, or None."""
    equals = (statement.get("Condition") or {}).get("StringEquals") or {}
    sub = [v for k, v in equals.items() if k.endswith(":sub")]
    aud = [v for k, v in equals.items() if k.endswith(":aud")]
    if not sub:
        like = (statement.get("Condition") or {}).get("StringLike") or {}
        if any(k.endswith(":sub") for k in like):
            return "matches service accounts with a StringLike pattern"
        return "has no StringEquals condition on the token's sub"
    if len(sub) > 1 or not isinstance(sub[0], str) or not _SERVICE_ACCOUNT.match(sub[0]):
        return f"sub {sub[0] if len(sub) == 1 else sub!r} is not one system:serviceaccount:<namespace>:<name>"
    if aud != ["sts.amazonaws.com"]:
        return "does not require aud sts.amazonaws.com in the same StringEquals"
    return None


@rule("irsa-pinned", "high", "IRSA trust is pinned to one service account")
def _irsa(plan: Plan):
    for role in plan.of_type(IAM_ROLE):
        for s in _statements(_document(role.inputs.get("assumeRolePolicy"))):
            federated = _list(
                (s.get("Principal") or {}).get("Federated") if isinstance(s.get("Principal"), dict) else None
            )
            if s.get("Effect") != "Allow" or "sts:AssumeRoleWithWebIdentity" not in _list(s.get("Action")):
                continue
            if not any("oidc-provider/" in str(f) for f in federated):
                continue
            problem = _irsa_problem(s)
            if problem:
                yield (
                    role,
                    f"web-identity trust {problem}",
                    ("build the trust with irsa_trust_policy(provider_arn, issuer_url, namespace, service_account)"),
                )


# -- Kubernetes ----------------------------------------------------------------------------------
def _kubernetes_objects(plan: Plan) -> list[PlannedResource]:
    return [
        r
        for r in plan.resources
        if r.custom
        and r.type.startswith("kubernetes:")
        and not r.type.startswith(("kubernetes:helm.sh/", "kubernetes:yaml/"))
    ]


def containers(manifest: Any, pod_context: dict[str, Any] | None = None) -> Iterator[tuple[dict, dict]]:
    """(container, pod-level securityContext) for every container of a manifest: pod specs at any depth
    (Deployments, Jobs, CronJobs...) and Argo Workflows templates (`container` / `script`)."""
    if isinstance(manifest, list):
        for item in manifest:
            yield from containers(item, pod_context)
        return
    if not isinstance(manifest, dict):
        return
    context = pod_context or {}
    if isinstance(manifest.get("containers"), list):
        context = manifest.get("securityContext") or context
        for key in ("initContainers", "containers", "ephemeralContainers"):
            for c in _list(manifest.get(key)):
                if isinstance(c, dict):
                    yield c, context
    if isinstance(manifest.get("templates"), list):  # Argo workflowSpec
        context = manifest.get("securityContext") or context
        for t in manifest["templates"]:
            if not isinstance(t, dict):
                continue
            t_context = t.get("securityContext") or context
            for key in ("container", "script"):
                if isinstance(t.get(key), dict):
                    yield t[key], t_context
    for key, value in manifest.items():
        if key not in ("containers", "initContainers", "ephemeralContainers", "templates"):
            yield from containers(value, context if isinstance(value, dict) else pod_context)


def _walk(value: Any, path: str = "") -> Iterator[tuple[str, str, Any]]:
    """(path, key, value) of every mapping entry and list item (key ""), depth first."""
    if isinstance(value, dict):
        for k, v in value.items():
            here = f"{path}.{k}" if path else str(k)
            yield here, str(k), v
            yield from _walk(v, here)
    elif isinstance(value, list):
        for i, v in enumerate(value):
            yield f"{path}[{i}]", "", v
            yield from _walk(v, f"{path}[{i}]")


@rule("k8s-privileged", "high", "No container runs privileged")
def _k8s_privileged(plan: Plan):
    fix = "drop privileged: true (use specific capabilities if the workload needs some)"
    for r in _kubernetes_objects(plan):
        for c, _ in containers(r.inputs):
            if _true((c.get("securityContext") or {}).get("privileged")):
                yield r, f"container {c.get('name', '?')} runs privileged", fix
    for r in plan.of_type(HELM_RELEASE):
        for path, key, value in _walk(r.inputs.get("values") or {}):
            if key == "privileged" and _true(value):
                yield r, f"values.{path} runs a container privileged", fix


@rule("k8s-run-as-root", "medium", "Containers don't run as root where the image allows it")
def _k8s_root(plan: Plan):
    fix = "set securityContext runAsNonRoot: true (and a non-zero runAsUser if the image has no USER)"
    for r in _kubernetes_objects(plan):
        for c, pod in containers(r.inputs):
            sc = c.get("securityContext") or {}
            user = sc.get("runAsUser", pod.get("runAsUser"))
            non_root = sc.get("runAsNonRoot", pod.get("runAsNonRoot"))
            if user == 0:
                yield r, f"container {c.get('name', '?')} runs as user 0", fix
            elif not _true(non_root) and not (isinstance(user, int) and user > 0):
                yield r, f"container {c.get('name', '?')} may run as root (no runAsNonRoot or runAsUser)", fix
    for r in plan.of_type(HELM_RELEASE):
        for path, key, value in _walk(r.inputs.get("values") or {}):
            if (key == "runAsUser" and value == 0) or (key == "runAsNonRoot" and value is False):
                yield r, f"values.{path} = {json.dumps(value)} runs a container as root", fix


# -- stateful resources --------------------------------------------------------------------------
@rule("stateful-protected", "high", "Stateful resources are protected against deletion")
def _stateful(plan: Plan):
    for r in plan.resources:
        if r.type in STATEFUL_TYPES and not (r.protect or r.retain_on_delete):
            yield (
                r,
                "holds state but neither protect nor retain_on_delete is set",
                ("pass protect=True (components: protect=args.protect) so no update can delete it"),
            )


# -- autoscaled node groups (reads the recorded ignore_changes) ----------------------------------
ASG_TAG = "aws:autoscaling/tag:Tag"
DESIRED_SIZE = "scalingConfig.desiredSize"


def _autoscaled(plan: Plan, group: PlannedResource) -> bool:
    """Does cluster-autoscaler's discovery tag sit on this node group's Auto Scaling group? (The tag
    takes the ASG name from the group's outputs, so Pulumi records the group as its dependency.)"""
    return any(
        group.urn in t.depends_on and (t.inputs.get("tag") or {}).get("key") == AUTOSCALED_TAG
        for t in plan.of_type(ASG_TAG)
    )


@rule("node-group-desired-size", "high", "An autoscaled node group's desired size is left to the autoscaler")
def _desired_size(plan: Plan):
    for g in plan.of_type(NODE_GROUP):
        ignored = DESIRED_SIZE in g.ignore_changes
        if _autoscaled(plan, g) and not ignored:
            yield (
                g,
                (
                    "cluster-autoscaler scales this group, but the stack owns scalingConfig.desiredSize: the next "
                    "`up` sets it back and terminates nodes with running pods"
                ),
                (f'add ignore_changes=["{DESIRED_SIZE}"] to the node group, or drop {AUTOSCALED_TAG} from its ASG'),
            )
        elif ignored and not _autoscaled(plan, g):
            yield (
                g,
                (
                    "the stack ignores scalingConfig.desiredSize but nothing scales the group: "
                    "a new count in the config never reaches it"
                ),
                (f"tag its ASG with {AUTOSCALED_TAG} (cluster-autoscaler), or remove the ignore_changes"),
            )


# -- requests and capacity of the system nodes (stacks/analyses/capacity.py) -----------------------------
@rule("pod-requests", "medium", "Every long-running pod requests CPU and memory")
def _pod_requests(plan: Plan):
    from .capacity import system_pods

    releases = {r.name: r for r in plan.of_type(HELM_RELEASE)}
    for p in system_pods(plan):
        for path in p.unrequested:
            yield (
                releases[p.release],
                (
                    f"{p.pod}: no CPU/memory requests at values.{path}: a BestEffort pod is the "
                    "first evicted under memory pressure"
                ),
                (f"set {path} requests (and a memory limit) in the release's values"),
            )


@rule("system-nodes-fit", "high", "The system nodes hold the requests of their pods")
def _system_fit(plan: Plan):
    from .capacity import fit

    f = fit(plan)
    if f is not None and not f.ok:
        group = next(
            g for g in plan.of_type(NODE_GROUP) if (g.inputs.get("labels") or {}).get(POOL_LABEL) == SYSTEM_POOL
        )
        yield (
            group,
            f"the system pods do not fit: {f.line()}",
            (
                "raise cluster.system_nodes.min / instance_type, or lower the requests (monitoring.prometheus_memory_mib)"
            ),
        )


# -- secrets in clear ----------------------------------------------------------------------------
_SECRET_WORDS = (
    "password",
    "passwd",
    "secret",
    "token",
    "privatekey",
    "apikey",
    "secretkey",
    "accesskey",
    "clientsecret",
    "credential",
    "credentials",
)
# Keys that end like a secret but name one (the Kubernetes Secret holding it), not hold it.
_NAMES_A_SECRET = ("existing", "githubconfigsecret", "secretname", "tlssecret")
_SECRET_VALUES = (
    re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----"),
    re.compile(r"\b(AKIA|ASIA)[0-9A-Z]{16}\b"),
    re.compile(r"\bgh[pousr]_[A-Za-z0-9]{36}\b"),
    re.compile(r"\bgithub_pat_[A-Za-z0-9_]{22,}\b"),
    re.compile(r"\bxox[abprs]-[A-Za-z0-9-]{10,}\b"),
)


def _secret_key(key: str) -> bool:
    norm = re.sub(r"[^a-z0-9]", "", key.lower())
    return norm.endswith(_SECRET_WORDS) and not norm.startswith(_NAMES_A_SECRET)


def _clear(value: Any) -> bool:
    return isinstance(value, str) and value != "" and _known(value) and not value.startswith(("arn:", "${", "{{"))


def secrets_in_clear(inputs: Any) -> list[str]:
    """Paths of input values that look like secrets written in clear (not Pulumi secrets)."""
    found = []
    for path, key, value in _walk(inputs):
        if _secret_key(key) and _clear(value):
            found.append(path)
        elif (
            isinstance(value, dict)
            and isinstance(value.get("name"), str)
            and _secret_key(value["name"])
            and _clear(value.get("value"))
        ):
            found.append(f"{path} ({value['name']})")  # an env var: {name: DB_PASSWORD, value: ...}
        elif isinstance(value, str) and any(p.search(value) for p in _SECRET_VALUES):
            found.append(path)
    return found


@rule("secret-in-clear", "high", "No secret is written in clear in any input")
def _secrets(plan: Plan):
    fix = "pass it as a Pulumi secret (pulumi.Output.secret / config --secret) or reference a Secret by name"
    for r in plan.resources:
        paths = secrets_in_clear(r.inputs)
        if r.type.startswith("kubernetes:") and r.inputs.get("kind") == "Secret":  # all of it is secret
            for field_ in ("data", "stringData"):
                content = r.inputs.get(field_)
                if isinstance(content, dict):
                    paths += [f"{field_}.{k}" for k, v in content.items() if _clear(v)]
        for path in dict.fromkeys(paths):
            yield r, f"{path} holds a value in clear", fix


ALERTS_FIX = (
    "add a receiver under monitoring.alerts.receivers (slack, pagerduty, email or webhook) and set its secret "
    "with `pulumi config set --secret mlplatform:alert_<name> ...` (README: Where alerts go)"
)


@rule("alerts-route-nowhere", "high", "Alert rules reach a person through an Alertmanager receiver")
def _alerts_route_nowhere(plan: Plan):
    """A stack with alerting rules whose Alertmanager is off or has only the `null` receiver.

    High for growth and full (a team relies on the platform's alerts), medium for pragmatic.
    """
    alerting = [
        r
        for r in plan.of_type("kubernetes:monitoring.coreos.com/v1:PrometheusRule")
        if any("alert" in rl for g in _list((r.inputs.get("spec") or {}).get("groups")) for rl in _list(g.get("rules")))
    ]
    if not alerting:
        return
    severity = "medium" if plan.profile == "pragmatic" else "high"
    for release in plan.of_type("kubernetes:helm.sh/v3:Release"):
        if str(release.inputs.get("chart", "")).rsplit("/", 1)[-1] != "kube-prometheus-stack":
            continue
        am = (release.inputs.get("values") or {}).get("alertmanager") or {}
        if not am.get("enabled", True):
            yield release, "Alertmanager is off: the stack's alert rules fire and notify nobody", ALERTS_FIX, severity
            continue
        receivers = [x for x in _list((am.get("config") or {}).get("receivers")) if x.get("name") != "null"]
        if not receivers:
            yield (
                release,
                f"{len(alerting)} PrometheusRule(s) fire alerts that Alertmanager routes only to `null`",
                ALERTS_FIX,
                severity,
            )


# -- evaluation and waivers ----------------------------------------------------------------------
if _unimplemented := [i for i in RULE_IDS if i not in REGISTERED]:
    raise RuntimeError(f"rules listed in stacks/config/rules.py without an implementation: {_unimplemented}")
RULES = [REGISTERED[i] for i in RULE_IDS]  # in the listed order
RULES_BY_ID = {r.id: r for r in RULES}


def evaluate(plan: Plan, rules: Iterable[Rule] | None = None) -> list[Finding]:
    """Every rule over the Plan: the findings, in rule order."""
    out = []
    for rl in rules if rules is not None else RULES:
        for resource, message, fix, *severity in rl.check(plan):  # a rule may set its finding's severity
            out.append(
                Finding(
                    rule=rl.id,
                    severity=severity[0] if severity else rl.severity,
                    urn=resource.urn,
                    name=resource.name,
                    message=message,
                    fix=fix,
                    title=rl.title,
                )
            )
    return out


@dataclass(frozen=True)
class Waiver:
    """A rule accepted for the resources `resource` matches (name, URN or Terraform address; shell-style
    wildcards allowed), because of `reason`. `origin`: "profile" (shipped with mlplatform) or "config"."""

    rule: str
    resource: str
    reason: str
    origin: str = "config"

    def matches(self, finding: Finding) -> bool:
        if finding.rule != self.rule:
            return False
        targets = [finding.name, finding.urn] + ([finding.address] if finding.address else [])
        return any(fnmatch.fnmatchcase(t, self.resource) for t in targets)


def apply_waivers(findings: list[Finding], waivers: Iterable[Any]) -> tuple[list[Finding], list[Waiver]]:
    """(findings with `waived` set where a waiver matches, waivers that matched nothing). Waivers are
    anything with `rule`, `resource` and `reason` (the stack config's entries)."""
    ws = [w if isinstance(w, Waiver) else Waiver(w.rule, w.resource, w.reason) for w in waivers]
    used: set[int] = set()
    out = []
    for f in findings:
        hit = next((i for i, w in enumerate(ws) if w.matches(f)), None)
        if hit is not None:
            used.add(hit)
            f = replace(f, waived=ws[hit].reason)
        out.append(f)
    return out, [w for i, w in enumerate(ws) if i not in used]


def counts(findings: Iterable[Finding]) -> dict[str, dict[str, int]]:
    """{severity: {"open": n, "waived": m}} for every severity."""
    out = {s: {"open": 0, "waived": 0} for s in SEVERITIES}
    for f in findings:
        out.setdefault(f.severity, {"open": 0, "waived": 0})["waived" if f.waived else "open"] += 1
    return out


def blocking(findings: Iterable[Finding]) -> list[Finding]:
    """Unwaived high findings: `check` exits 3 when there is any."""
    return [f for f in findings if f.severity == "high" and not f.waived]


__all__ = [
    "Finding",
    "Rule",
    "RULES",
    "RULE_IDS",
    "RULES_BY_ID",
    "Waiver",
    "apply_waivers",
    "blocking",
    "counts",
    "containers",
    "evaluate",
    "secrets_in_clear",
]
