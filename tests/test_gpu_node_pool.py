"""GpuNodePool under the Pulumi mock monitor: node groups + cluster-autoscaler, Karpenter, adopted nodes.

What is asserted, per mechanism: the taint and labels GPU nodes get, the tags cluster-autoscaler needs
to scale from zero, the GPU limits, the IAM statements of every role, that only GPU workloads tolerate
the taint, every Helm value is a key of the pinned chart, every Kubernetes object validates
(kubernetes-validate for core objects, a schema of the Karpenter v1 fields used for the CRs), and each
validation error's message. Plus the stack wiring (plan --json) and examples/gpu-job.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pulumi
import pytest
import yaml
from click.testing import CliRunner

import chartcheck
from conftest import assert_valid_k8s, helm_values, k8s_objects, one, plan_of
from mlplatform.components import versions
from mlplatform.components._common import (
    AUTOSCALED_TAG,
    GPU_LABEL,
    GPU_NODE_AFFINITY,
    GPU_TAINT,
    GPU_TOLERATION,
    POOL_LABEL,
    SYSTEM_NODE_SELECTOR,
    ValidationError,
)
from mlplatform.components.gpu_instances import GPU_INSTANCE_TYPES, REGION_GPU_OFFERINGS
from mlplatform.components.gpu_node_pool import (
    ACCELERATOR_LABEL,
    CPU_BATCH_TAINT,
    CPU_BATCH_TOLERATION,
    ExistingGpuNodes,
    GpuNodePool,
    GpuNodePoolArgs,
    GpuPool,
)
from mlplatform.stacks.plan.mocks import ACCOUNT_ID

ROOT = Path(__file__).resolve().parents[1]
OIDC_HOST = "oidc.eks.us-east-1.amazonaws.com/id/ABC123"
OIDC_ARN = f"arn:aws:iam::{ACCOUNT_ID}:oidc-provider/{OIDC_HOST}"
CA = "k8s.io/cluster-autoscaler"
NODE_GROUP = "aws:eks/nodeGroup:NodeGroup"
NODE_POOL = "kubernetes:karpenter.sh/v1:NodePool"
NODE_CLASS = "kubernetes:karpenter.k8s.aws/v1:EC2NodeClass"
ROLE = "aws:iam/role:Role"
ROLE_POLICY = "aws:iam/rolePolicy:RolePolicy"


def make(name: str = "ml", **fields):
    base = dict(cluster_name="ml", oidc_provider_arn=OIDC_ARN, oidc_issuer_url=f"https://{OIDC_HOST}",
                subnet_ids=["subnet-a", "subnet-b"], cluster_security_group_id="sg-0123abcd")
    base.update(fields)
    return GpuNodePool(name, GpuNodePoolArgs(**base))


def program(**fields):
    def run():
        pool = make(**fields)
        for attr in ("node_role_arn", "controller_role_arn", "node_group_names", "interruption_queue_url"):
            pulumi.export(attr, getattr(pool, attr))
    return run


@pytest.fixture(scope="module")
def managed():
    return plan_of(program(mechanism="managed", pools=[GpuPool("gpu")]))


MULTI = GpuPool("gpu-multi", ["g6e.12xlarge", "p4d.24xlarge"], max=2, gpu_limit=16, capacity="on-demand", disk_gib=500)


@pytest.fixture(scope="module")
def karpenter():
    return plan_of(program(mechanism="karpenter", cpu_batch_pool=True, pools=[
        GpuPool("gpu-1x", ["g6.xlarge", "g5.xlarge"], max=4), MULTI]))


@pytest.fixture(scope="module")
def adopted():
    return plan_of(program(existing=ExistingGpuNodes(node_names=["ip-10-0-1-17.ec2.internal", "gpu-box-2"])))


def policy_of(plan, name):
    return json.loads(one(plan, ROLE_POLICY, name).inputs["policy"])["Statement"]


def trust_of(plan, name):
    return json.loads(one(plan, ROLE, name).inputs["assumeRolePolicy"])["Statement"]


def tolerates(toleration: dict, taint: dict) -> bool:
    """Kubernetes' rule: does this toleration tolerate this taint?"""
    if toleration.get("effect") not in (None, "", taint["effect"]):
        return False
    if toleration.get("operator", "Equal") == "Exists":
        return toleration.get("key") in (None, "", taint["key"])
    return toleration.get("key") == taint["key"] and toleration.get("value") == taint.get("value")


def tolerations_in(node) -> list[dict]:
    """Every toleration anywhere in a values tree (any `tolerations` list)."""
    found = []
    if isinstance(node, dict):
        for k, v in node.items():
            if k == "tolerations" and isinstance(v, list):
                found += v
            found += tolerations_in(v)
    elif isinstance(node, list):
        for item in node:
            found += tolerations_in(item)
    return found


# -- managed node groups -----------------------------------------------------------------------------
def test_managed_groups_start_at_zero_with_the_taint_and_labels(managed):
    groups = {g.inputs["capacityType"]: g for g in managed.of_type(NODE_GROUP)}
    assert set(groups) == {"SPOT", "ON_DEMAND"}  # spot first, on-demand fallback: two groups
    # max 2 is the pool's total: the spot group and the on-demand fallback share it.
    assert groups["SPOT"].inputs["scalingConfig"] == {"minSize": 0, "desiredSize": 0, "maxSize": 1}
    assert groups["ON_DEMAND"].inputs["scalingConfig"] == {"minSize": 0, "desiredSize": 0, "maxSize": 1}
    for g in groups.values():
        assert g.inputs["amiType"] == versions.AMI_TYPE_GPU == "AL2023_x86_64_NVIDIA"
        assert g.inputs["instanceTypes"] == ["g6.xlarge", "g5.xlarge"]
        assert g.inputs["taints"] == [{"key": "nvidia.com/gpu", "value": "true", "effect": "NO_SCHEDULE"}]
        assert g.inputs["labels"] == {POOL_LABEL: "gpu", GPU_LABEL: "true", ACCELERATOR_LABEL: "nvidia-a10g.nvidia-l4"}
        assert g.inputs["subnetIds"] == ["subnet-a", "subnet-b"]
        assert "remoteAccess" not in g.inputs  # no SSH
    names = managed.outputs["node_group_names"]
    assert len(names) == 2 and all(re.match(r"^ml-gpu-(spot|ondemand)-[0-9a-f]{7}$", n) for n in names)


def test_managed_launch_template_requires_imdsv2_and_encrypts_gp3_root(managed):
    lt = one(managed, "aws:ec2/launchTemplate:LaunchTemplate")
    assert lt.inputs["metadataOptions"] == {"httpEndpoint": "enabled", "httpTokens": "required",
                                            "httpPutResponseHopLimit": 1}
    ebs = lt.inputs["blockDeviceMappings"][0]["ebs"]
    assert ebs == {"volumeSize": 200, "volumeType": "gp3", "encrypted": "true", "deleteOnTermination": "true"}
    assert "keyName" not in lt.inputs and "imageId" not in lt.inputs
    for g in managed.of_type(NODE_GROUP):
        assert g.inputs["launchTemplate"]["id"].startswith("lt-")


def test_asg_tags_let_cluster_autoscaler_scale_from_zero(managed):
    tags = managed.of_type("aws:autoscaling/tag:Tag")
    assert all(t.inputs["tag"]["propagateAtLaunch"] is False for t in tags)
    for group, capacity in (("spot", "SPOT"), ("ondemand", "ON_DEMAND")):
        ng = next(n for n in managed.outputs["node_group_names"] if f"-{group}-" in n)
        on_asg = {t.inputs["tag"]["key"]: t.inputs["tag"]["value"] for t in tags
                  if t.inputs["autoscalingGroupName"].startswith(f"eks-{ng}-")}  # EKS names the ASG eks-<group>-<uuid>
        assert on_asg == {
            f"{CA}/enabled": "true",
            f"{CA}/ml": "owned",
            f"{CA}/node-template/label/{POOL_LABEL}": "gpu",
            f"{CA}/node-template/label/{GPU_LABEL}": "true",
            f"{CA}/node-template/label/{ACCELERATOR_LABEL}": "nvidia-a10g.nvidia-l4",
            f"{CA}/node-template/label/eks.amazonaws.com/capacityType": capacity,
            f"{CA}/node-template/taint/nvidia.com/gpu": "true:NoSchedule",
            f"{CA}/node-template/resources/nvidia.com/gpu": "1",
            AUTOSCALED_TAG: "enabled",  # the key cluster-autoscaler's discovery asks for besides EKS's own
        }


def test_cluster_autoscaler_iam_is_least_privilege(managed):
    statements = policy_of(managed, "ml-cluster-autoscaler")
    for s in statements:
        actions = s["Action"] if isinstance(s["Action"], list) else [s["Action"]]
        assert "*" not in actions and all(not a.endswith(":*") for a in actions)
        if s["Resource"] == "*":  # only reads on *
            assert all(a.split(":")[1].startswith(("Describe", "Get")) for a in actions), s
    scale = next(s for s in statements if "autoscaling:SetDesiredCapacity" in s["Action"])
    assert sorted(scale["Action"]) == ["autoscaling:SetDesiredCapacity", "autoscaling:TerminateInstanceInAutoScalingGroup"]
    # EKS puts the two k8s.io tags on EVERY managed group's ASG (the system group's too): the scaling
    # permission also needs mlplatform's key, which only autoscaled groups carry.
    assert scale["Condition"] == {"StringEquals": {f"aws:ResourceTag/{CA}/ml": "owned", f"aws:ResourceTag/{CA}/enabled": "true",
                                                   f"aws:ResourceTag/{AUTOSCALED_TAG}": "enabled"}}
    assert scale["Resource"] == f"arn:aws:autoscaling:us-east-1:{ACCOUNT_ID}:autoScalingGroup:*:autoScalingGroupName/*"
    describe_ng = next(s for s in statements if s["Action"] == "eks:DescribeNodegroup")
    assert describe_ng["Resource"] == f"arn:aws:eks:us-east-1:{ACCOUNT_ID}:nodegroup/ml/*/*"
    trust = trust_of(managed, "ml-cluster-autoscaler")
    assert trust[0]["Principal"] == {"Federated": OIDC_ARN}
    assert trust[0]["Condition"]["StringEquals"] == {f"{OIDC_HOST}:sub": "system:serviceaccount:kube-system:cluster-autoscaler",
                                                     f"{OIDC_HOST}:aud": "sts.amazonaws.com"}


def test_cluster_autoscaler_values(managed):
    [values] = helm_values(managed, "cluster-autoscaler")
    report = chartcheck.check_values("cluster-autoscaler", values)
    assert report.unknown == []
    # Discovery ANDs the tags: a group without mlplatform's key (the system group by default) is invisible.
    assert values["autoDiscovery"] == {"clusterName": "ml", "tags": [f"{CA}/enabled", f"{CA}/ml", AUTOSCALED_TAG]}
    assert values["awsRegion"] == "us-east-1"
    # The chart sets no security context; ours runs it as non-root with nothing to escalate.
    assert values["securityContext"]["runAsNonRoot"] is True and values["securityContext"]["runAsUser"] != 0
    assert values["containerSecurityContext"] == {"allowPrivilegeEscalation": False, "readOnlyRootFilesystem": True,
                                                  "capabilities": {"drop": ["ALL"]}}
    assert values["nodeSelector"] == SYSTEM_NODE_SELECTOR
    sa = values["rbac"]["serviceAccount"]
    assert sa["name"] == "cluster-autoscaler"
    assert sa["annotations"]["eks.amazonaws.com/role-arn"] == managed.outputs["controller_role_arn"]
    args = values["extraArgs"]
    assert args["expander"].split(",")[0] == "priority"
    assert args["scale-down-unneeded-time"] == "5m" and args["skip-nodes-with-system-pods"] is False
    # The priority expander's patterns really match the ASGs: spot groups first, on-demand next.
    asgs = {t.inputs["autoscalingGroupName"] for t in managed.of_type("aws:autoscaling/tag:Tag")}
    prio = values["expanderPriorities"]

    def priority(asg):
        return max(int(p) for p, patterns in prio.items() if any(re.search(x, asg) for x in patterns))

    spot = next(a for a in asgs if "-gpu-spot-" in a)
    ondemand = next(a for a in asgs if "-gpu-ondemand-" in a)
    assert priority(spot) > priority(ondemand) > priority("eks-ml-dev-system-1234")


def test_gpu_limit_caps_the_pools_nodes():
    plan = plan_of(program(pools=[GpuPool("big", ["g6.12xlarge", "g5.12xlarge"], max=4, gpu_limit=8)]))
    # 8 GPUs / 4 per node = 2 nodes (fewer than max 4), shared by the spot and on-demand groups.
    assert sum(g.inputs["scalingConfig"]["maxSize"] for g in plan.of_type(NODE_GROUP)) == 2
    tag = {t.inputs["tag"]["key"]: t.inputs["tag"]["value"] for t in plan.of_type("aws:autoscaling/tag:Tag")}
    assert tag[f"{CA}/node-template/resources/nvidia.com/gpu"] == "4"


def test_capacity_choices_and_warm_nodes():
    plan = plan_of(program(pools=[GpuPool("od", capacity="on-demand", min=1, max=3),
                                  GpuPool("sp", ["g4dn.xlarge"], capacity="spot"),
                                  GpuPool("warm", min=1)]))
    by_name = {g.name: g.inputs for g in plan.of_type(NODE_GROUP)}
    assert set(by_name) == {"ml-od-ondemand", "ml-sp-spot", "ml-warm-spot", "ml-warm-ondemand"}
    assert by_name["ml-od-ondemand"]["scalingConfig"] == {"minSize": 1, "desiredSize": 1, "maxSize": 3}
    assert by_name["ml-sp-spot"]["capacityType"] == "SPOT"
    assert by_name["ml-sp-spot"]["labels"][ACCELERATOR_LABEL] == "nvidia-tesla-t4"
    # Warm nodes live in the first-choice (spot) group; the fallback starts at zero.
    assert by_name["ml-warm-spot"]["scalingConfig"]["minSize"] == 1
    assert by_name["ml-warm-ondemand"]["scalingConfig"]["minSize"] == 0
    assert len(plan.of_type("kubernetes:helm.sh/v3:Release")) == 2  # one autoscaler + device plugin for 3 pools


# -- Karpenter -------------------------------------------------------------------------------------
def node_pool(plan, name):
    return next(r.inputs for r in plan.of_type(NODE_POOL) if r.inputs["metadata"]["name"] == name)


def requirement(spec, key):
    [req] = [r for r in spec["template"]["spec"]["requirements"] if r["key"] == key]
    return req["operator"], req["values"]


def test_karpenter_gpu_node_pools_taint_labels_requirements_limits(karpenter):
    one_x = node_pool(karpenter, "gpu-1x")["spec"]
    assert one_x["template"]["spec"]["taints"] == [GPU_TAINT]
    assert one_x["template"]["metadata"]["labels"] == {POOL_LABEL: "gpu-1x", GPU_LABEL: "true",
                                                       ACCELERATOR_LABEL: "nvidia-a10g.nvidia-l4"}
    assert requirement(one_x, "karpenter.k8s.aws/instance-family") == ("In", ["g5", "g6"])
    assert requirement(one_x, "node.kubernetes.io/instance-type") == ("In", ["g6.xlarge", "g5.xlarge"])
    assert requirement(one_x, "karpenter.k8s.aws/instance-gpu-count") == ("In", ["1"])
    assert requirement(one_x, "karpenter.sh/capacity-type") == ("In", ["spot", "on-demand"])
    assert one_x["limits"] == {"nvidia.com/gpu": "4"}  # max 4 nodes x 1 GPU
    assert one_x["disruption"] == {"consolidationPolicy": "WhenEmpty", "consolidateAfter": "5m", "budgets": [{"nodes": "10%"}]}
    assert one_x["template"]["spec"]["expireAfter"] == "720h"

    multi = node_pool(karpenter, "gpu-multi")["spec"]
    assert multi["template"]["spec"]["taints"] == [GPU_TAINT]
    assert requirement(multi, "karpenter.k8s.aws/instance-gpu-count") == ("In", ["4", "8"])
    assert requirement(multi, "karpenter.sh/capacity-type") == ("In", ["on-demand"])
    assert multi["limits"] == {"nvidia.com/gpu": "16"}  # its own limit


def test_cpu_batch_pool_is_not_a_gpu_pool(karpenter):
    batch = node_pool(karpenter, "cpu-batch")["spec"]
    assert batch["template"]["spec"]["taints"] == [CPU_BATCH_TAINT]
    assert batch["template"]["metadata"]["labels"] == {POOL_LABEL: "cpu-batch"}
    assert batch["limits"] == {"cpu": "64"}
    assert requirement(batch, "karpenter.k8s.aws/instance-category") == ("In", ["c", "m", "r"])
    assert batch["disruption"]["consolidationPolicy"] == "WhenEmpty"
    assert tolerates(CPU_BATCH_TOLERATION, CPU_BATCH_TAINT) and not tolerates(CPU_BATCH_TOLERATION, GPU_TAINT)


def test_karpenter_custom_resources_match_the_v1_crd_fields(karpenter):
    objects = k8s_objects(karpenter)
    pools = [o for o in objects if o["kind"] == "NodePool"]
    classes = [o for o in objects if o["kind"] == "EC2NodeClass"]
    assert len(pools) == len(classes) == 3
    for o in pools + classes:  # the real karpenter.sh / karpenter.k8s.aws CRDs of the pinned chart
        assert chartcheck.custom_resource_errors(o) == [], o["metadata"]["name"]
    # Every NodePool points at an EC2NodeClass the component creates.
    class_names = {c["metadata"]["name"] for c in classes}
    for o in pools:
        ref = o["spec"]["template"]["spec"]["nodeClassRef"]
        assert ref["group"] == "karpenter.k8s.aws" and ref["kind"] == "EC2NodeClass" and ref["name"] in class_names
    # The schema is not a rubber stamp.
    broken = json.loads(json.dumps(pools[0]))
    broken["spec"]["template"]["spec"]["nodeClassRef"].pop("group")
    broken["spec"]["template"]["spec"]["expireAftr"] = "720h"
    assert chartcheck.custom_resource_errors(broken) == [
        "spec.template.spec: unknown field 'expireAftr' (did you mean 'expireAfter'?); it takes expireAfter, "
        "nodeClassRef, requirements, startupTaints, taints, terminationGracePeriod",
        "spec.template.spec.nodeClassRef: 'group' is a required property",
    ]


def test_ec2_node_classes_are_locked_down(karpenter):
    sizes = {}
    for r in karpenter.of_type(NODE_CLASS):
        spec = r.inputs["spec"]
        assert spec["metadataOptions"] == {"httpEndpoint": "enabled", "httpProtocolIPv6": "disabled",
                                           "httpPutResponseHopLimit": 1, "httpTokens": "required"}
        [bdm] = spec["blockDeviceMappings"]
        assert bdm["ebs"]["volumeType"] == "gp3" and bdm["ebs"]["encrypted"] is True
        sizes[r.inputs["metadata"]["name"]] = bdm["ebs"]["volumeSize"]
        assert re.match(r"^ml-gpu-node-[0-9a-f]{7}$", spec["instanceProfile"])
        # The node-class finalizer reads the legacy <cluster>_<hash> profile too: every profile, like upstream.
        read_profile = next(s for s in policy_of(karpenter, "ml-karpenter") if s["Sid"] == "AllowInstanceProfileReadActions")
        assert read_profile["Resource"] == f"arn:aws:iam::{ACCOUNT_ID}:instance-profile/*"
        assert spec["amiSelectorTerms"] == [{"alias": "al2023@latest"}]  # Karpenter picks the NVIDIA variant for GPUs
        assert spec["subnetSelectorTerms"] == [{"id": "subnet-a"}, {"id": "subnet-b"}]
        assert spec["securityGroupSelectorTerms"] == [{"id": "sg-0123abcd"}]
        assert spec["tags"]["mlplatform:managed-by"] == "mlplatform"
    assert sizes == {"gpu-1x": "200Gi", "gpu-multi": "500Gi", "cpu-batch": "100Gi"}


def test_karpenter_node_role_instance_profile_and_access_entry(karpenter):
    # Its own role, not the managed node groups' one: EKS made an access entry for that role, and a
    # principal can be in one access entry only (pragmatic -> growth would fail to create this one).
    assert trust_of(karpenter, "ml-karpenter-node")[0]["Principal"] == {"Service": "ec2.amazonaws.com"}
    role = one(karpenter, ROLE, "ml-karpenter-node")
    assert not [r for r in karpenter.of_type(ROLE) if r.name == "ml-gpu-node"]
    attached = {r.inputs["policyArn"] for r in karpenter.of_type("aws:iam/rolePolicyAttachment:RolePolicyAttachment")}
    assert attached == {"arn:aws:iam::aws:policy/AmazonEKSWorkerNodePolicy",
                        "arn:aws:iam::aws:policy/AmazonEC2ContainerRegistryPullOnly"}
    entry = one(karpenter, "aws:eks/accessEntry:AccessEntry")
    assert entry.inputs["type"] == "EC2_LINUX" and entry.inputs["clusterName"] == "ml"
    assert entry.inputs["principalArn"] == karpenter.outputs["node_role_arn"]
    assert role.urn in one(karpenter, "aws:iam/instanceProfile:InstanceProfile").depends_on


def test_karpenter_controller_iam(karpenter):
    statements = {s["Sid"]: s for s in policy_of(karpenter, "ml-karpenter")}
    for s in statements.values():
        actions = s["Action"] if isinstance(s["Action"], list) else [s["Action"]]
        assert "*" not in actions and all(not a.endswith(":*") for a in actions)
        if s["Resource"] == "*":
            assert all(a.split(":")[1].startswith(("Describe", "Get", "List")) for a in actions), s
    # The node-class finalizer lists and reads instance profiles; AccessDenied would keep it forever.
    assert statements["AllowUnscopedInstanceProfileListAction"]["Action"] == "iam:ListInstanceProfiles"
    assert statements["AllowInstanceProfileReadActions"]["Action"] == "iam:GetInstanceProfile"
    assert "ec2:DescribeInstanceStatus" in statements["AllowRegionalReadActions"]["Action"]  # node health checks
    launch = statements["AllowScopedEC2InstanceActionsWithTags"]["Condition"]
    assert launch["StringEquals"] == {"aws:RequestTag/kubernetes.io/cluster/ml": "owned",
                                      "aws:RequestTag/eks:eks-cluster-name": "ml"}
    delete = statements["AllowScopedDeletion"]
    assert sorted(delete["Action"]) == ["ec2:DeleteLaunchTemplate", "ec2:TerminateInstances"]
    assert delete["Condition"]["StringEquals"] == {"aws:ResourceTag/kubernetes.io/cluster/ml": "owned"}
    pass_role = statements["AllowPassingInstanceRole"]
    assert pass_role["Resource"] == karpenter.outputs["node_role_arn"]
    assert pass_role["Condition"] == {"StringEquals": {"iam:PassedToService": "ec2.amazonaws.com"}}
    queue_arn = one(karpenter, "aws:cloudwatch/eventTarget:EventTarget", "ml-karpenter-rebalance").inputs["arn"]
    assert statements["AllowInterruptionQueueActions"]["Resource"] == queue_arn
    assert sorted(statements["AllowInterruptionQueueActions"]["Action"]) == [
        "sqs:DeleteMessage", "sqs:GetQueueUrl", "sqs:ReceiveMessage"]
    assert statements["AllowRegionalReadActions"]["Condition"] == {"StringEquals": {"aws:RequestedRegion": "us-east-1"}}
    assert not [s for s in statements.values() if "iam:CreateInstanceProfile" in json.dumps(s)]  # we own the profile
    trust = trust_of(karpenter, "ml-karpenter")
    assert trust[0]["Condition"]["StringEquals"][f"{OIDC_HOST}:sub"] == "system:serviceaccount:kube-system:karpenter"


def test_interruption_queue_fed_only_by_our_event_rules(karpenter):
    queue = one(karpenter, "aws:sqs/queue:Queue")
    assert queue.inputs["sqsManagedSseEnabled"] is True and queue.inputs["messageRetentionSeconds"] == 300
    rules = karpenter.of_type("aws:cloudwatch/eventRule:EventRule")
    patterns = sorted(json.loads(r.inputs["eventPattern"])["detail-type"][0] for r in rules)
    assert patterns == ["AWS Health Event", "EC2 Capacity Reservation Instance Interruption Warning",
                        "EC2 Instance Rebalance Recommendation", "EC2 Instance State-change Notification",
                        "EC2 Spot Instance Interruption Warning"]
    targets = karpenter.of_type("aws:cloudwatch/eventTarget:EventTarget")
    assert len(targets) == 5 and len({t.inputs["arn"] for t in targets}) == 1
    queue_arn = targets[0].inputs["arn"]
    policy = json.loads(one(karpenter, "aws:sqs/queuePolicy:QueuePolicy").inputs["policy"])["Statement"]
    allow, deny = policy
    assert allow["Principal"] == {"Service": "events.amazonaws.com"} and allow["Resource"] == queue_arn
    sources = allow["Condition"]["ArnEquals"]["aws:SourceArn"]
    rule_arn = re.compile(rf"^arn:aws:events:us-east-1:{ACCOUNT_ID}:rule/(ml-karpenter-[a-z-]+)-[0-9a-f]{{7}}$")
    assert sorted(rule_arn.match(a).group(1) for a in sources) == sorted(r.name for r in rules)
    assert deny["Effect"] == "Deny" and deny["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}


def test_karpenter_values(karpenter):
    [values] = helm_values(karpenter, "karpenter")
    # The chart's nodeSelector defaults to {kubernetes.io/os: linux}, a free-form label map.
    report = chartcheck.check_values("karpenter", values, free_form=("nodeSelector",))
    assert report.unknown == []
    assert values["settings"]["clusterName"] == "ml"
    assert karpenter.outputs["interruption_queue_url"].endswith("/" + values["settings"]["interruptionQueue"])
    assert values["serviceAccount"]["name"] == "karpenter"
    assert values["serviceAccount"]["annotations"]["eks.amazonaws.com/role-arn"] == karpenter.outputs["controller_role_arn"]
    assert values["nodeSelector"] == {"kubernetes.io/os": "linux", **SYSTEM_NODE_SELECTOR}
    release = one(karpenter, "kubernetes:helm.sh/v3:Release", "ml-karpenter")
    assert release.inputs["version"] == versions.HELM_CHARTS["karpenter"][0]
    for cr in karpenter.of_type(NODE_POOL) + karpenter.of_type(NODE_CLASS):
        assert release.urn in cr.depends_on  # the chart installs the CRDs first


# -- tolerations: only GPU workloads ---------------------------------------------------------------
def test_device_plugin_runs_only_on_gpu_nodes(managed, karpenter, adopted):
    for plan in (managed, karpenter, adopted):
        [values] = helm_values(plan, "nvidia-device-plugin")
        assert chartcheck.check_values("nvidia-device-plugin", values).unknown == []
        assert values["tolerations"] == [GPU_TOLERATION] and tolerates(GPU_TOLERATION, GPU_TAINT)
        assert values["affinity"] == GPU_NODE_AFFINITY
        release = one(plan, "kubernetes:helm.sh/v3:Release", "ml-nvidia-device-plugin")
        assert release.inputs["version"] == versions.HELM_CHARTS["nvidia-device-plugin"][0]


def test_nothing_but_gpu_workloads_tolerates_the_gpu_taint(managed, karpenter):
    for plan in (managed, karpenter):
        for r in plan.of_type("kubernetes:helm.sh/v3:Release"):
            gpu_tolerations = [t for t in tolerations_in(r.inputs["values"]) if tolerates(t, GPU_TAINT)]
            if r.name == "ml-nvidia-device-plugin":
                assert gpu_tolerations == [GPU_TOLERATION]
            else:
                assert gpu_tolerations == [], r.name
                # Where we leave the chart's own default tolerations, those must not tolerate it either.
                chart = r.inputs["chart"].rsplit("/", 1)[-1]
                effective = r.inputs["values"].get("tolerations", chartcheck.chart_values(chart).get("tolerations") or [])
                assert not [t for t in effective if tolerates(t, GPU_TAINT)], r.name


# -- adopted nodes --------------------------------------------------------------------------------
def test_adopting_nodes_only_labels_taints_and_installs_the_device_plugin(adopted):
    custom = [r for r in adopted.resources if r.custom]
    assert {r.type for r in custom} == {"kubernetes:core/v1:NodePatch", "kubernetes:helm.sh/v3:Release"}
    patches = adopted.of_type("kubernetes:core/v1:NodePatch")
    assert sorted(p.inputs["metadata"]["name"] for p in patches) == ["gpu-box-2", "ip-10-0-1-17.ec2.internal"]
    for manifest in k8s_objects(adopted):
        assert_valid_k8s(manifest)
        assert manifest["kind"] == "Node"
        assert manifest["metadata"]["labels"] == {POOL_LABEL: "gpu", GPU_LABEL: "true"}
        assert manifest["spec"]["taints"] == [GPU_TAINT]
    assert adopted.outputs["node_role_arn"] is None and adopted.outputs["node_group_names"] == []


# -- validation ------------------------------------------------------------------------------------
@pytest.mark.parametrize("fields, message", [
    ({"pools": [GpuPool("gpu", ["m5.large"])]},
     "pools[gpu].instance_types: m5.large is not an NVIDIA GPU instance type; use GPU types such as g6.xlarge"),
    ({"pools": [GpuPool("gpu", ["g4ad.xlarge"])]}, "pools[gpu].instance_types: g4ad.xlarge has AMD GPUs"),
    ({"pools": [GpuPool("gpu", ["g6.3xlarge"])]},
     "pools[gpu].instance_types: g6.3xlarge is not a g6 size; g6 comes as g6.12xlarge, g6.16xlarge"),
    ({"pools": [GpuPool("gpu", ["g6xlarge"])]},
     "pools[gpu].instance_types: 'g6xlarge' is not an EC2 instance type name; write it like \"g6.xlarge\""),
    ({"pools": [GpuPool("gpu", ["g5.xlarge", "g6.xlarge"])], "region": "eu-west-1"},
     "pools[gpu].instance_types: g6.xlarge is not offered in eu-west-1; use a type offered there (g4dn.xlarge, "
     "g5.2xlarge, g5.xlarge, g5.12xlarge, p4d.24xlarge, ...) or another region"),
    ({"pools": [GpuPool("multi", ["g6e.12xlarge"], gpu_limit=2)], "mechanism": "karpenter"},
     "pools[multi].gpu_limit: 2 is fewer GPUs than one node has (4); use at least 4"),
    ({"pools": [GpuPool("gpu", min=2, max=4, gpu_limit=1)]},
     "pools[gpu].gpu_limit: 1 GPUs fit fewer nodes than min 2; use at least 2, or lower min"),
    ({"pools": [GpuPool("gpu", ["g6.xlarge", "g6.12xlarge"])]},
     "pools[gpu].instance_types: mixes 1/4 GPUs per node; a managed node group needs one GPU count"),
    ({"pools": [GpuPool("gpu", min=1)], "mechanism": "karpenter"},
     "pools[gpu].min: 1: Karpenter keeps no idle nodes; use min 0, or mechanism managed for warm nodes"),
    ({"pools": [GpuPool("gpu")], "cpu_batch_pool": True}, "cpu_batch_pool: needs mechanism karpenter"),
    ({"pools": []}, "pools: empty; add a GpuPool, or set existing=ExistingGpuNodes(...) to adopt nodes"),
    ({"pools": [GpuPool("gpu")], "mechanism": "karpenter", "cluster_security_group_id": None},
     "cluster_security_group_id: required for mechanism karpenter"),
    ({"pools": [GpuPool("gpu")], "existing": ExistingGpuNodes(["node-1"])},
     "existing: cannot be combined with pools or cpu_batch_pool"),
])
def test_validation_errors(fields, message):
    with pytest.raises(ValidationError) as err:
        plan_of(lambda: make(**fields))
    assert str(err.value).startswith(message)


# The pool's and the Args' own bounds (components/args/gpu_node_pool.py, the same models the stack
# spec's gpu section uses) refuse a value as the model is built, before any component exists.
@pytest.mark.parametrize("build, message", [
    (lambda: GpuPool("gpu", max=1, min=2), "GpuPool: min (2) is greater than max (1) in gpu pool gpu; raise max or lower min"),
    (lambda: GpuPool("gpu", max=0), "max: input should be greater than or equal to 1; use a value >= 1"),
    (lambda: GpuPool("gpu", gpu_limit=0), "gpu_limit: input should be greater than or equal to 1; use a value >= 1"),
    (lambda: GpuPool("gpu", [None]), "instance_types.0: input should be a valid string; give a text value"),
    (lambda: GpuPool("system"), "name: 'system' is reserved"),
    (lambda: GpuPool("GPU"), "name: 'GPU' is not a pool name"),
    (lambda: GpuPool("gpu", ["g6.xlarge", "g6.xlarge"]), "instance_types: lists a type twice"),
    (lambda: make(pools=[GpuPool("gpu"), GpuPool("gpu")]), "pools: pool name(s) gpu repeat"),
    (lambda: GpuPool("gpu", capacity="cheap"), "capacity: input should be 'spot-first', 'spot' or 'on-demand'"),
    (lambda: GpuPool("gpu", disk_gib=20), "disk_gib: input should be greater than or equal to 50; use a value >= 50"),
    (lambda: make(pools=[GpuPool("gpu")], mechanism="fargate"), "mechanism: input should be 'managed' or 'karpenter'"),
    (lambda: make(pools=[GpuPool("gpu")], idle_minutes=0), "idle_minutes: input should be greater than or equal to 1"),
    (lambda: ExistingGpuNodes(["Node_1"]), "node_names: 'Node_1' is not a Kubernetes node name"),
    (lambda: ExistingGpuNodes([]), "node_names: list should have at least 1 item after validation"),
])
def test_model_bounds_refuse_as_the_args_are_built(build, message):
    with pytest.raises(ValidationError) as err:
        plan_of(build)
    assert str(err.value).startswith(message) and "\n" not in str(err.value)


def test_validation_happens_before_any_resource():
    errors = []

    def run():
        try:
            make(pools=[GpuPool("ok"), GpuPool("bad", ["m5.large"])])
        except ValidationError as e:
            errors.append(e)

    plan = plan_of(run)
    assert [e.field for e in errors] == ["pools[bad].instance_types"]
    assert plan.resources == []


def test_region_comes_from_aws_config_when_not_given():
    with pytest.raises(ValidationError, match=r"^pools\[gpu\].instance_types: g6.xlarge is not offered in eu-west-1"):
        plan_of(lambda: make(pools=[GpuPool("gpu")]), region="eu-west-1")
    assert plan_of(lambda: make(pools=[GpuPool("gpu", ["g6.xlarge"])]), region="us-east-2").of_type(NODE_GROUP)


def test_gpu_tables_agree_with_the_price_snapshot():
    from mlplatform.stacks.analyses.cost import load_prices  # the repository's price files, derived from the snapshot

    families = {t.split(".")[0] for t in GPU_INSTANCE_TYPES}
    for region, offered in REGION_GPU_OFFERINGS.items():
        prices = load_prices(region).data["prices"]
        ec2 = {**prices["ec2"], **(prices.get("ec2_all") or {})}
        priced = {t for t, p in ec2.items() if p is not None and t.split(".")[0] in families}
        assert offered == priced, region
        assert offered <= set(GPU_INSTANCE_TYPES)


# -- the stack ---------------------------------------------------------------------------------------
def cli_plan(*args):
    from mlplatform.cli.main import cli

    res = CliRunner().invoke(cli, ["plan", "--json", *args], catch_exceptions=False)
    return res.exit_code, res.stdout, res.stderr


def test_pragmatic_plan_json_has_a_gpu_node_group_from_zero_with_the_taint():
    code, out, _ = cli_plan("--profile", "pragmatic")
    assert code == 0
    groups = [r for r in json.loads(out)["resources"] if r["type"] == NODE_GROUP
              and r["inputs"].get("amiType") == versions.AMI_TYPE_GPU]
    assert len(groups) == 2
    for g in groups:
        assert g["inputs"]["scalingConfig"]["minSize"] == 0
        assert {"key": "nvidia.com/gpu", "value": "true", "effect": "NO_SCHEDULE"} in g["inputs"]["taints"]
        assert g["inputs"]["instanceTypes"] == ["g6.xlarge", "g5.xlarge"]
    releases = {r["inputs"]["chart"] for r in json.loads(out)["resources"] if r["type"] == "kubernetes:helm.sh/v3:Release"}
    assert {"cluster-autoscaler", "nvidia-device-plugin"} <= releases


def test_growth_plan_json_has_a_karpenter_node_pool_with_the_taint_and_a_gpu_limit():
    code, out, _ = cli_plan("--profile", "growth")
    assert code == 0
    resources = json.loads(out)["resources"]
    pools = [r for r in resources if r["type"] == NODE_POOL and r["inputs"]["apiVersion"] == "karpenter.sh/v1"]
    gpu = next(r["inputs"]["spec"] for r in pools if r["inputs"]["metadata"]["name"] == "gpu-1x")
    assert GPU_TAINT in gpu["template"]["spec"]["taints"] and gpu["limits"]["nvidia.com/gpu"] == "8"
    assert {r["inputs"]["metadata"]["name"] for r in pools} == {"gpu-1x", "cpu-batch"}
    assert not [r for r in resources if r["type"] == NODE_GROUP and r["inputs"].get("amiType") == versions.AMI_TYPE_GPU]


def test_full_profile_has_two_gpu_classes_each_with_its_own_limit():
    from mlplatform.stacks.program import plan
    from mlplatform.stacks.config.spec import load_spec

    p = plan(load_spec("full"))
    limits = {r.inputs["metadata"]["name"]: r.inputs["spec"]["limits"] for r in p.of_type(NODE_POOL)}
    assert limits == {"gpu-1x": {"nvidia.com/gpu": "8"}, "gpu-multi": {"nvidia.com/gpu": "16"}, "cpu-batch": {"cpu": "64"}}
    for manifest in k8s_objects(p):
        if manifest["kind"] in ("NodePool", "EC2NodeClass"):
            assert chartcheck.custom_resource_errors(manifest) == [], manifest["metadata"]["name"]


def test_a_pragmatic_pool_with_max_2_runs_at_most_2_gpu_nodes_in_total():
    """gpu.pools[].max is the pool's total, whatever the capacity type (issue 23): the spot group and
    the on-demand fallback together never exceed it, and every reader counts the same nodes."""
    from mlplatform.components.args.gpu_node_pool import gpu_limit_of
    from mlplatform.stacks.config.profiles import sizes_of
    from mlplatform.stacks.config.spec import load_spec, pools_gpu_limit
    from mlplatform.stacks.program import plan

    for max_ in (2, 3, 5):
        spec = load_spec("pragmatic", sets=[f"gpu.pools.0.max={max_}"])
        groups = [g for g in plan(spec).of_type(NODE_GROUP) if g.inputs["amiType"] == versions.AMI_TYPE_GPU]
        sizes = {g.inputs["capacityType"]: g.inputs["scalingConfig"]["maxSize"] for g in groups}
        assert set(sizes) == {"SPOT", "ON_DEMAND"} and sum(sizes.values()) == max_, sizes
        assert sizes["SPOT"] >= sizes["ON_DEMAND"] >= 1  # spot first; a fallback that can start a node
        # 1 GPU per g6.xlarge/g5.xlarge: the GPUs team quotas may add up to are those nodes' GPUs.
        assert pools_gpu_limit(spec) == gpu_limit_of(spec.gpu.pools[0], "managed") == max_
        assert f"0-{max_} nodes spot-first (at most {sizes['SPOT']} spot + {sizes['ON_DEMAND']} on-demand)" \
            in sizes_of(spec)["GPU"]


@pytest.mark.parametrize("sets, message", [
    (["gpu.pools.0.max=1"], "gpu.pools.0.max: a spot-first pool is a spot and an on-demand node group sharing at "
                            "most 1 node(s); each needs one; allow 2 nodes or more (max, gpu_limit), or use capacity"),
    (["gpu.pools.0.min=2"], "gpu.pools.0.min: min 2 leaves the on-demand fallback none of the pool's 2 nodes; "
                            "use min 1 or less, or capacity spot or on-demand"),
])
def test_a_spot_first_pool_that_cannot_hold_both_groups_is_refused_by_spec_and_component(sets, message):
    from mlplatform.stacks.config.spec import SpecError, load_spec

    with pytest.raises(SpecError) as e:
        load_spec("pragmatic", sets=sets)
    assert str(e.value).startswith(message)
    key, value = sets[0].removeprefix("gpu.pools.0.").split("=")
    with pytest.raises(ValidationError, match=r"^pools\[gpu\]\." + key):
        plan_of(lambda: make(pools=[GpuPool("gpu", **{key: int(value)})]))
    # The same pool is fine as spot-only or on-demand-only: one group holds all of max.
    assert load_spec("pragmatic", sets=[*sets, "gpu.pools.0.capacity=on-demand"]).gpu.pools[0].capacity == "on-demand"


def test_profile_defaults_follow_the_region_but_a_users_list_is_checked():
    from mlplatform.stacks.program import plan
    from mlplatform.stacks.config.spec import load_spec

    p = plan(load_spec("pragmatic", region="eu-west-1"))  # g6 is not offered there: the default narrows
    assert {tuple(g.inputs["instanceTypes"]) for g in p.of_type(NODE_GROUP) if g.inputs["amiType"] == versions.AMI_TYPE_GPU} \
        == {("g5.xlarge",)}
    code, _, err = cli_plan("--region", "eu-west-1", "--set", "gpu.pools.0.instance_types=[g6.xlarge]")
    assert code == 1
    assert "gpu.pools.0.instance_types: g6.xlarge is not offered in eu-west-1" in err and len(err.strip().splitlines()) == 1


def test_stack_adopting_gpu_nodes_and_catalog():
    from mlplatform.stacks.config.profiles import components_of
    from mlplatform.stacks.program import plan
    from mlplatform.stacks.config.spec import load_spec

    spec = load_spec("growth", sets=["gpu.existing.node_names=[gpu-a]"])
    assert "GpuNodePool (adopted)" in components_of(spec)
    assert "GpuNodePool" in components_of(load_spec("pragmatic"))
    assert "GpuNodePool" not in components_of(load_spec("pragmatic", sets=["gpu.pools=[]"]))
    p = plan(spec)
    assert not p.of_type(NODE_POOL) and len(p.of_type("kubernetes:core/v1:NodePatch")) == 1


# -- examples/gpu-job ---------------------------------------------------------------------------------
def test_example_gpu_job_requests_a_gpu_and_tolerates_the_taint():
    manifest = yaml.safe_load((ROOT / "examples/gpu-job/job.yaml").read_text())
    assert_valid_k8s(manifest)
    pod = manifest["spec"]["template"]["spec"]
    [container] = pod["containers"]
    assert str(container["resources"]["limits"]["nvidia.com/gpu"]) == "1"
    assert any(tolerates(t, GPU_TAINT) for t in pod["tolerations"])
    assert pod["nodeSelector"] == {GPU_LABEL: "true"}
    notes = manifest["spec"]["template"]["metadata"]["annotations"]
    assert notes == {"karpenter.sh/do-not-disrupt": "true", "cluster-autoscaler.kubernetes.io/safe-to-evict": "false"}
    readme = (ROOT / "examples/gpu-job/README.md").read_text()
    assert "kubectl apply -f examples/gpu-job/job.yaml" in readme


def test_tolerates_follows_kubernetes_rules():
    assert tolerates(GPU_TOLERATION, GPU_TAINT)
    assert tolerates({"key": "nvidia.com/gpu", "operator": "Equal", "value": "true", "effect": "NoSchedule"}, GPU_TAINT)
    assert not tolerates({"key": "nvidia.com/gpu", "operator": "Equal", "value": "present"}, GPU_TAINT)
    assert not tolerates({"key": "CriticalAddonsOnly", "operator": "Exists"}, GPU_TAINT)
    assert tolerates({"operator": "Exists"}, GPU_TAINT)  # tolerates everything
