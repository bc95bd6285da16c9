"""Shared component helpers: pinned Helm releases, IRSA trust, the k8s validator wiring."""

from __future__ import annotations

import json

import pulumi
import pulumi_kubernetes as k8s
import pytest

from conftest import assert_valid_k8s, helm_values, k8s_objects, one, plan_of
from mlplatform.components._common import helm_release, irsa_trust_policy
from mlplatform.components.versions import HELM_CHARTS


def test_helm_release_pins_chart_version_and_repository():
    def program():
        p = k8s.Provider("k", kubeconfig="{}")
        helm_release(p, "dp", "nvidia-device-plugin", "kube-system", {"nodeSelector": {"a": "b"}}, provider=p)
        helm_release(p, "arc", "gha-runner-scale-set-controller", "arc-system", {}, provider=p)

    plan = plan_of(program)
    dp = one(plan, "kubernetes:helm.sh/v3:Release", "dp")
    assert dp.inputs["chart"] == "nvidia-device-plugin"
    assert dp.inputs["version"] == HELM_CHARTS["nvidia-device-plugin"][0]
    assert dp.inputs["repositoryOpts"]["repo"] == "https://nvidia.github.io/k8s-device-plugin"
    assert dp.inputs["atomic"] is True
    arc = one(plan, "kubernetes:helm.sh/v3:Release", "arc")
    assert arc.inputs["chart"] == "oci://ghcr.io/actions/actions-runner-controller-charts/gha-runner-scale-set-controller"
    assert "repositoryOpts" not in arc.inputs
    assert helm_values(plan, "nvidia-device-plugin") == [{"nodeSelector": {"a": "b"}}]


def test_irsa_trust_pins_sub_and_aud_in_one_block():
    doc = json.loads(irsa_trust_policy("arn:aws:iam::1:oidc-provider/oidc.x/id/A", "https://oidc.x/id/A", "ns", "sa"))
    (stmt,) = doc["Statement"]
    assert stmt["Condition"] == {"StringEquals": {"oidc.x/id/A:sub": "system:serviceaccount:ns:sa",
                                                  "oidc.x/id/A:aud": "sts.amazonaws.com"}}


def test_k8s_objects_are_validated_by_kubernetes_validate():
    import kubernetes_validate

    def program():
        p = k8s.Provider("k", kubeconfig="{}")
        k8s.core.v1.ConfigMap("cm", metadata={"name": "x", "namespace": "default"}, data={"a": "b"},
                              opts=pulumi.ResourceOptions(provider=p))

    (cm,) = k8s_objects(plan_of(program))
    assert cm["kind"] == "ConfigMap" and cm["apiVersion"] == "v1"
    assert_valid_k8s(cm)
    with pytest.raises(kubernetes_validate.ValidationError):
        assert_valid_k8s({**cm, "data": {"a": 1}})
