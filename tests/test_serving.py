"""ModelServing under the Pulumi mock monitor, the `serving:` section, and where serving pods count
(the capacity check and `cost`)."""

from __future__ import annotations

import json

import pulumi_kubernetes as k8s
import pytest

from chartcheck import check_values, custom_resource_errors
from conftest import assert_valid_k8s, helm_values, k8s_objects, one, plan_of
from mlplatform.components.conventions import SERVING_POOL_ANNOTATION, SYSTEM_NODE_SELECTOR
from mlplatform.components.args.serving import ExistingRollouts, ModelServingArgs, ServedModel
from mlplatform.components.serving.component import ModelServing
from mlplatform.components.serving.placement import quota
from mlplatform.stacks.analyses import capacity, cost
from mlplatform.stacks.config.spec import load_spec
from mlplatform.stacks.errors import SpecError
from mlplatform.stacks.program import plan as stack_plan

PROM = "http://ml-monitoring-prometheus.monitoring.svc.cluster.local:9090"
RELEASE = "kubernetes:helm.sh/v3:Release"
QUOTA = "kubernetes:core/v1:ResourceQuota"
TEMPLATE = "kubernetes:argoproj.io/v1alpha1:ClusterAnalysisTemplate"


def program(**fields):
    def run():
        provider = k8s.Provider("k8s", kubeconfig="{}")

        class Ref:  # what the component reads of a cluster
            pass

        ref = Ref()
        ref.provider = provider  # type: ignore[attr-defined]
        ModelServing("ml", ModelServingArgs(prometheus_address=PROM, cluster=ref, **fields))

    return run


@pytest.fixture(scope="module")
def installed():
    return plan_of(program(monitoring_release="ml-monitoring", controller_replicas=2, environments=["staging", "production"],
                           models={"churn": ServedModel(replicas=2, cpu="250m", memory="512Mi")}))


def test_the_controller_is_the_pinned_chart_on_the_system_nodes_non_root(installed):
    (values,) = helm_values(installed, "argo-rollouts")
    release = one(installed, RELEASE)
    assert release.inputs["version"] == "2.41.0"
    c = values["controller"]
    assert c["nodeSelector"]["mlplatform.io/pool"] == SYSTEM_NODE_SELECTOR["mlplatform.io/pool"]
    assert c["resources"]["requests"] == {"cpu": "50m", "memory": "128Mi"} and c["resources"]["limits"]["memory"]
    assert values["podSecurityContext"]["runAsNonRoot"] is True
    assert values["containerSecurityContext"]["capabilities"] == {"drop": ["ALL"]}
    assert values["containerSecurityContext"]["allowPrivilegeEscalation"] is False
    assert values["installCRDs"] and values["keepCRDs"]
    assert c["pdb"] == {"enabled": True, "minAvailable": 1}  # two replicas: one may go in a drain
    assert c["metrics"]["serviceMonitor"]["additionalLabels"] == {"release": "ml-monitoring"}
    report = check_values("argo-rollouts", values)
    assert not report.unknown and not report.mismatched, report


def test_each_environment_is_a_restricted_namespace_with_a_quota_for_the_rollout_peak(installed):
    namespaces = {o["metadata"]["name"]: o for o in k8s_objects(installed) if o.get("kind") == "Namespace"}
    assert set(namespaces) == {"serving-staging", "serving-production"}
    for ns in namespaces.values():
        assert ns["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "restricted"
    quotas = [r for r in installed.resources if r.type == QUOTA]
    assert {q.inputs["metadata"]["namespace"] for q in quotas} == set(namespaces)
    hard = quotas[0].inputs["spec"]["hard"]
    # 2 replicas x 2 (stable + full canary) x 250m / 512Mi
    assert hard["requests.cpu"] == "1000m" and hard["requests.memory"] == "2048Mi" and hard["limits.memory"] == "2048Mi"
    (sized,) = json.loads(quotas[0].inputs["metadata"]["annotations"][SERVING_POOL_ANNOTATION])
    assert sized["pool"] == "system" and sized["peak_replicas"] == 4
    for o in k8s_objects(installed):
        if o.get("kind") in ("Namespace", "ResourceQuota"):
            assert_valid_k8s(o)


def test_analysis_templates_validate_against_the_pinned_crd(installed):
    templates = [r for r in installed.resources if r.type == TEMPLATE]
    from mlplatform.components.serving.analysis import cluster_analysis_templates

    assert len(templates) == len(cluster_analysis_templates(PROM))
    for o in k8s_objects(installed):
        if o.get("kind") == "ClusterAnalysisTemplate":
            assert custom_resource_errors(o) == [], o["metadata"]["name"]


def test_an_existing_controller_is_adopted_not_installed():
    p = plan_of(program(existing=ExistingRollouts(namespace="rollouts")))
    assert not [r for r in p.resources if r.type == RELEASE]
    assert [r for r in p.resources if r.type == "kubernetes:core/v1:Namespace"]


@pytest.mark.parametrize("fields, message", [
    ({"models": {"llm": {"runtime": "vllm"}}}, "runtime vllm serves on a GPU"),
    ({"models": {"Churn": {}}}, "is not a served model name"),
    ({"models": {"churn": {"cpu": "lots"}}}, "should match pattern"),
    ({"models": {"churn": {"replicas": 0}}}, "greater than or equal to 1"),
    ({"environments": ["production", "staging"]}, "must be [production] or [staging, production]"),
    ({"canary_weights": [50, 10]}, "increasing traffic shares"),
    ({"models": {"llm": {"runtime": "vllm", "gpu": 1}}}, "has no GPU pool"),
    ({"helm_values": {"installCRDs": False}}, None),
])
def test_args_are_refused_with_the_field_named(fields, message):
    if message is None:
        from mlplatform.components._common import ValidationError

        with pytest.raises(ValidationError, match="installCRDs"):
            plan_of(program(**fields))
        return
    from mlplatform.components._common import ValidationError

    with pytest.raises(ValidationError) as e:  # one line naming the field (components/args.Section)
        ModelServingArgs(prometheus_address=PROM, **fields)
    assert message in str(e.value) and "\n" not in str(e.value)


# -- the stack ------------------------------------------------------------------------------------
def test_every_profile_holds_the_controller_and_its_namespaces(profile_plans):
    for profile, envs in (("pragmatic", {"serving-production"}), ("growth", {"serving-staging", "serving-production"}),
                          ("full", {"serving-staging", "serving-production"})):
        p = profile_plans[profile]
        assert len(helm_values(p, "argo-rollouts")) == 1, profile
        assert len(helm_values(p, "aws-load-balancer-controller")) == 1, profile  # the canary's ALB
        names = {o["metadata"]["name"] for o in k8s_objects(p) if o.get("kind") == "Namespace"}
        assert envs <= names and not ({"serving-staging"} - envs) & names, profile


def test_the_serving_section_reuses_the_components_bounds():
    spec = load_spec("growth", sets=["serving.models.churn.replicas=3"])
    assert spec.serving.models["churn"].replicas == 3 and spec.serving.placement == "auto"
    # auto: the CPU pool where the stack has one, the system nodes where it adopts GPU nodes (no CPU pool)
    from mlplatform.stacks.project.serving import Release, render

    rel = Release("churn", "1", "sha256:" + "a" * 64, "r/models@sha256:" + "a" * 64)
    pod = render(spec, "dev", rel, ["production"])["production"][-1]["spec"]["template"]["spec"]
    assert pod["nodeSelector"]["mlplatform.io/pool"] == "cpu-batch"
    adopted = load_spec("growth", sets=["serving.models.churn.replicas=3", "gpu.existing.node_names=[n1]"])
    pod = render(adopted, "dev", rel, ["production"])["production"][-1]["spec"]["template"]["spec"]
    assert pod["nodeSelector"]["mlplatform.io/pool"] == "system"
    with pytest.raises(SpecError) as e:
        load_spec("pragmatic", sets=["serving.models.churn.replicas=21"])
    assert e.value.key == "serving.models.churn.replicas" and "20" in e.value.fix
    with pytest.raises(SpecError) as e:
        load_spec("pragmatic", sets=["serving.placement=cpu-batch"])
    assert e.value.key == "serving.placement"
    with pytest.raises(SpecError) as e:
        load_spec("pragmatic", sets=["serving.enabled=false", "serving.models.churn.replicas=1"])
    assert e.value.key == "serving.models"


def test_capacity_counts_models_on_the_system_nodes_at_the_rollout_peak():
    base = stack_plan(load_spec("pragmatic"))
    served = stack_plan(load_spec("pragmatic", sets=["serving.models.churn.cpu=250m",
                                                      "serving.models.churn.memory=512Mi"]))
    a, b = capacity.fit(base), capacity.fit(served)
    assert b.requested_cpu_m - a.requested_cpu_m == 2 * 2 * 250  # default 2 replicas, doubled by the canary
    assert b.requested_memory_mib - a.requested_memory_mib == 2 * 2 * 512
    assert b.pods - a.pods == 4
    too_big = stack_plan(load_spec("pragmatic", sets=["serving.models.churn.memory=4Gi"]))
    assert not capacity.fit(too_big).ok
    rollouts = [p for p in capacity.system_pods(base) if p.release.endswith("argo-rollouts")]
    assert rollouts and not rollouts[0].unrequested


def test_cost_prices_the_nodes_and_load_balancers_serving_needs():
    spec = load_spec("growth", sets=["serving.models.churn.cpu=1", "serving.models.churn.replicas=3",
                                     "serving.models.llm.runtime=vllm", "serving.models.llm.gpu=1",
                                     "serving.models.llm.replicas=1", "serving.models.llm.cpu=3",
                                     "serving.models.llm.memory=12Gi"])
    report = cost.estimate(stack_plan(spec), "us-east-1")
    lines = [line for r in report.resources if r.type == QUOTA for line in r.lines]
    whats = [line.what for line in lines]
    # 3 x 1 CPU on m6i.large (2 vCPU): 2 nodes per environment
    assert sum("2 x m6i.large always on" in w for w in whats) == 2
    assert sum("always on for serving-production/llm (GPU pool gpu-1x" in w for w in whats) == 1
    assert sum(w.startswith("ALB for the Ingress of") for w in whats) == 4  # 2 models x 2 environments
    assert all(line.idle for line in lines if line.kind == "fixed") and cost.uncovered_types(stack_plan(spec)) == []


def test_quota_arithmetic():
    assert quota({"a": ServedModel(cpu="1.5", memory="1Gi", replicas=1),
                  "b": ServedModel(runtime="vllm", gpu=2, cpu="500m", memory="512Mi", replicas=1)}) == {
        "requests.cpu": "4000m", "requests.memory": "3072Mi", "limits.memory": "3072Mi",
        "requests.nvidia.com/gpu": "4"}


def test_the_ci_runners_role_may_deploy_into_the_serving_namespaces_only(profile_plans):
    p = profile_plans["growth"]
    (entry,) = [r for r in p.resources if r.type == "aws:eks/accessEntry:AccessEntry" and "serving" in r.name]
    assert entry.inputs["kubernetesGroups"] == ["mlplatform:serving-deployers"] and entry.inputs["type"] == "STANDARD"
    roles = [o for o in k8s_objects(p) if o.get("kind") == "Role" and o["metadata"]["name"] == "mlplatform-serving-deployer"]
    assert {r["metadata"]["namespace"] for r in roles} == {"serving-staging", "serving-production"}
    resources = {res for rule in roles[0]["rules"] for res in rule["resources"]}
    assert "secrets" not in resources and "pods/exec" not in resources
    writable = {res for rule in roles[0]["rules"] if "patch" in rule["verbs"] for res in rule["resources"]}
    assert writable == {"services", "ingresses", "poddisruptionbudgets", "podmonitors", "rollouts"}
    assert not [o for o in k8s_objects(p) if o.get("kind") == "ClusterRoleBinding" and "serving" in o["metadata"]["name"]]
    (policy,) = [r for r in p.resources if r.type == "aws:iam/rolePolicy:RolePolicy" and r.name == "ml-dev-serving-deployers"]
    (statement,) = json.loads(policy.inputs["policy"])["Statement"]
    assert statement["Action"] == "eks:DescribeCluster" and statement["Resource"].endswith(":cluster/ml-dev")


def test_prediction_logs_need_the_clusters_oidc_provider():
    from mlplatform.components._common import ValidationError
    from mlplatform.components.artifact_registry import ArtifactRegistry, ArtifactRegistryArgs

    def run():
        provider = k8s.Provider("k8s", kubeconfig="{}")

        class Ref:  # a cluster without IRSA
            pass

        ref = Ref()
        ref.provider = provider  # type: ignore[attr-defined]
        ModelServing("ml", ModelServingArgs(prometheus_address=PROM, cluster=ref, models={"churn": ServedModel()},
                                            registry=ArtifactRegistry("reg", ArtifactRegistryArgs())))

    with pytest.raises(ValidationError, match=r"^cluster: the prediction logs of churn need the cluster's OIDC "
                                              r"provider \(IRSA\); pass the stack's Cluster"):
        plan_of(run)
