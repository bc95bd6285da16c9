"""Export a Plan in formats other tools already read.

`terraform_plan(plan)`: the Plan as Terraform plan JSON (`terraform show -json` of a plan that creates
everything): `planned_values.root_module.resources`, `resource_changes` (action `create`, `after`,
`after_unknown`, `after_sensitive`) and `configuration` (the references between resources). Pulumi AWS
types become their Terraform types (TF_TYPES) and property names become the Terraform names the bridged
provider derives its Pulumi names from: camelCase -> snake_case, minus the plural Pulumi adds to
repeated blocks (`rules` -> `rule`, RENAMES). Nested objects are Terraform blocks, which plan JSON
always writes as lists, so a Pulumi object (a block with MaxItems=1) becomes a one-element list; maps
(tags, labels) stay objects. Secrets are left out of `after` and marked in `after_sensitive`; values
known only after apply are marked in `after_unknown`. checkov, OPA/conftest and Infracost read it.

`k8s_yaml(plan)`: the Kubernetes objects of the Plan as one multi-document YAML stream (what
`kubectl apply -f` and checkov's kubernetes framework read). Helm releases are not rendered: their
values are checked by the policy rules instead.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable
from typing import Any

import yaml

from .offline import SECRET, UNKNOWN, Plan, PlannedResource

FORMAT_VERSION = "1.2"
# The Terraform release whose plan JSON layout this export follows (format_version 1.2).
TERRAFORM_VERSION = "1.9.8"
PROVIDERS = {"aws": "registry.terraform.io/hashicorp/aws", "random": "registry.terraform.io/hashicorp/random"}

# Pulumi type token -> Terraform resource type (pulumi-aws bridge-metadata `renames.resources`).
TF_TYPES: dict[str, str] = {
    # autoscaling
    "aws:autoscaling/group:Group": "aws_autoscaling_group",
    "aws:autoscaling/tag:Tag": "aws_autoscaling_group_tag",
    # cloudwatch / events / logs
    "aws:cloudwatch/eventRule:EventRule": "aws_cloudwatch_event_rule",
    "aws:cloudwatch/eventTarget:EventTarget": "aws_cloudwatch_event_target",
    "aws:cloudwatch/logGroup:LogGroup": "aws_cloudwatch_log_group",
    "aws:cloudwatch/metricAlarm:MetricAlarm": "aws_cloudwatch_metric_alarm",
    # ec2 / vpc
    "aws:ec2/defaultSecurityGroup:DefaultSecurityGroup": "aws_default_security_group",
    "aws:ec2/eip:Eip": "aws_eip",
    "aws:ec2/flowLog:FlowLog": "aws_flow_log",
    "aws:ec2/instance:Instance": "aws_instance",
    "aws:ec2/internetGateway:InternetGateway": "aws_internet_gateway",
    "aws:ec2/launchTemplate:LaunchTemplate": "aws_launch_template",
    "aws:ec2/natGateway:NatGateway": "aws_nat_gateway",
    "aws:ec2/networkAcl:NetworkAcl": "aws_network_acl",
    "aws:ec2/route:Route": "aws_route",
    "aws:ec2/routeTable:RouteTable": "aws_route_table",
    "aws:ec2/routeTableAssociation:RouteTableAssociation": "aws_route_table_association",
    "aws:ec2/securityGroup:SecurityGroup": "aws_security_group",
    "aws:ec2/securityGroupRule:SecurityGroupRule": "aws_security_group_rule",
    "aws:ec2/subnet:Subnet": "aws_subnet",
    "aws:ec2/tag:Tag": "aws_ec2_tag",
    "aws:ec2/vpc:Vpc": "aws_vpc",
    "aws:ec2/vpcEndpoint:VpcEndpoint": "aws_vpc_endpoint",
    "aws:vpc/securityGroupEgressRule:SecurityGroupEgressRule": "aws_vpc_security_group_egress_rule",
    "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule": "aws_vpc_security_group_ingress_rule",
    # ecr
    "aws:ecr/lifecyclePolicy:LifecyclePolicy": "aws_ecr_lifecycle_policy",
    "aws:ecr/pullThroughCacheRule:PullThroughCacheRule": "aws_ecr_pull_through_cache_rule",
    "aws:ecr/registryScanningConfiguration:RegistryScanningConfiguration": "aws_ecr_registry_scanning_configuration",
    "aws:ecr/repository:Repository": "aws_ecr_repository",
    "aws:ecr/repositoryPolicy:RepositoryPolicy": "aws_ecr_repository_policy",
    # efs
    "aws:efs/fileSystem:FileSystem": "aws_efs_file_system",
    "aws:efs/mountTarget:MountTarget": "aws_efs_mount_target",
    # eks
    "aws:eks/accessEntry:AccessEntry": "aws_eks_access_entry",
    "aws:eks/accessPolicyAssociation:AccessPolicyAssociation": "aws_eks_access_policy_association",
    "aws:eks/addon:Addon": "aws_eks_addon",
    "aws:eks/cluster:Cluster": "aws_eks_cluster",
    "aws:eks/fargateProfile:FargateProfile": "aws_eks_fargate_profile",
    "aws:eks/nodeGroup:NodeGroup": "aws_eks_node_group",
    "aws:eks/podIdentityAssociation:PodIdentityAssociation": "aws_eks_pod_identity_association",
    # iam
    "aws:iam/instanceProfile:InstanceProfile": "aws_iam_instance_profile",
    "aws:iam/openIdConnectProvider:OpenIdConnectProvider": "aws_iam_openid_connect_provider",
    "aws:iam/policy:Policy": "aws_iam_policy",
    "aws:iam/role:Role": "aws_iam_role",
    "aws:iam/rolePolicy:RolePolicy": "aws_iam_role_policy",
    "aws:iam/rolePolicyAttachment:RolePolicyAttachment": "aws_iam_role_policy_attachment",
    "aws:iam/serviceLinkedRole:ServiceLinkedRole": "aws_iam_service_linked_role",
    "aws:iam/user:User": "aws_iam_user",
    "aws:iam/userPolicy:UserPolicy": "aws_iam_user_policy",
    # kms
    "aws:kms/alias:Alias": "aws_kms_alias",
    "aws:kms/grant:Grant": "aws_kms_grant",
    "aws:kms/key:Key": "aws_kms_key",
    "aws:kms/keyPolicy:KeyPolicy": "aws_kms_key_policy",
    # load balancing, dns, certificates
    "aws:acm/certificate:Certificate": "aws_acm_certificate",
    "aws:lb/loadBalancer:LoadBalancer": "aws_lb",
    "aws:route53/record:Record": "aws_route53_record",
    # rds
    "aws:rds/cluster:Cluster": "aws_rds_cluster",
    "aws:rds/clusterInstance:ClusterInstance": "aws_rds_cluster_instance",
    "aws:rds/clusterParameterGroup:ClusterParameterGroup": "aws_rds_cluster_parameter_group",
    "aws:rds/instance:Instance": "aws_db_instance",
    "aws:rds/parameterGroup:ParameterGroup": "aws_db_parameter_group",
    "aws:rds/subnetGroup:SubnetGroup": "aws_db_subnet_group",
    # s3
    "aws:s3/bucket:Bucket": "aws_s3_bucket",
    "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration": "aws_s3_bucket_lifecycle_configuration",
    "aws:s3/bucketLogging:BucketLogging": "aws_s3_bucket_logging",
    "aws:s3/bucketNotification:BucketNotification": "aws_s3_bucket_notification",
    "aws:s3/bucketOwnershipControls:BucketOwnershipControls": "aws_s3_bucket_ownership_controls",
    "aws:s3/bucketPolicy:BucketPolicy": "aws_s3_bucket_policy",
    "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock": "aws_s3_bucket_public_access_block",
    "aws:s3/bucketObjectLockConfiguration:BucketObjectLockConfiguration": "aws_s3_bucket_object_lock_configuration",
    "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration": "aws_s3_bucket_server_side_encryption_configuration",
    "aws:s3/bucketVersioning:BucketVersioning": "aws_s3_bucket_versioning",
    # secrets, parameters, queues, topics
    "aws:secretsmanager/secret:Secret": "aws_secretsmanager_secret",
    "aws:secretsmanager/secretVersion:SecretVersion": "aws_secretsmanager_secret_version",
    "aws:sns/topic:Topic": "aws_sns_topic",
    "aws:sqs/queue:Queue": "aws_sqs_queue",
    "aws:sqs/queuePolicy:QueuePolicy": "aws_sqs_queue_policy",
    "aws:ssm/parameter:Parameter": "aws_ssm_parameter",
    # random (Terraform's random provider; the values are the engine's secrets)
    "random:index/randomId:RandomId": "random_id",
    "random:index/randomPassword:RandomPassword": "random_password",
    "random:index/randomString:RandomString": "random_string",
}

# Pulumi property path (dotted, list indices left out) -> Terraform name, where the Pulumi name is not
# simply the camelCase of the Terraform one: Pulumi pluralises repeated blocks and lists with a
# singular Terraform name (bridge-metadata `renamedProperties`).
RENAMES: dict[str, dict[str, str]] = {
    "aws_db_parameter_group": {"parameters": "parameter"},
    "aws_ecr_repository": {"encryptionConfigurations": "encryption_configuration"},
    "aws_eks_addon": {"podIdentityAssociations": "pod_identity_association"},
    "aws_eks_node_group": {"taints": "taint"},
    "aws_iam_openid_connect_provider": {"clientIdLists": "client_id_list", "thumbprintLists": "thumbprint_list"},
    "aws_iam_role": {"inlinePolicies": "inline_policy"},
    "aws_launch_template": {"licenseSpecifications": "license_specification"},
    "aws_rds_cluster_parameter_group": {"parameters": "parameter"},
    "aws_route_table": {"routes": "route"},
    "aws_s3_bucket": {
        "corsRules": "cors_rule",
        "grants": "grant",
        "lifecycleRules": "lifecycle_rule",
        "lifecycleRules.transitions": "transition",
        "lifecycleRules.noncurrentVersionTransitions": "noncurrent_version_transition",
    },
    "aws_s3_bucket_lifecycle_configuration": {
        "rules": "rule",
        "rules.transitions": "transition",
        "rules.noncurrentVersionTransitions": "noncurrent_version_transition",
    },
    "aws_s3_bucket_server_side_encryption_configuration": {"rules": "rule"},
    "aws_secretsmanager_secret": {"replicas": "replica"},
    "aws_vpc_endpoint": {"subnetConfigurations": "subnet_configuration"},
}

# Terraform attributes of type map, at any depth (their keys are data, not property names, and they
# stay objects).
MAP_ATTRIBUTES = {"tags", "tags_all"}
MAP_ATTRIBUTES_BY_TYPE: dict[str, set[str]] = {
    "aws_eks_node_group": {"labels"},
    "aws_cloudwatch_event_target": {"input_paths"},
    "random_id": {"keepers"},
    "random_password": {"keepers"},
    "random_string": {"keepers"},
}

KUBERNETES_EXCLUDED = ("kubernetes:helm.sh/", "kubernetes:yaml/", "pulumi:providers:")
_MANIFEST_ORDER = ("apiVersion", "kind", "metadata")


# -- names ---------------------------------------------------------------------------------------
_CAMEL_BOUNDARY = re.compile(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])")


def snake_case(name: str) -> str:
    """`httpPutResponseHopLimit` -> `http_put_response_hop_limit` (the Terraform form of a Pulumi name)."""
    return _CAMEL_BOUNDARY.sub("_", name).lower()


def terraform_type(pulumi_type: str) -> str | None:
    """The Terraform type of a Pulumi AWS/random type token; None when the table does not know it."""
    return TF_TYPES.get(pulumi_type)


def guessed_terraform_type(pulumi_type: str) -> str:
    """`aws:<module>/<resource>:<Resource>` -> `aws_<module>_<resource>`: right for most types, not all
    (RDS instances are `aws_db_instance`); used only for types TF_TYPES lacks."""
    pkg, mod, cls = (pulumi_type.split(":") + ["", ""])[:3]
    module = mod.split("/")[0]
    return f"{pkg}_{module}_{snake_case(cls)}" if module not in ("index", "") else f"{pkg}_{snake_case(cls)}"


def exported_resources(plan: Plan) -> list[PlannedResource]:
    """The custom resources the Terraform export covers: AWS and random."""
    return [r for r in plan.resources if r.custom and r.type.split(":", 1)[0] in PROVIDERS]


def unmapped_types(plan: Plan) -> list[str]:
    """Types of the Plan's exported resources that TF_TYPES lacks (their Terraform type is a guess)."""
    return sorted({r.type for r in exported_resources(plan) if r.type not in TF_TYPES})


def _tf_name(name: str) -> str:
    """A Terraform resource name: letters, digits, '_' and '-', starting with a letter or '_'."""
    out = re.sub(r"[^A-Za-z0-9_-]", "_", name)
    return out if re.match(r"^[A-Za-z_]", out) else f"_{out}"


def addresses(plan: Plan) -> dict[str, str]:
    """URN -> Terraform address (`aws_s3_bucket.ml-dev-artifacts`) of every exported resource.

    Two resources of one type with one name (different parents) keep distinct addresses: the second
    gets a suffix from its URN's hash.
    """
    out: dict[str, str] = {}
    taken: set[str] = set()
    for r in exported_resources(plan):
        tf_type = terraform_type(r.type) or guessed_terraform_type(r.type)
        address = f"{tf_type}.{_tf_name(r.name)}"
        if address in taken:
            address = f"{address}_{hashlib.sha256(r.urn.encode()).hexdigest()[:6]}"
        taken.add(address)
        out[r.urn] = address
    return out


# -- values --------------------------------------------------------------------------------------
def _convert(tf_type: str, obj: dict[str, Any], path: str = "") -> tuple[dict, dict, dict]:
    """Pulumi inputs (an object) -> Terraform (after, after_unknown, after_sensitive)."""
    after: dict[str, Any] = {}
    unknown: dict[str, Any] = {}
    sensitive: dict[str, Any] = {}
    renames = RENAMES.get(tf_type, {})
    maps = MAP_ATTRIBUTES | MAP_ATTRIBUTES_BY_TYPE.get(tf_type, set())
    for key, value in obj.items():
        if key.startswith("__"):
            continue
        ppath = f"{path}.{key}" if path else key
        tf_key = renames.get(ppath) or snake_case(key)
        if value == SECRET:
            sensitive[tf_key] = True
        elif value == UNKNOWN:
            unknown[tf_key] = True
        elif isinstance(value, dict) and tf_key in maps:
            after[tf_key] = {k: v for k, v in value.items() if v not in (SECRET, UNKNOWN)}
            if any(v == SECRET for v in value.values()):
                sensitive[tf_key] = {k: True for k, v in value.items() if v == SECRET}
            if any(v == UNKNOWN for v in value.values()):
                unknown[tf_key] = {k: True for k, v in value.items() if v == UNKNOWN}
        elif isinstance(value, dict):
            a, u, s = _convert(tf_type, value, ppath)
            after[tf_key] = [a]
            if u:
                unknown[tf_key] = [u]
            if s:
                sensitive[tf_key] = [s]
        elif isinstance(value, list):
            items: list[Any] = []
            items_u: list[Any] = []
            items_s: list[Any] = []
            for item in value:
                if isinstance(item, dict):
                    a, u, s = _convert(tf_type, item, ppath)
                    items.append(a)
                    items_u.append(u or False)
                    items_s.append(s or False)
                elif item == UNKNOWN:
                    items.append(None)
                    items_u.append(True)
                    items_s.append(False)
                elif item == SECRET:
                    items.append(None)
                    items_u.append(False)
                    items_s.append(True)
                else:
                    items.append(item)
                    items_u.append(False)
                    items_s.append(False)
            after[tf_key] = items
            if any(items_u):
                unknown[tf_key] = items_u
            if any(items_s):
                sensitive[tf_key] = items_s
        else:
            after[tf_key] = value
    if not path and "tags" in after and "tags_all" in maps and "tags_all" not in after:
        after["tags_all"] = dict(after["tags"])  # no provider default tags: tags_all == tags
    return after, unknown, sensitive


def terraform_values(r: PlannedResource) -> tuple[dict, dict, dict]:
    """(after, after_unknown, after_sensitive) of one resource, in Terraform names and shapes."""
    return _convert(terraform_type(r.type) or guessed_terraform_type(r.type), r.inputs)


# -- references ----------------------------------------------------------------------------------


def _attribute_values(plan: Plan, region: str) -> dict[str, dict[str, str]]:
    """URN -> {value: Terraform attribute} of each resource's id and string outputs, as the offline
    engine computed them (the same deterministic mocks), to tell which input came from which resource."""
    import pulumi

    from .mocks import PlanMocks

    mocks = PlanMocks(region)
    out: dict[str, dict[str, str]] = {}
    for r in exported_resources(plan):
        try:
            rid, state = mocks.new_resource(
                pulumi.runtime.MockResourceArgs(
                    typ=r.type, name=r.name, inputs=dict(r.inputs), provider="", resource_id="", custom=True
                )
            )
        except Exception:
            continue
        values: dict[str, str] = {}
        for key, value in state.items():
            # Outputs only: an input the mock echoes back (a policy's `bucket`) is not this resource's.
            if key not in r.inputs and isinstance(value, str) and len(value) >= 3 and value not in (SECRET, UNKNOWN):
                values.setdefault(value, snake_case(key))
        for key in ("name", "arn"):  # the attributes a Terraform reference names first
            if isinstance(state.get(key), str) and state[key] not in (SECRET, UNKNOWN):
                values[state[key]] = key
        if rid:
            values[rid] = "id"
        out[r.urn] = values
    return out


def _strings(value: Any) -> Iterable[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, list):
        for v in value:
            yield from _strings(v)


# Terraform attributes that hold another resource's id, ARN or name.
_REFERENCE_SUFFIXES = ("_id", "_ids", "_arn", "_arns", "_name", "_names", "_url", "_urls")
_REFERENCE_KEYS = {
    "arn",
    "bucket",
    "role",
    "repository",
    "rule",
    "queue_url",
    "log_destination",
    "security_groups",
    "subnets",
    "load_balancer_arn",
    "target_group_arn",
    "secret_id",
}

_ATTR_PRIORITY = {"id": 0, "arn": 1, "name": 2}


def references(plan: Plan, region: str | None = None) -> dict[str, dict[str, list[str]]]:
    """URN -> {Terraform attribute: [references]} for top-level inputs whose value is another
    resource's id, ARN or name (only resources it depends on), like `configuration` in plan JSON."""
    region = region or plan.region
    addr = addresses(plan)
    values = _attribute_values(plan, region)
    out: dict[str, dict[str, list[str]]] = {}
    for r in exported_resources(plan):
        tf_type = terraform_type(r.type) or guessed_terraform_type(r.type)
        renames = RENAMES.get(tf_type, {})
        refs: dict[str, list[str]] = {}
        for key, value in r.inputs.items():
            tf_key = renames.get(key) or snake_case(key)
            if not (tf_key.endswith(_REFERENCE_SUFFIXES) or tf_key in _REFERENCE_KEYS):
                continue  # a literal such as an identifier may equal another resource's name by design
            for s in _strings(value):
                found = [(dep, values[dep][s]) for dep in r.depends_on if dep in addr and s in values.get(dep, {})]
                if not found:
                    continue
                # Two dependencies can share a value (same mock name): keep the likeliest, by the
                # attribute (id, then arn, then name) and by how much the dependency's type and the
                # input's name have in common (`role` <- aws_iam_role, `vpc_id` <- aws_vpc).
                words = set(tf_key.split("_"))

                def rank(item: tuple[str, str], words: set[str] = words) -> tuple[int, int]:
                    dep, attr = item
                    overlap = len(words & set(addr[dep].split(".", 1)[0].split("_")[1:]))
                    return (_ATTR_PRIORITY.get(attr, len(_ATTR_PRIORITY)), -overlap)

                best = min(rank(f) for f in found)
                for dep, attr in found:
                    if rank((dep, attr)) != best:
                        continue
                    for ref in (f"{addr[dep]}.{attr}", addr[dep]):
                        if ref not in refs.setdefault(tf_key, []):
                            refs[tf_key].append(ref)
        if refs:
            out[r.urn] = refs
    return out


# -- Terraform plan JSON -------------------------------------------------------------------------
def terraform_plan(plan: Plan, region: str | None = None) -> dict[str, Any]:
    """The Plan as Terraform plan JSON (every resource created). Non-AWS resources (components,
    Kubernetes objects, Helm releases) are left out; `mlplatform.urns` maps addresses back to URNs."""
    region = region or plan.region
    addr = addresses(plan)
    refs = references(plan, region)
    planned: list[dict[str, Any]] = []
    changes: list[dict[str, Any]] = []
    config: list[dict[str, Any]] = []
    for r in exported_resources(plan):
        tf_type, name = addr[r.urn].split(".", 1)
        provider = PROVIDERS[r.type.split(":", 1)[0]]
        after, unknown, sensitive = terraform_values(r)
        common = {"address": addr[r.urn], "mode": "managed", "type": tf_type, "name": name, "provider_name": provider}
        planned.append({**common, "schema_version": 0, "values": after, "sensitive_values": sensitive})
        changes.append(
            {
                **common,
                "change": {
                    "actions": ["create"],
                    "before": None,
                    "after": after,
                    "after_unknown": unknown,
                    "before_sensitive": False,
                    "after_sensitive": sensitive,
                },
            }
        )
        expressions = {k: {"references": v} for k, v in refs.get(r.urn, {}).items()}
        config.append(
            {
                **common,
                "provider_config_key": provider.rsplit("/", 1)[1],
                "expressions": expressions,
                "schema_version": 0,
            }
        )
    providers = {p: {"name": p, "full_name": PROVIDERS[p]} for p in sorted({c["provider_config_key"] for c in config})}
    if "aws" in providers:
        providers["aws"]["expressions"] = {"region": {"constant_value": region}}
    return {
        "format_version": FORMAT_VERSION,
        "terraform_version": TERRAFORM_VERSION,
        "planned_values": {"root_module": {"resources": planned}},
        "resource_changes": changes,
        "configuration": {"provider_config": providers, "root_module": {"resources": config}},
        "mlplatform": {
            "profile": plan.profile,
            "urns": {a: u for u, a in addr.items()},
            "unmapped_types": unmapped_types(plan),
        },
    }


def terraform_plan_json(plan: Plan, region: str | None = None) -> str:
    return json.dumps(terraform_plan(plan, region), indent=2)


# -- Kubernetes YAML -----------------------------------------------------------------------------
def is_kubernetes_object(r: PlannedResource) -> bool:
    return r.custom and r.type.startswith("kubernetes:") and not r.type.startswith(KUBERNETES_EXCLUDED)


def manifest(r: PlannedResource) -> tuple[dict[str, Any], list[str]]:
    """(manifest, notes) of a Kubernetes resource: its inputs in manifest key order. A name left to
    Pulumi's auto-naming is filled in with the resource name; whole-field secrets are left out and noted."""
    inputs = dict(r.inputs)
    notes = []
    body = {k: inputs.pop(k) for k in _MANIFEST_ORDER if k in inputs}
    for k, v in inputs.items():
        if k.startswith("__"):
            continue
        if v in (SECRET, UNKNOWN):
            notes.append(f"{k}: {'a Pulumi secret' if v == SECRET else 'known after apply'}, not exported")
            continue
        body[k] = v
    meta = dict(body.get("metadata") or {})
    if "name" not in meta:
        meta["name"] = r.name
        notes.append(f"metadata.name: Pulumi auto-names this object ({r.name}-<suffix>)")
    body["metadata"] = meta
    return body, notes


def kubernetes_objects(plan: Plan) -> list[tuple[PlannedResource, dict[str, Any]]]:
    """(resource, manifest) of every Kubernetes object in the Plan, in Plan order."""
    return [(r, manifest(r)[0]) for r in plan.resources if is_kubernetes_object(r)]


def k8s_object_id(m: dict[str, Any]) -> str:
    """`Kind.namespace.name`, the resource id checkov gives a Kubernetes object."""
    meta = m.get("metadata") or {}
    return f"{m.get('kind')}.{meta.get('namespace', 'default')}.{meta.get('name')}"


def k8s_yaml(plan: Plan) -> str:
    """Every Kubernetes object of the Plan as a multi-document YAML stream; each document starts with
    a comment naming its Pulumi URN."""
    docs = []
    for r in plan.resources:
        if not is_kubernetes_object(r):
            continue
        body, notes = manifest(r)
        head = "".join(f"# {line}\n" for line in [f"urn: {r.urn}", *notes])
        docs.append("---\n" + head + yaml.safe_dump(body, sort_keys=False, default_flow_style=False, width=120))
    return "".join(docs)
