"""Cluster component under the Pulumi mock monitor: real inputs of the resources it registers."""

from __future__ import annotations

import json

import pulumi
import pytest

from mlplatform.components import versions
from mlplatform.components._common import AUTOSCALED_TAG, ValidationError
from mlplatform.components.cluster import Cluster, ClusterArgs, ExistingCluster, kubeconfig_document
from mlplatform.stacks.plan.mocks import ACCOUNT_ID

from conftest import one, plan_of

SUBNETS = ["subnet-aaa", "subnet-bbb"]
ADMIN = "arn:aws:iam::123456789012:role/platform-admins"
ADMIN_USER = "arn:aws:iam::210987654321:user/ops/alice"


def program(**overrides):
    def run():
        args = ClusterArgs(vpc_id="vpc-123", private_subnet_ids=SUBNETS, **overrides)
        c = Cluster("ml", args)
        pulumi.export("kubeconfig", c.kubeconfig)
        pulumi.export("kubeconfig_plain", pulumi.Output.unsecret(c.kubeconfig))
        for attr in ("cluster_name", "endpoint", "certificate_authority", "oidc_provider_arn", "oidc_issuer_url",
                     "node_role_arn", "node_role_name", "cluster_security_group_id", "kms_key_arn"):
            pulumi.export(attr, getattr(c, attr))
    return run


@pytest.fixture(scope="module")
def plan():
    return plan_of(program(admin_principal_arns=[ADMIN, ADMIN_USER]))


def iam_documents(plan):
    """Every IAM policy document in the plan (inline policies and trust policies), parsed."""
    docs = []
    for r in plan.resources:
        if r.type.startswith("aws:iam/"):
            for key in ("policy", "assumeRolePolicy"):
                if isinstance(r.inputs.get(key), str):
                    docs.append((r.name, json.loads(r.inputs[key])))
    return docs


def role_trust(plan, name):
    return json.loads(one(plan, "aws:iam/role:Role", name).inputs["assumeRolePolicy"])


def attached(plan, role_urn_name):
    role = one(plan, "aws:iam/role:Role", role_urn_name)
    return {r.inputs["policyArn"] for r in plan.of_type("aws:iam/rolePolicyAttachment:RolePolicyAttachment")
            if role.urn in r.depends_on}


# -- encryption, logging, endpoint -----------------------------------------------------------------
def test_kms_key_rotates_and_is_protected(plan):
    key = one(plan, "aws:kms/key:Key")
    assert key.inputs["enableKeyRotation"] is True
    assert key.inputs["deletionWindowInDays"] == 30
    assert key.protect is True
    alias = one(plan, "aws:kms/alias:Alias")
    assert alias.inputs["name"] == "alias/ml-eks-secrets"


def test_cluster_encrypts_secrets_with_the_key(plan):
    cluster = one(plan, "aws:eks/cluster:Cluster")
    key_arn = f"arn:aws:kms:us-east-1:{ACCOUNT_ID}:key/"
    enc = cluster.inputs["encryptionConfig"]
    assert enc["resources"] == ["secrets"]
    assert enc["provider"]["keyArn"].startswith(key_arn)
    assert enc["provider"]["keyArn"] == plan.outputs["kms_key_arn"]
    assert cluster.protect is True


def test_cluster_pinned_named_and_logging(plan):
    cluster = one(plan, "aws:eks/cluster:Cluster")
    assert cluster.inputs["name"] == "ml"
    assert cluster.inputs["version"] == versions.KUBERNETES_VERSION
    assert cluster.inputs["enabledClusterLogTypes"] == ["api", "audit", "authenticator"]
    log_group = one(plan, "aws:cloudwatch/logGroup:LogGroup")
    assert log_group.inputs["name"] == "/aws/eks/ml/cluster"
    assert log_group.inputs["retentionInDays"] == 90
    assert log_group.urn in cluster.depends_on  # made first, so EKS doesn't create it without retention


def test_endpoint_private_on_and_access_by_api(plan):
    cluster = one(plan, "aws:eks/cluster:Cluster")
    vpc = cluster.inputs["vpcConfig"]
    assert vpc["endpointPrivateAccess"] is True
    assert vpc["endpointPublicAccess"] is True
    assert vpc["publicAccessCidrs"] == ["0.0.0.0/0"]
    assert vpc["subnetIds"] == SUBNETS
    assert cluster.inputs["accessConfig"] == {"authenticationMode": "API",
                                              "bootstrapClusterCreatorAdminPermissions": True}


def test_private_only_endpoint_and_narrow_cidrs():
    p = plan_of(program(endpoint_public_access=False))
    vpc = one(p, "aws:eks/cluster:Cluster").inputs["vpcConfig"]
    assert vpc["endpointPublicAccess"] is False and vpc["endpointPrivateAccess"] is True
    assert "publicAccessCidrs" not in vpc
    p = plan_of(program(public_access_cidrs=["203.0.113.0/24"], control_plane_logs=list(
        ("api", "audit", "authenticator", "controllerManager", "scheduler"))))
    cluster = one(p, "aws:eks/cluster:Cluster")
    assert cluster.inputs["vpcConfig"]["publicAccessCidrs"] == ["203.0.113.0/24"]
    assert len(cluster.inputs["enabledClusterLogTypes"]) == 5


# -- nodes -----------------------------------------------------------------------------------------
def test_launch_template_imdsv2_and_encrypted_gp3(plan):
    lt = one(plan, "aws:ec2/launchTemplate:LaunchTemplate")
    assert lt.inputs["metadataOptions"] == {"httpEndpoint": "enabled", "httpTokens": "required",
                                            "httpPutResponseHopLimit": 1}
    [bdm] = lt.inputs["blockDeviceMappings"]
    assert bdm["deviceName"] == "/dev/xvda"
    assert bdm["ebs"] == {"volumeSize": 50, "volumeType": "gp3", "encrypted": "true", "deleteOnTermination": "true"}
    assert "keyName" not in lt.inputs
    assert {s["resourceType"] for s in lt.inputs["tagSpecifications"]} == {"instance", "volume"}


def test_system_node_group(plan):
    ng = one(plan, "aws:eks/nodeGroup:NodeGroup")
    lt = one(plan, "aws:ec2/launchTemplate:LaunchTemplate")
    assert ng.inputs["scalingConfig"] == {"minSize": 2, "desiredSize": 2, "maxSize": 3}
    assert ng.inputs["amiType"] == versions.AMI_TYPE_CPU
    assert ng.inputs["instanceTypes"] == ["t3.large"]
    assert ng.inputs["capacityType"] == "ON_DEMAND"
    assert ng.inputs["subnetIds"] == SUBNETS
    assert ng.inputs["labels"] == {"mlplatform.io/pool": "system"}
    assert ng.inputs["updateConfig"] == {"maxUnavailable": 1}
    assert ng.inputs["version"] == versions.KUBERNETES_VERSION
    assert ng.inputs["launchTemplate"]["id"].startswith("lt-") and ng.inputs["launchTemplate"]["version"] == "1"
    assert lt.urn in ng.depends_on
    assert ng.inputs["nodeRoleArn"] == plan.outputs["node_role_arn"]


def test_system_group_size_is_owned_by_the_stack_by_default(plan):
    """cluster-autoscaler cannot see it (no mlplatform.io/cluster-autoscaler tag on its ASG), so `up`
    keeps its desired size and nothing fights over it."""
    ng = one(plan, "aws:eks/nodeGroup:NodeGroup")
    assert ng.ignore_changes == []
    assert plan.of_type("aws:autoscaling/tag:Tag") == []


def test_system_group_scaled_by_cluster_autoscaler():
    p = plan_of(program(system_node_scaled_by="cluster-autoscaler"))
    ng = one(p, "aws:eks/nodeGroup:NodeGroup")
    assert ng.ignore_changes == ["scalingConfig.desiredSize"]  # recorded as the engine sees it
    tag = one(p, "aws:autoscaling/tag:Tag")
    assert tag.inputs["tag"] == {"key": AUTOSCALED_TAG, "value": "enabled", "propagateAtLaunch": False}
    assert ng.urn in tag.depends_on and tag.inputs["autoscalingGroupName"].startswith("eks-")


def test_support_type_is_explicit(plan):
    """EKS enables extended support (6x the control-plane price) when upgradePolicy is absent."""
    assert one(plan, "aws:eks/cluster:Cluster").inputs["upgradePolicy"] == {"supportType": "STANDARD"}
    p = plan_of(program(support_type="EXTENDED"))
    assert one(p, "aws:eks/cluster:Cluster").inputs["upgradePolicy"] == {"supportType": "EXTENDED"}


def test_node_group_sizes_follow_args():
    p = plan_of(program(system_node_count=3, system_node_min=1, system_node_max=6,
                        system_node_instance_type="m6i.large", system_node_disk_gib=100))
    ng = one(p, "aws:eks/nodeGroup:NodeGroup")
    assert ng.inputs["scalingConfig"] == {"minSize": 1, "desiredSize": 3, "maxSize": 6}
    assert ng.inputs["instanceTypes"] == ["m6i.large"]
    ebs = one(p, "aws:ec2/launchTemplate:LaunchTemplate").inputs["blockDeviceMappings"][0]["ebs"]
    assert ebs["volumeSize"] == 100


def test_node_role_has_no_cni_policy(plan):
    policies = attached(plan, "ml-node")
    assert policies == {"arn:aws:iam::aws:policy/AmazonEKSWorkerNodePolicy",
                        "arn:aws:iam::aws:policy/AmazonEC2ContainerRegistryPullOnly"}
    assert role_trust(plan, "ml-node")["Statement"][0]["Principal"] == {"Service": "ec2.amazonaws.com"}
    assert attached(plan, "ml-cluster") == {"arn:aws:iam::aws:policy/AmazonEKSClusterPolicy"}


# -- OIDC, IRSA, add-ons ---------------------------------------------------------------------------
def test_oidc_provider(plan):
    oidc = one(plan, "aws:iam/openIdConnectProvider:OpenIdConnectProvider")
    assert oidc.inputs["clientIdLists"] == ["sts.amazonaws.com"]
    assert oidc.inputs["url"] == plan.outputs["oidc_issuer_url"]
    assert oidc.inputs["url"].startswith("https://oidc.eks.us-east-1.amazonaws.com/id/")
    host = oidc.inputs["url"].removeprefix("https://")
    assert plan.outputs["oidc_provider_arn"] == f"arn:aws:iam::{ACCOUNT_ID}:oidc-provider/{host}"


@pytest.mark.parametrize("role, service_account, policy", [
    ("ml-ebs-csi", "ebs-csi-controller-sa", "service-role/AmazonEBSCSIDriverPolicy"),
    ("ml-vpc-cni", "aws-node", "AmazonEKS_CNI_Policy"),
])
def test_irsa_trust_pins_sub_and_aud(plan, role, service_account, policy):
    [statement] = role_trust(plan, role)["Statement"]
    host = plan.outputs["oidc_issuer_url"].removeprefix("https://")
    assert statement["Action"] == "sts:AssumeRoleWithWebIdentity"
    assert statement["Principal"] == {"Federated": plan.outputs["oidc_provider_arn"]}
    assert statement["Condition"] == {"StringEquals": {
        f"{host}:sub": f"system:serviceaccount:kube-system:{service_account}",
        f"{host}:aud": "sts.amazonaws.com",
    }}
    assert attached(plan, role) == {f"arn:aws:iam::aws:policy/{policy}"}


def test_no_wildcard_action_on_wildcard_resource(plan):
    docs = iam_documents(plan)
    assert len(docs) >= 5  # 4 trust policies + the cluster's KMS policy
    for name, doc in docs:
        for st in doc["Statement"]:
            actions = st.get("Action", [])
            actions = [actions] if isinstance(actions, str) else actions
            resources = st.get("Resource", [])
            resources = [resources] if isinstance(resources, str) else resources
            assert not ("*" in actions and "*" in resources), name
    [kms] = [doc for name, doc in docs if name == "ml-cluster-kms"]
    assert kms["Statement"][0]["Resource"] == plan.outputs["kms_key_arn"]


def test_core_addons(plan):
    addons = {r.inputs["addonName"]: r for r in plan.of_type("aws:eks/addon:Addon")}
    assert set(addons) == set(versions.EKS_ADDONS) == {"vpc-cni", "coredns", "kube-proxy", "aws-ebs-csi-driver"}
    for a in addons.values():
        assert a.inputs["clusterName"] == "ml"
        assert a.inputs["resolveConflictsOnUpdate"] == "OVERWRITE"
        assert a.inputs["addonVersion"] == f"(EKS default for Kubernetes {versions.KUBERNETES_VERSION})"
    roles = {r.name: r.urn for r in plan.of_type("aws:iam/role:Role")}
    assert addons["vpc-cni"].inputs["serviceAccountRoleArn"].split("/")[-1].startswith("ml-vpc-cni-")
    assert addons["aws-ebs-csi-driver"].inputs["serviceAccountRoleArn"].split("/")[-1].startswith("ml-ebs-csi-")
    assert "serviceAccountRoleArn" not in addons["coredns"].inputs
    assert roles["ml-ebs-csi"] in addons["aws-ebs-csi-driver"].depends_on
    node_group = one(plan, "aws:eks/nodeGroup:NodeGroup")
    # Deployments wait for nodes; the CNI and kube-proxy are in place before the nodes join.
    assert node_group.urn in addons["coredns"].depends_on
    assert node_group.urn in addons["aws-ebs-csi-driver"].depends_on
    assert addons["vpc-cni"].urn in node_group.depends_on
    assert addons["kube-proxy"].urn in node_group.depends_on


# -- access, kubeconfig, provider, outputs --------------------------------------------------------
def test_admin_access_entries(plan):
    entries = {r.inputs["principalArn"]: r for r in plan.of_type("aws:eks/accessEntry:AccessEntry")}
    assert set(entries) == {ADMIN, ADMIN_USER}
    assert all(e.inputs["type"] == "STANDARD" and e.inputs["clusterName"] == "ml" for e in entries.values())
    assocs = {r.inputs["principalArn"]: r for r in plan.of_type("aws:eks/accessPolicyAssociation:AccessPolicyAssociation")}
    assert set(assocs) == {ADMIN, ADMIN_USER}
    for arn, assoc in assocs.items():
        assert assoc.inputs["policyArn"] == "arn:aws:eks::aws:cluster-access-policy/AmazonEKSClusterAdminPolicy"
        assert assoc.inputs["accessScope"] == {"type": "cluster"}
        assert entries[arn].urn in assoc.depends_on


def test_no_access_entries_by_default():
    p = plan_of(program())
    assert p.of_type("aws:eks/accessEntry:AccessEntry") == []


def test_kubeconfig_is_secret_and_uses_get_token(plan):
    assert plan.outputs["kubeconfig"] == "[secret]"
    provider = one(plan, "pulumi:providers:kubernetes", "ml-k8s")
    assert provider.inputs["kubeconfig"] == "[secret]"
    assert provider.inputs["enableServerSideApply"] == "true"
    assert provider.inputs["clusterIdentifier"] == f"arn:aws:eks:us-east-1:{ACCOUNT_ID}:cluster/ml"
    doc = json.loads(plan.outputs["kubeconfig_plain"])
    assert doc["clusters"][0]["cluster"] == {"server": plan.outputs["endpoint"],
                                             "certificate-authority-data": plan.outputs["certificate_authority"]}
    exec_ = doc["users"][0]["user"]["exec"]
    assert exec_["apiVersion"] == "client.authentication.k8s.io/v1beta1"
    assert exec_["command"] == "aws"
    assert exec_["args"][:5] == ["eks", "get-token", "--cluster-name", "ml", "--region"]
    assert exec_["args"][5] == "us-east-1"


def test_provider_waits_for_nodes_and_addons(plan):
    provider = one(plan, "pulumi:providers:kubernetes", "ml-k8s")
    assert one(plan, "aws:eks/nodeGroup:NodeGroup").urn in provider.depends_on
    for addon in plan.of_type("aws:eks/addon:Addon"):
        assert addon.urn in provider.depends_on


def test_kubeconfig_document_shape():
    doc = kubeconfig_document("c1", "https://x.eks", "Q0E=", "eu-west-1")
    assert doc["current-context"] == "c1"
    assert doc["contexts"][0]["context"] == {"cluster": "c1", "user": "c1"}
    assert doc["users"][0]["user"]["exec"]["args"] == [
        "eks", "get-token", "--cluster-name", "c1", "--region", "eu-west-1", "--output", "json"]


def test_outputs_and_tags(plan):
    assert plan.outputs["cluster_name"] == "ml"
    assert plan.outputs["endpoint"].startswith("https://") and plan.outputs["endpoint"].endswith(".eks.amazonaws.com")
    assert plan.outputs["cluster_security_group_id"].startswith("sg-")
    assert plan.outputs["node_role_name"] == plan.outputs["node_role_arn"].split("/")[-1]
    component = one(plan, "mlplatform:compute:Cluster", "ml")
    for r in plan.resources:
        if r.type.startswith("aws:"):
            assert r.parent == component.urn
        if r.type.startswith("aws:") and r.type not in (
                "aws:kms/alias:Alias", "aws:iam/rolePolicyAttachment:RolePolicyAttachment",
                "aws:iam/rolePolicy:RolePolicy", "aws:eks/accessPolicyAssociation:AccessPolicyAssociation"):
            assert r.inputs["tags"]["mlplatform:managed-by"] == "mlplatform", r.name


def test_protect_can_be_turned_off():
    p = plan_of(program(protect=False))
    assert one(p, "aws:eks/cluster:Cluster").protect is False
    assert one(p, "aws:kms/key:Key").protect is False


# -- adopt -----------------------------------------------------------------------------------------
def test_adopt_creates_only_the_kubernetes_provider():
    def run():
        c = Cluster("ml", ClusterArgs(existing=ExistingCluster(name="prod-eks")))
        for attr in ("cluster_name", "endpoint", "oidc_provider_arn", "oidc_issuer_url", "cluster_security_group_id"):
            pulumi.export(attr, getattr(c, attr))
        pulumi.export("node_role_arn", c.node_role_arn)
        pulumi.export("kubeconfig", c.kubeconfig)
        pulumi.export("kubeconfig_plain", pulumi.Output.unsecret(c.kubeconfig))

    p = plan_of(run, region="eu-west-1")
    assert [r for r in p.resources if r.type.startswith("aws:")] == []
    assert [r.type for r in p.resources] == ["mlplatform:compute:Cluster", "pulumi:providers:kubernetes"]
    provider = one(p, "pulumi:providers:kubernetes", "ml-k8s")
    assert provider.inputs["kubeconfig"] == "[secret]"
    assert provider.inputs["clusterIdentifier"] == f"arn:aws:eks:eu-west-1:{ACCOUNT_ID}:cluster/prod-eks"
    out = p.outputs
    assert out["cluster_name"] == "prod-eks"
    host = out["oidc_issuer_url"].removeprefix("https://")
    assert host.startswith("oidc.eks.eu-west-1.amazonaws.com/id/")
    assert out["oidc_provider_arn"] == f"arn:aws:iam::{ACCOUNT_ID}:oidc-provider/{host}"
    assert out["cluster_security_group_id"].startswith("sg-")
    assert out["node_role_arn"] is None
    assert out["kubeconfig"] == "[secret]"
    exec_args = json.loads(out["kubeconfig_plain"])["users"][0]["user"]["exec"]["args"]
    assert exec_args[3] == "prod-eks" and exec_args[5] == "eu-west-1"


# -- validation ------------------------------------------------------------------------------------
def make(name="ml", **fields):
    base = {"vpc_id": "vpc-123", "private_subnet_ids": SUBNETS}
    base.update(fields)
    return plan_of(lambda: Cluster(name, ClusterArgs(**base)))


@pytest.mark.parametrize("fields, message", [
    ({"control_plane_logs": ["api", "kubelet"]},
     "control_plane_logs: unknown log type(s) 'kubelet'; use any of api, audit, authenticator, controllerManager, scheduler"),
    ({"public_access_cidrs": ["10.0.0.0/33"]},
     "public_access_cidrs: '10.0.0.0/33' is not an IPv4 CIDR block; write it like \"203.0.113.0/24\" (host bits zero)"),
    ({"public_access_cidrs": ["10.0.0.1/24"]}, "public_access_cidrs: '10.0.0.1/24' is not an IPv4 CIDR block"),
    ({"public_access_cidrs": []}, "public_access_cidrs: empty while the public endpoint is on"),
    ({"support_type": "standard"}, "support_type: 'standard' is not an EKS support type; use STANDARD"),
    # The system group's rules are SystemNodes' (components/args/cluster.py, the spec's cluster.system_nodes).
    ({"system_node_scaled_by": "karpenter"},
     "system_node_scaled_by: input should be 'stack' or 'cluster-autoscaler'; use one of 'stack' or 'cluster-autoscaler'"),
    ({"system_node_min": 4, "system_node_max": 3},
     "system_node_count: min (4) is greater than max (3) in system_nodes; raise max or lower min"),
    ({"system_node_count": 5, "system_node_max": 4}, "system_node_count: min (5) is greater than max (4) in system_nodes"),
    ({"system_node_count": 2, "system_node_min": 3, "system_node_max": 4},
     "system_node_count: count (2) must be between min (3) and max (4); make min <= count <= max"),
    ({"system_node_count": 0}, "system_node_count: input should be greater than or equal to 1; use a value >= 1"),
    ({"system_node_count": 2, "system_node_min": 0}, "system_node_min: input should be greater than or equal to 1"),
    ({"system_node_disk_gib": 10}, "system_node_disk_gib: input should be greater than or equal to 20; use a value >= 20"),
    ({"vpc_id": None}, "vpc_id: required when creating a cluster; pass the Network's vpc_id"),
    ({"private_subnet_ids": None}, "private_subnet_ids: required when creating a cluster"),
    ({"private_subnet_ids": ["subnet-a"]}, "private_subnet_ids: 1 subnet(s) given; EKS needs subnets in at least two"),
    ({"kubernetes_version": "v1.35"}, "kubernetes_version: 'v1.35' is not an EKS version"),
    ({"admin_principal_arns": ["arn:aws:iam::1234:role/admin"]},
     "admin_principal_arns: 'arn:aws:iam::1234:role/admin' is not an IAM role or user ARN; "
     "use arn:aws:iam::<12-digit account>:role/<name> (or :user/<name>)"),
    ({"admin_principal_arns": ["arn:aws:sts::123456789012:assumed-role/admin/me"]},
     "admin_principal_arns: 'arn:aws:sts::123456789012:assumed-role/admin/me' is not an IAM role or user ARN"),
    ({"admin_principal_arns": [ADMIN, ADMIN]}, f"admin_principal_arns: '{ADMIN}' is listed twice"),
])
def test_validation_errors(fields, message):
    with pytest.raises(ValidationError) as err:
        make(**fields)
    assert str(err.value).startswith(message)


def test_validation_of_name_and_adopt_fields():
    with pytest.raises(ValidationError, match=r"^name: 'ml platform' is not usable as an EKS cluster name"):
        make(name="ml platform")
    with pytest.raises(ValidationError, match=r"^existing.name: 'bad name' is not an EKS cluster name"):
        plan_of(lambda: Cluster("ml", ClusterArgs(existing=ExistingCluster(name="bad name"))))
    with pytest.raises(ValidationError, match=r"^admin_principal_arns: access entries are not managed"):
        plan_of(lambda: Cluster("ml", ClusterArgs(existing=ExistingCluster(name="prod"), admin_principal_arns=[ADMIN])))


def test_validation_happens_before_any_resource():
    errors = []

    def run():
        try:
            Cluster("ml", ClusterArgs(vpc_id="vpc-1", private_subnet_ids=SUBNETS, control_plane_logs=["nope"]))
        except ValidationError as e:
            errors.append(e)

    plan = plan_of(run)
    assert [e.field for e in errors] == ["control_plane_logs"]
    assert plan.resources == []


def test_vpc_cni_enforces_network_policies():
    from mlplatform.stacks.program import plan
    from mlplatform.stacks.config.spec import load_spec

    p = plan(load_spec("pragmatic"))
    cni = one(p, "aws:eks/addon:Addon", "ml-dev-vpc-cni")
    assert json.loads(cni.inputs["configurationValues"]) == {"enableNetworkPolicy": "true"}
    assert "configurationValues" not in one(p, "aws:eks/addon:Addon", "ml-dev-coredns").inputs
