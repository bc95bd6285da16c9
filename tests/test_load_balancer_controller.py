"""AWS Load Balancer Controller: installed only where an ingress needs it, least-privilege IAM."""

from __future__ import annotations

import json

import pytest

from chartcheck import check_values
from conftest import helm_values, one
from mlplatform.components._common import ValidationError
from mlplatform.components.load_balancer_controller import (
    CLUSTER_TAG,
    LoadBalancerController,
    LoadBalancerControllerArgs,
    controller_policy,
)
from mlplatform.stacks.program import plan
from mlplatform.stacks.config.spec import load_spec


@pytest.fixture(scope="module")
def growth():
    return plan(load_spec("growth"))


def test_only_stacks_with_an_ingress_get_it(growth):
    # MLflow's ingress (growth, full) or the served models' canary ALBs (serving, every profile by default)
    assert not plan(load_spec("pragmatic", sets=["serving.enabled=false"])).of_type(
        "mlplatform:network:LoadBalancerController")
    assert plan(load_spec("pragmatic")).of_type("mlplatform:network:LoadBalancerController")
    assert growth.of_type("mlplatform:network:LoadBalancerController")


def test_values_exist_in_the_pinned_chart_and_need_no_imds(growth):
    (values,) = helm_values(growth, "aws-load-balancer-controller")
    assert check_values("aws-load-balancer-controller", values).unknown == []
    assert values["clusterName"] == "ml-dev" and values["region"] == "us-east-1"
    assert values["vpcId"].startswith("vpc-")  # nodes allow IMDS one hop only: pods can't ask it
    assert values["nodeSelector"] == {"mlplatform.io/pool": "system"}
    assert values["defaultTags"]["mlplatform:stack"] == "dev"
    role = one(growth, "aws:iam/role:Role", "ml-dev-lb-controller")
    assert "/ml-dev-lb-controller-" in values["serviceAccount"]["annotations"]["eks.amazonaws.com/role-arn"]
    trust = json.loads(role.inputs["assumeRolePolicy"])["Statement"][0]["Condition"]["StringEquals"]
    assert sorted(trust.values()) == ["sts.amazonaws.com", "system:serviceaccount:kube-system:aws-load-balancer-controller"]


def test_mlflow_installs_after_the_controller(growth):
    mlflow = one(growth, "kubernetes:helm.sh/v3:Release", "ml-dev-mlflow")
    lbc = one(growth, "kubernetes:helm.sh/v3:Release", "ml-dev-lb-controller")
    assert lbc.urn in mlflow.depends_on


def test_policy_writes_only_what_it_owns():
    doc = json.loads(controller_policy())
    for stmt in doc["Statement"]:
        actions = stmt["Action"] if isinstance(stmt["Action"], list) else [stmt["Action"]]
        assert "*" not in actions and not any(a.endswith(":*") for a in actions)
        destructive = [a for a in actions if a.split(":")[1].startswith(("Delete", "Modify", "Set", "RemoveTags"))]
        # Listeners and rules carry no tag before they exist, so upstream leaves those unconditioned.
        if destructive and stmt["Sid"] not in ("ListenersAndRules", "ListenerSettings", "Integrations"):
            assert stmt["Condition"]["Null"][f"aws:ResourceTag/{CLUSTER_TAG}"] == "false", stmt["Sid"]
        if stmt["Resource"] == "*" and stmt["Sid"] not in ("ListenersAndRules", "ListenerSettings", "Integrations",
                                                           "ServiceLinkedRole"):
            assert all(a.split(":")[1].startswith(("Describe", "Get", "List")) for a in actions) or "Condition" in stmt
    creates = next(s for s in doc["Statement"] if s["Sid"] == "CreateTaggedLoadBalancers")
    assert creates["Condition"] == {"Null": {f"aws:RequestTag/{CLUSTER_TAG}": "false"}}


def test_bad_replicas_is_refused():
    with pytest.raises(ValidationError, match=r"^replicas: must be 1 to 5, got 0; use 2"):
        LoadBalancerController("x", LoadBalancerControllerArgs(
            cluster_name="c", vpc_id="vpc-1", region="us-east-1", oidc_provider_arn="a", oidc_issuer_url="u",
            k8s_provider=None, replicas=0))


def _allows(doc: dict, action: str, resource: str) -> bool:
    import fnmatch

    for stmt in doc["Statement"]:
        actions = stmt["Action"] if isinstance(stmt["Action"], list) else [stmt["Action"]]
        resources = stmt["Resource"] if isinstance(stmt["Resource"], list) else [stmt["Resource"]]
        if action in actions and any(fnmatch.fnmatchcase(resource, r) for r in resources):
            return True
    return False


@pytest.mark.parametrize("action,resource", [
    # what the controller does to put an ALB in front of an Ingress (tagging included: v2.5+)
    ("elasticloadbalancing:CreateLoadBalancer", "*"),
    ("elasticloadbalancing:CreateTargetGroup", "*"),
    ("elasticloadbalancing:CreateListener", "*"),
    ("elasticloadbalancing:CreateRule", "*"),
    ("elasticloadbalancing:AddTags", "arn:aws:elasticloadbalancing:us-east-1:1:listener/app/lb/1/2"),
    ("elasticloadbalancing:AddTags", "arn:aws:elasticloadbalancing:us-east-1:1:listener-rule/app/lb/1/2/3"),
    ("elasticloadbalancing:RegisterTargets", "arn:aws:elasticloadbalancing:us-east-1:1:targetgroup/tg/1"),
    ("ec2:CreateSecurityGroup", "arn:aws:ec2:us-east-1:1:security-group/sg-1"),
    ("ec2:AuthorizeSecurityGroupIngress", "arn:aws:ec2:us-east-1:1:security-group/sg-1"),
    ("ec2:DescribeSubnets", "*"),
    # reordering an Ingress's rules (v3.5.0's policy; issue 14)
    ("elasticloadbalancing:SetRulePriorities", "*"),
    ("elasticloadbalancing:ModifyListenerAttributes", "arn:aws:elasticloadbalancing:us-east-1:1:listener/app/lb/1/2"),
])
def test_policy_allows_what_an_ingress_needs(action, resource):
    assert _allows(json.loads(controller_policy()), action, resource)


def test_no_cluster_wide_service_webhook(growth):
    (values,) = helm_values(growth, "aws-load-balancer-controller")
    assert values["enableServiceMutatorWebhook"] is False


def test_own_resources_are_never_retagged_away_from_the_cluster():
    """Upstream's Null pair: tags of its own resources change only in requests that don't touch the
    cluster tag itself (so it cannot adopt or release a load balancer by retagging it)."""
    doc = json.loads(controller_policy())
    retag = [s for s in doc["Statement"] if s["Sid"] in ("RetagOwnLoadBalancers", "RetagOwnSecurityGroups")]
    assert len(retag) == 2
    for s in retag:
        assert s["Condition"] == {"Null": {f"aws:RequestTag/{CLUSTER_TAG}": "true",
                                           f"aws:ResourceTag/{CLUSTER_TAG}": "false"}}
