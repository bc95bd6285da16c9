"""Policy rules over constructed resources (the real SDKs under the mock monitor), waivers, and the
built-in rules over every profile."""

from __future__ import annotations

import json

import pulumi
import pulumi_aws as aws
import pulumi_kubernetes as k8s
import pytest

from conftest import plan_of
from mlplatform.components._common import irsa_trust_policy, policy_json
from mlplatform.stacks.analyses import policy
from mlplatform.stacks.plan.offline import Plan, PlannedResource
from mlplatform.stacks.program import plan as stack_plan
from mlplatform.stacks.analyses.check import stack_waivers
from mlplatform.stacks.config.spec import SpecError, load_spec

OIDC_ARN = "arn:aws:iam::123456789012:oidc-provider/oidc.eks.us-east-1.amazonaws.com/id/ABC"
ISSUER = "https://oidc.eks.us-east-1.amazonaws.com/id/ABC"
HOST = ISSUER.removeprefix("https://")


# -- constructed resources -----------------------------------------------------------------------
def bucket(pab=True, sse="aws:kms", versioning="Enabled", tls=True, protect=True):
    def program():
        b = aws.s3.Bucket("data", opts=pulumi.ResourceOptions(protect=protect))
        if pab:
            flags = dict(block_public_acls=True, block_public_policy=True, ignore_public_acls=True,
                         restrict_public_buckets=True)
            if pab != True:  # noqa: E712 - the name of the flag to leave off
                flags[pab] = False
            aws.s3.BucketPublicAccessBlock("data", bucket=b.id, **flags)
        if sse:
            aws.s3.BucketServerSideEncryptionConfiguration("data", bucket=b.id, rules=[{
                "apply_server_side_encryption_by_default": {"sse_algorithm": sse}}])
        if versioning:
            aws.s3.BucketVersioning("data", bucket=b.id, versioning_configuration={"status": versioning})
        statement = {"Effect": "Deny", "Principal": "*", "Action": "s3:*", "Resource": "*",
                     "Condition": {"Bool": {"aws:SecureTransport": "false"}}}
        if not tls:
            statement = {**statement, "Effect": "Allow", "Condition": {}}
        aws.s3.BucketPolicy("data", bucket=b.id, policy=policy_json([statement]))
    return program


def database(**over):
    def program():
        params = [{"name": "rds.force_ssl", "value": "1"}] if over.pop("tls", True) else [
            {"name": "log_connections", "value": "1"}]
        group = aws.rds.ParameterGroup("db", name="db-postgres17", family="postgres17", parameters=params)
        kwargs = dict(engine="postgres", instance_class="db.t4g.micro", allocated_storage=20, username="u",
                      password=pulumi.Output.secret("p"), storage_encrypted=True, publicly_accessible=False,
                      deletion_protection=True, backup_retention_period=7, parameter_group_name=group.name)
        kwargs.update(over)
        aws.rds.Instance("db", **kwargs, opts=pulumi.ResourceOptions(protect=True))
    return program


def repository(scan=True, mutability="IMMUTABLE"):
    return lambda: aws.ecr.Repository("repo", image_tag_mutability=mutability,
                                      image_scanning_configuration={"scan_on_push": scan},
                                      opts=pulumi.ResourceOptions(protect=True))


def eks(encryption=True, logs=("api", "audit", "authenticator"), cidrs=("203.0.113.0/24",), public=True):
    def program():
        aws.eks.Cluster(
            "eks", role_arn="arn:aws:iam::123456789012:role/eks",
            vpc_config={"subnet_ids": ["subnet-1", "subnet-2"], "endpoint_public_access": public,
                        "public_access_cidrs": list(cidrs) if cidrs is not None else None},
            encryption_config={"resources": ["secrets"], "provider": {"key_arn": "arn:aws:kms:us-east-1:1:key/k"}}
            if encryption else None,
            enabled_cluster_log_types=list(logs), opts=pulumi.ResourceOptions(protect=True))
    return program


def launch_template(tokens="required", hops=1, key=None, encrypted="true", mappings=True):
    return lambda: aws.ec2.LaunchTemplate(
        "nodes", key_name=key,
        metadata_options={"http_endpoint": "enabled", "http_tokens": tokens, "http_put_response_hop_limit": hops},
        block_device_mappings=[{"device_name": "/dev/xvda", "ebs": {"volume_size": 50, "encrypted": encrypted}}]
        if mappings else None)


def node_class(tokens="required", hops=1, encrypted=True):
    return lambda: k8s.apiextensions.CustomResource(
        "gpu", api_version="karpenter.k8s.aws/v1", kind="EC2NodeClass", metadata={"name": "gpu"},
        spec={"metadataOptions": {"httpTokens": tokens, "httpPutResponseHopLimit": hops},
              "blockDeviceMappings": [{"deviceName": "/dev/xvda", "ebs": {"volumeSize": "100Gi", "encrypted": encrypted}}]})


def role_policy(statement):
    return lambda: aws.iam.RolePolicy("p", role="r", policy=policy_json([statement]))


def irsa_role(trust):
    return lambda: aws.iam.Role("irsa", assume_role_policy=json.dumps(trust) if isinstance(trust, dict) else trust)


def _trust(condition):
    return {"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Principal": {"Federated": OIDC_ARN}, "Action": "sts:AssumeRoleWithWebIdentity",
        "Condition": condition}]}


def deployment(pod_sc=None, container_sc=None):
    return lambda: k8s.apps.v1.Deployment("app", metadata={"name": "app", "namespace": "ml"}, spec={
        "selector": {"matchLabels": {"app": "x"}},
        "template": {"metadata": {"labels": {"app": "x"}}, "spec": {
            "securityContext": pod_sc or {},
            "containers": [{"name": "main", "image": "busybox", "securityContext": container_sc or {}}]}}})


def helm(values):
    return lambda: k8s.helm.v3.Release("chart", chart="mlflow", version="1.0.0", values=values)


def pinned_release(values):
    from mlplatform.components.versions import HELM_CHARTS

    return lambda: k8s.helm.v3.Release("chart", chart="nvidia-device-plugin",
                                       version=HELM_CHARTS["nvidia-device-plugin"][0], values=values)


def node_pool(**spec_extra):
    spec = {"template": {"spec": {"nodeClassRef": {"group": "karpenter.k8s.aws", "kind": "EC2NodeClass", "name": "gpu"},
                                  "requirements": [{"key": "karpenter.sh/capacity-type", "operator": "In",
                                                    "values": ["spot"]}]}}, **spec_extra}
    return lambda: k8s.apiextensions.CustomResource("pool", api_version="karpenter.sh/v1", kind="NodePool",
                                                     metadata={"name": "gpu"}, spec=spec)


def secret_holder(**inputs):
    return lambda: k8s.core.v1.ConfigMap("cfg", metadata={"name": "cfg"}, data=inputs)


CASES = [
    # rule, passing program, failing program, message fragment, failing resource name
    ("s3-public-access-block", bucket(), bucket(pab="restrict_public_buckets"), "restrictPublicBuckets off", "data"),
    ("s3-public-access-block", bucket(), bucket(pab=False), "no public access block", "data"),
    ("s3-encryption", bucket(), bucket(sse=None), "no default server-side encryption", "data"),
    ("s3-versioning", bucket(), bucket(versioning="Suspended"), "does not keep object versions", "data"),
    ("s3-tls-only", bucket(), bucket(tls=False), "accepts requests over plain HTTP", "data"),
    ("rds-encrypted", database(), database(storage_encrypted=False), "stores data unencrypted", "db"),
    ("rds-private", database(), database(publicly_accessible=True), "has a public endpoint", "db"),
    ("rds-deletion-protection", database(), database(deletion_protection=False), "one API call", "db"),
    ("rds-backups", database(), database(backup_retention_period=3), "for 3 day(s)", "db"),
    ("rds-tls", database(), database(tls=False), "accepts connections without TLS", "db"),
    ("ecr-scan-on-push", repository(), repository(scan=False), "does not scan pushed images", "repo"),
    ("ecr-immutable-tags", repository(), repository(mutability="MUTABLE"), "overwrite an existing tag", "repo"),
    ("eks-secrets-encryption", eks(), eks(encryption=False), "without envelope encryption", "eks"),
    ("eks-control-plane-logs", eks(), eks(logs=("api",)), "does not log audit, authenticator", "eks"),
    ("eks-public-endpoint", eks(), eks(cidrs=("0.0.0.0/0",)), "open to the whole internet", "eks"),
    ("eks-public-endpoint", eks(public=False, cidrs=None), eks(cidrs=None), "open to the whole internet", "eks"),
    ("nodes-imdsv2", launch_template(), launch_template(tokens="optional"), "IMDSv1", "nodes"),
    ("nodes-imdsv2", node_class(), node_class(tokens="optional"), "IMDSv1", "gpu"),
    ("nodes-imds-hop-limit", launch_template(hops=2), launch_template(hops=3), "hop limit 3", "nodes"),
    ("nodes-imds-hop-limit", node_class(hops=1), node_class(hops=4), "hop limit 4", "gpu"),
    ("nodes-no-ssh-key", launch_template(), launch_template(key="ops"), "SSH key 'ops'", "nodes"),
    ("nodes-encrypted-volumes", launch_template(), launch_template(encrypted="false"), "unencrypted EBS volume", "nodes"),
    ("nodes-encrypted-volumes", launch_template(), launch_template(mappings=False), "encryption to the AMI", "nodes"),
    ("nodes-encrypted-volumes", node_class(), node_class(encrypted=False), "unencrypted EBS volume", "gpu"),
    ("iam-no-wildcard-admin",
     role_policy({"Effect": "Allow", "Action": "ecr:GetAuthorizationToken", "Resource": "*"}),
     role_policy({"Effect": "Allow", "Action": "*", "Resource": "*"}), 'every action ("*")', "p"),
    ("iam-no-wildcard-admin",
     role_policy({"Effect": "Allow", "Action": "s3:*", "Resource": "arn:aws:s3:::b/*"}),
     role_policy({"Effect": "Allow", "NotAction": "iam:*", "Resource": "*"}), "everything but iam:*", "p"),
    ("iam-no-wildcard-admin", lambda: aws.iam.RolePolicyAttachment(
        "a", role="r", policy_arn="arn:aws:iam::aws:policy/AmazonEKSWorkerNodePolicy"),
     lambda: aws.iam.RolePolicyAttachment("a", role="r", policy_arn="arn:aws:iam::aws:policy/AdministratorAccess"),
     "AdministratorAccess", "a"),
    ("irsa-pinned", irsa_role(irsa_trust_policy(OIDC_ARN, ISSUER, "ml", "trainer")),
     irsa_role(_trust({"StringLike": {f"{HOST}:sub": "system:serviceaccount:ml:*"}})), "StringLike", "irsa"),
    ("irsa-pinned", irsa_role(irsa_trust_policy(OIDC_ARN, ISSUER, "ml", "trainer")),
     irsa_role(_trust({"StringEquals": {f"{HOST}:sub": "system:serviceaccount:ml:trainer"}})),
     "aud sts.amazonaws.com", "irsa"),
    ("irsa-pinned", irsa_role(irsa_trust_policy(OIDC_ARN, ISSUER, "ml", "trainer")),
     irsa_role(_trust({"StringEquals": {f"{HOST}:sub": ["system:serviceaccount:ml:a", "system:serviceaccount:ml:b"],
                                        f"{HOST}:aud": "sts.amazonaws.com"}})), "is not one system:serviceaccount", "irsa"),
    ("k8s-privileged", deployment(container_sc={"privileged": False}),
     deployment(container_sc={"privileged": True}), "container main runs privileged", "app"),
    ("k8s-privileged", helm({"securityContext": {"privileged": False}}),
     helm({"exporter": {"securityContext": {"privileged": True}}}), "values.exporter.securityContext.privileged", "chart"),
    ("k8s-run-as-root", deployment(pod_sc={"runAsNonRoot": True}), deployment(), "may run as root", "app"),
    ("k8s-run-as-root", deployment(container_sc={"runAsUser": 1000}),
     deployment(pod_sc={"runAsNonRoot": True}, container_sc={"runAsUser": 0}), "runs as user 0", "app"),
    ("k8s-run-as-root", helm({"securityContext": {"runAsNonRoot": True}}),
     helm({"securityContext": {"runAsNonRoot": False}}), "runAsNonRoot = false", "chart"),
    ("stateful-protected", repository(), lambda: aws.ecr.Repository("repo"), "neither protect nor retain_on_delete", "repo"),
    ("stateful-protected", bucket(), bucket(protect=False), "neither protect", "data"),
    ("secret-in-clear", secret_holder(password="[secret]"), secret_holder(db_password="hunter2"),
     "data.db_password holds a value in clear", "cfg"),
    ("secret-in-clear", helm({"auth": {"existingSecret": "mlflow-db", "passwordKey": "password"}}),
     helm({"auth": {"adminPassword": "hunter2"}}), "values.auth.adminPassword", "chart"),
    ("secret-in-clear", lambda: k8s.core.v1.Secret("s", metadata={"name": "s"}, string_data={"config.json": "{}"}),
     # pulumi_kubernetes makes a Secret's data secret by itself; a manifest registered as is does not.
     lambda: pulumi.CustomResource("kubernetes:core/v1:Secret", "s", {
         "apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s"}, "stringData": {"config.json": "{}"}}),
     "stringData.config.json holds a value in clear", "s"),
    ("secret-in-clear", deployment(), lambda: k8s.apps.v1.Deployment("app", spec={
        "selector": {"matchLabels": {"a": "b"}}, "template": {"metadata": {"labels": {"a": "b"}}, "spec": {
            "containers": [{"name": "c", "image": "i", "env": [{"name": "GITHUB_TOKEN", "value": "x1"}]}]}}}),
     "(GITHUB_TOKEN) holds a value in clear", "app"),
    ("helm-values", pinned_release({"priorityClassName": "system-node-critical"}),
     pinned_release({"priorityClassNme": "system-node-critical"}), "has no value priorityClassNme", "chart"),
    ("custom-resource-schema", node_pool(limits={"nvidia.com/gpu": "8"}), node_pool(weigth=10),
     "unknown field 'weigth' (did you mean 'weight'?)", "pool"),
    ("secret-in-clear", secret_holder(note="rotate keys yearly"),
     secret_holder(note="key AKIAABCDEFGHIJKLMNOP"), "data.note holds a value in clear", "cfg"),
]


def node_group(autoscaled: bool, ignored: bool):
    """A managed node group, its ASG tagged for cluster-autoscaler or not, desiredSize ignored or not."""
    def program():
        ng = aws.eks.NodeGroup("ng", cluster_name="c", node_role_arn="arn:aws:iam::123456789012:role/n",
                               subnet_ids=["subnet-1"], scaling_config={"min_size": 1, "desired_size": 2, "max_size": 3},
                               opts=pulumi.ResourceOptions(ignore_changes=["scalingConfig.desiredSize"] if ignored else None))
        if autoscaled:
            aws.autoscaling.Tag("ng-ca", autoscaling_group_name=ng.resources.apply(
                lambda r: r[0].autoscaling_groups[0].name),
                tag={"key": policy.AUTOSCALED_TAG, "value": "enabled", "propagate_at_launch": False})
    return program


CASES += [
    ("node-group-desired-size", node_group(autoscaled=True, ignored=True), node_group(autoscaled=True, ignored=False),
     "the next `up` sets it back", "ng"),
    ("node-group-desired-size", node_group(autoscaled=False, ignored=False), node_group(autoscaled=False, ignored=True),
     "nothing scales the group", "ng"),
]


def system_nodes(replicas: int, instance_type: str = "t3a.medium", nodes: int = 2):
    """A system node group and an MLflow release of `replicas` pods requesting 1 GiB each."""
    def program():
        aws.eks.NodeGroup("system", cluster_name="c", node_role_arn="arn:aws:iam::123456789012:role/n",
                          subnet_ids=["subnet-1"], instance_types=[instance_type], labels={"mlplatform.io/pool": "system"},
                          scaling_config={"min_size": nodes, "desired_size": nodes, "max_size": nodes + 1})
        helm({"replicaCount": replicas, "resources": {"requests": {"cpu": "100m", "memory": "1Gi"}}})()
    return program


def alerting_stack(receivers: list[dict]):
    """A kube-prometheus-stack release with these Alertmanager receivers and one alerting rule."""
    def program():
        k8s.helm.v3.Release("kps", chart="kube-prometheus-stack", version="88.5.3", values={
            "alertmanager": {"enabled": True, "config": {"receivers": [{"name": "null"}, *receivers]}}})
        k8s.apiextensions.CustomResource("rules", api_version="monitoring.coreos.com/v1", kind="PrometheusRule",
                                         spec={"groups": [{"name": "g", "rules": [{"alert": "A", "expr": "up == 0"}]}]})
    return program


CASES += [
    ("alerts-route-nowhere", alerting_stack([{"name": "oncall", "pagerduty_configs": [{"routing_key_file": "/f"}]}]),
     alerting_stack([]), "fire alerts that Alertmanager routes only to `null`", "kps"),
    ("pod-requests", helm({"resources": {"requests": {"cpu": "100m", "memory": "256Mi"}}}),
     helm({"resources": {"limits": {"memory": "256Mi"}}}), "mlflow: no CPU/memory requests at values.resources", "chart"),
    ("system-nodes-fit", system_nodes(2), system_nodes(7), "the system pods do not fit: 2 x t3a.medium", "system"),
]


def _ids(case):
    return f"{case[0]}:{case[3][:24]}"


@pytest.mark.parametrize("rule_id,good,bad,message,name", CASES, ids=[_ids(c) for c in CASES])
def test_each_rule_passes_a_good_resource_and_flags_a_bad_one(rule_id, good, bad, message, name):
    rl = policy.RULES_BY_ID[rule_id]
    assert policy.evaluate(plan_of(good), [rl]) == []
    found = policy.evaluate(plan_of(bad), [rl])
    assert found, f"{rule_id} missed the bad resource"
    assert all(f.rule == rule_id and f.severity == rl.severity and f.fix for f in found)
    assert any(message in f.message and f.name == name and f.urn.endswith(f"::{name}") for f in found), \
        [f.message for f in found]


def test_every_rule_has_a_case():
    assert {c[0] for c in CASES} == set(policy.RULE_IDS)


def test_severities():
    sev = {r.id: r.severity for r in policy.RULES}
    assert sev["eks-public-endpoint"] == "medium"  # a warning, not a refusal
    for rid in ("s3-public-access-block", "rds-encrypted", "rds-tls", "nodes-imdsv2", "iam-no-wildcard-admin",
                "irsa-pinned", "k8s-privileged", "stateful-protected", "secret-in-clear"):
        assert sev[rid] == "high"


def test_a_bucket_configured_by_another_buckets_resources_is_still_flagged():
    """Configuration is tied to its own bucket (by dependency), not to any bucket of the plan."""
    def program():
        bucket()()
        aws.s3.Bucket("other", opts=pulumi.ResourceOptions(protect=True))
    found = policy.evaluate(plan_of(program), [policy.RULES_BY_ID["s3-encryption"]])
    assert [f.name for f in found] == ["other"]


def test_containers_walks_cronjobs_and_argo_templates():
    cron = {"spec": {"jobTemplate": {"spec": {"template": {"spec": {
        "securityContext": {"runAsNonRoot": True}, "containers": [{"name": "a"}], "initContainers": [{"name": "i"}]}}}}}}
    assert [(c["name"], pod) for c, pod in policy.containers(cron)] == [
        ("i", {"runAsNonRoot": True}), ("a", {"runAsNonRoot": True})]
    argo = {"spec": {"workflowSpec": {"securityContext": {"runAsUser": 1000}, "templates": [
        {"name": "t", "container": {"name": "main"}}, {"name": "s", "script": {"name": "py"},
                                                         "securityContext": {"runAsUser": 0}}]}}}
    assert [(c["name"], pod["runAsUser"]) for c, pod in policy.containers(argo)] == [("main", 1000), ("py", 0)]


@pytest.mark.parametrize("inputs,paths", [
    ({"password": "[secret]", "tokenExpirationSeconds": 3600, "secretName": "db", "existingSecret": "db"}, []),
    ({"auth": {"password": "x", "passwordKey": "password"}}, ["auth.password"]),
    ({"githubConfigSecret": "arc-app", "privateKey": "-----BEGIN RSA PRIVATE KEY-----\n..."}, ["privateKey"]),
    ({"env": [{"name": "API_KEY", "value": "k"}, {"name": "LOG_LEVEL", "value": "debug"}]}, ["env[0] (API_KEY)"]),
    ({"secret_arn": "arn:aws:secretsmanager:us-east-1:1:secret:x", "clientSecret": "${CLIENT_SECRET}"}, []),
])
def test_secret_heuristics(inputs, paths):
    assert policy.secrets_in_clear(inputs) == paths


# -- waivers ---------------------------------------------------------------------------------------
def _finding(**over):
    base = dict(rule="rds-backups", severity="high", urn="urn:pulumi:dev::mlplatform::x$aws:rds/instance:Instance::ml-dev-metadata",
                name="ml-dev-metadata", message="m", fix="f")
    return policy.Finding(**{**base, **over})


def test_waivers_match_name_urn_or_address_with_wildcards_and_report_unused():
    f1 = _finding()
    f2 = _finding(rule="CKV_AWS_18", name="ml-dev-artifacts", urn="urn:a", address="aws_s3_bucket.ml-dev-artifacts",
                  severity="medium", source="checkov")
    f3 = _finding(rule="stateful-protected")
    waivers = [policy.Waiver("rds-backups", "*-metadata", "3 days is enough for a dev stack"),
               policy.Waiver("CKV_AWS_18", "aws_s3_bucket.*", "no access logs"),
               policy.Waiver("rds-tls", "*", "never matches")]
    out, unused = policy.apply_waivers([f1, f2, f3], waivers)
    assert [f.waived for f in out] == ["3 days is enough for a dev stack", "no access logs", None]
    assert unused == [waivers[2]]
    assert policy.blocking(out) == [out[2]]
    c = policy.counts(out)
    assert c["high"] == {"open": 1, "waived": 1} and c["medium"] == {"open": 0, "waived": 1}


def test_a_waiver_names_one_rule():
    out, _ = policy.apply_waivers([_finding()], [policy.Waiver("rds-tls", "ml-dev-metadata", "r")])
    assert out[0].waived is None


@pytest.mark.parametrize("waiver,message", [
    ("{rule: rds-backups, resource: '*-metadata', reason: '  '}",
     "waivers.0.reason: is empty: a waiver must say why the finding is accepted"),
    ("{rule: rds-backup, resource: x, reason: r}", "waivers.0.rule: 'rds-backup' is not a rule of mlplatform check"),
    ("{rule: rds-backups, reason: r}", "waivers.0.resource: field required; add this key"),
    ("{rule: rds-backups, resource: x, reason: r, expires: never}", "waivers.0.expires: unknown key"),
])
def test_waiver_config_is_validated(waiver, message):
    with pytest.raises(SpecError) as e:
        load_spec("pragmatic", sets=[f"waivers=[{waiver}]"])
    assert message in str(e.value) and len(str(e.value).splitlines()) == 1


def test_checkov_ids_and_kubernetes_validate_can_be_waived():
    spec = load_spec("pragmatic", sets=["waivers=[{rule: CKV2_AWS_62, resource: x, reason: r}, "
                                        "{rule: kubernetes-validate, resource: y, reason: r}]"])
    assert [w.rule for w in spec.waivers] == ["CKV2_AWS_62", "kubernetes-validate"]


def test_a_config_adds_to_the_profile_waivers():
    spec = load_spec("pragmatic", sets=["waivers=[{rule: rds-backups, resource: '*-metadata', reason: dev}]"])
    ws = stack_waivers(spec)
    assert ws[-1] == policy.Waiver("rds-backups", "*-metadata", "dev", origin="config")
    assert any(w.rule == "k8s-run-as-root" and w.origin == "profile" for w in ws)  # the profile's own, kept
    assert len(ws) == len({(w.rule, w.resource) for w in ws})


# -- the profiles ------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def spec_plans(profile_plans):
    return {p: (load_spec(p), profile_plans[p]) for p in ("pragmatic", "growth", "full")}


@pytest.mark.parametrize("profile", ["pragmatic", "growth", "full"])
def test_every_profile_passes_the_built_in_rules(spec_plans, profile):
    spec, p = spec_plans[profile]
    findings, _ = policy.apply_waivers(policy.evaluate(p), stack_waivers(spec))
    # Alerts that reach nobody: high (blocking) on growth and full until a receiver is set, medium on pragmatic.
    assert [(f.rule, f.severity) for f in policy.blocking(findings)] == (
        [] if profile == "pragmatic" else [("alerts-route-nowhere", "high")])
    # The open warning the issue asks for: the public endpoint is 0.0.0.0/0 by default.
    assert sorted((f.rule, f.name) for f in findings if not f.waived) == [
        ("alerts-route-nowhere", "ml-dev-monitoring"), ("eks-public-endpoint", "ml-dev-eks")]


def test_breaking_a_stack_makes_a_high_finding(spec_plans):
    spec = load_spec("pragmatic", sets=["database.backup_retention_days=3"])
    findings = policy.evaluate(stack_plan(spec), [policy.RULES_BY_ID["rds-backups"]])
    assert [(f.name, f.severity) for f in findings] == [("ml-dev-metadata", "high")]


def test_rules_skip_values_known_only_after_apply():
    """A bucket policy that is still unknown is not judged (the real engine's preview has those)."""
    p = Plan(profile="", resources=[
        PlannedResource("urn:b", "aws:s3/bucket:Bucket", "b", None, True, {}, protect=True),
        PlannedResource("urn:p", "aws:s3/bucketPolicy:BucketPolicy", "b", None, True,
                        {"bucket": "b", "policy": "[unknown]"}, depends_on=["urn:b"]),
    ])
    assert policy.evaluate(p, [policy.RULES_BY_ID["s3-tls-only"]]) == []


def test_a_rule_must_be_listed_where_the_stack_config_reads_the_ids():
    """config/rules.py lists the ids the waivers may name; a rule not listed there cannot register."""
    from mlplatform.stacks.analyses.rules import rule
    from mlplatform.stacks.config.rules import RULE_IDS

    with pytest.raises(RuntimeError, match=r"'no-such-rule' is not listed in stacks/config/rules.py"):
        rule("no-such-rule", "high", "never registered")
    assert [r.id for r in policy.RULES] == list(RULE_IDS)
