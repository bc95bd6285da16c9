"""The cluster as one object (`cluster=`), one IRSA-role helper, and IRSA policies before their users."""

from __future__ import annotations

import json

import pytest

from conftest import plan_of
from mlplatform.components._common import ValidationError, irsa_trust_policy
from mlplatform.components.artifact_registry import ArtifactRegistry, ArtifactRegistryArgs
from mlplatform.components.cluster_ref import ClusterRef
from mlplatform.components.irsa import trust_policy
from mlplatform.components.load_balancer_controller import LoadBalancerController, LoadBalancerControllerArgs
from mlplatform.components.orchestration import Orchestration, OrchestrationArgs
from mlplatform.stacks.program import plan
from mlplatform.stacks.config.spec import load_spec

OIDC_ARN = "arn:aws:iam::123456789012:oidc-provider/oidc.eks.us-east-1.amazonaws.com/id/ABC"
ISSUER = "https://oidc.eks.us-east-1.amazonaws.com/id/ABC"
RELEASE = "kubernetes:helm.sh/v3:Release"


def snapshot(p):
    return {r.urn: (r.inputs, sorted(r.depends_on)) for r in p.resources}


def test_cluster_object_and_loose_fields_build_the_same_resources():
    def loose():
        LoadBalancerController("ml", LoadBalancerControllerArgs(
            cluster_name="ml-prod", vpc_id="vpc-1", region="us-east-1", oidc_provider_arn=OIDC_ARN,
            oidc_issuer_url=ISSUER, k8s_provider=None))

    def one_object():
        LoadBalancerController("ml", LoadBalancerControllerArgs(
            cluster=ClusterRef("ml-prod", OIDC_ARN, ISSUER), vpc_id="vpc-1", region="us-east-1"))

    a, b = plan_of(loose), plan_of(one_object)
    assert a.resources and snapshot(a) == snapshot(b)


def test_a_loose_field_given_with_the_cluster_is_refused():
    errors = []

    def run():
        reg = ArtifactRegistry("reg", ArtifactRegistryArgs())
        try:
            Orchestration("ml", OrchestrationArgs(image="img:1", mlflow_tracking_uri="http://mlflow:5000", registry=reg,
                                                  cluster=ClusterRef("ml-prod", OIDC_ARN, ISSUER),
                                                  oidc_issuer_url="https://elsewhere"))
        except ValidationError as e:
            errors.append(str(e))

    plan_of(run)
    assert errors == ["oidc_issuer_url: is given together with cluster; pass cluster alone (its oidc_issuer_url is "
                      "used), or drop cluster"]


def test_without_cluster_or_the_loose_fields_the_component_says_what_to_pass():
    with pytest.raises(ValidationError, match=r"^cluster_name: required; pass cluster=<the Cluster>"):
        LoadBalancerController("ml", LoadBalancerControllerArgs(vpc_id="vpc-1", region="us-east-1"))


def test_trust_policy_pins_each_subject():
    one = json.loads(trust_policy(OIDC_ARN, ISSUER, [("ns", "sa")]))
    assert one == json.loads(irsa_trust_policy(OIDC_ARN, ISSUER, "ns", "sa"))
    two = json.loads(trust_policy(OIDC_ARN, ISSUER, [("a", "x"), ("b", "y")]))
    subs = [s["Condition"]["StringEquals"]["oidc.eks.us-east-1.amazonaws.com/id/ABC:sub"] for s in two["Statement"]]
    assert subs == ["system:serviceaccount:a:x", "system:serviceaccount:b:y"]


@pytest.fixture(scope="module")
def full():
    return plan(load_spec("full"))


@pytest.mark.parametrize("release, policies", [
    ("ml-dev-mlflow", {"ml-dev-mlflow-artifacts"}),  # the server may not push models (issue 25)
    ("ml-dev-lb-controller", {"ml-dev-lb-controller"}),
    ("ml-dev-argo", {"ml-dev-argo-server-argo", "ml-dev-retraining-argo", "ml-dev-retraining-mlflow",
                     "ml-dev-retraining-models"}),
    ("ml-dev-karpenter", {"ml-dev-karpenter"}),
    ("ml-dev-cpu", {"ml-dev-runners-ecr", "ml-dev-runners-mlflow"}),
    ("ml-dev-gpu", {"ml-dev-runners-ecr", "ml-dev-runners-mlflow"}),
])
def test_releases_start_after_their_irsa_policies(full, release, policies):
    by_urn = {r.urn: r for r in full.resources}
    (r,) = [r for r in full.of_type(RELEASE) if r.name == release]
    attached = {by_urn[u].name for u in r.depends_on if by_urn[u].type == "aws:iam/rolePolicy:RolePolicy"}
    assert attached == policies


def test_addons_start_after_their_roles_policy_attachment(full):
    by_urn = {r.urn: r for r in full.resources}
    for addon, attachment in (("ml-dev-vpc-cni", "ml-dev-vpc-cni"), ("ml-dev-aws-ebs-csi-driver", "ml-dev-ebs-csi")):
        (r,) = [r for r in full.of_type("aws:eks/addon:Addon") if r.name == addon]
        assert attachment in {by_urn[u].name for u in r.depends_on
                              if by_urn[u].type == "aws:iam/rolePolicyAttachment:RolePolicyAttachment"}
