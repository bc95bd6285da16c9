"""CiRunners: ARC controller (installed or adopted) + CPU/GPU runner scale sets, secret wiring, IRSA scope."""

from __future__ import annotations

import json
import re

import pulumi
import pytest

from chartcheck import check_values
from conftest import assert_valid_k8s, helm_values, k8s_objects, one, plan_of
from mlplatform.components._common import GPU_LABEL, GPU_TOLERATION, POOL_LABEL, SYSTEM_NODE_SELECTOR, ValidationError
from mlplatform.components.artifact_registry import ECR_PUSH_PULL_ACTIONS, ArtifactRegistry, ArtifactRegistryArgs
from mlplatform.components.ci_runners import (CONTROLLER_CHART, CONTROLLER_SERVICE_ACCOUNT, GITHUB_APP_KEYS,
                                              GITHUB_SECRET, GPU_RESOURCE, KEEP_NODE_ANNOTATIONS, RUNNER_NAMESPACE,
                                              RUNNER_SERVICE_ACCOUNT, RUNNER_UID, SCALE_SET_CHART, CiRunners,
                                              CiRunnersArgs, ExistingController, GitHubAppCredentials, RunnerScale,
                                              ScaleSetArgs, runner_scale_set)
from mlplatform.components.gpu_node_pool import CPU_BATCH_POOL, CPU_BATCH_TOLERATION
from mlplatform.components.monitoring import ARC_LISTENER_LABELS, ARC_LISTENER_PORT, ARC_NAMESPACE
from mlplatform.components.versions import HELM_CHARTS, RUNNER_IMAGE
from mlplatform.stacks.plan.offline import SECRET, run_offline
from mlplatform.stacks.program import build, plan as stack_plan
from mlplatform.stacks.cloud.secrets_check import (GITHUB_APP_CONFIG_KEYS, check_deployable, missing_secrets,
                                             require_runner_settings, stored_in_clear)
from mlplatform.stacks.config.spec import SpecError, load_spec, profile_defaults

OIDC_ARN = "arn:aws:iam::123456789012:oidc-provider/oidc.eks.us-east-1.amazonaws.com/id/ABC"
ISSUER = "https://oidc.eks.us-east-1.amazonaws.com/id/ABC"
URL = "https://github.com/acme"
PRIVATE_KEY = "-----BEGIN RSA PRIVATE KEY-----\nMIIEclear-text-never-in-the-plan\n-----END RSA PRIVATE KEY-----"
RELEASE = "kubernetes:helm.sh/v3:Release"
ROLE_POLICY = "aws:iam/rolePolicy:RolePolicy"


def credentials() -> GitHubAppCredentials:
    return GitHubAppCredentials(pulumi.Output.secret("12345"), pulumi.Output.secret("install-4242"),
                                pulumi.Output.secret(PRIVATE_KEY))


def runners(name: str = "ml-dev", **kw) -> CiRunners:
    reg = ArtifactRegistry("reg", ArtifactRegistryArgs(repositories=["images", "models"]))
    args = dict(github_config_url=URL, registry=reg, oidc_provider_arn=OIDC_ARN, oidc_issuer_url=ISSUER)
    args.update(kw)
    return CiRunners(name, CiRunnersArgs(**args))


@pytest.fixture(scope="module")
def plan():
    return plan_of(lambda: runners(github_app=credentials(), cpu=RunnerScale(0, 6), gpu=RunnerScale(0, 2)))


def release(plan, name: str):
    return one(plan, RELEASE, name)


def sets_by_name(plan) -> dict[str, dict]:
    return {v["runnerScaleSetName"]: v for v in helm_values(plan, SCALE_SET_CHART)}


def pod_of(values: dict) -> dict:
    """The runner pod template as a Pod manifest."""
    t = values["template"]
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "runner", **t["metadata"]}, "spec": t["spec"]}


def runner_container(values: dict) -> dict:
    (c,) = values["template"]["spec"]["containers"]
    return c


# -- controller ----------------------------------------------------------------------------------
def test_controller_is_pinned_on_system_nodes_with_the_listener_metrics_monitoring_reads(plan):
    r = release(plan, "ml-dev-arc")
    version, repo = HELM_CHARTS[CONTROLLER_CHART]
    assert r.inputs["chart"] == f"{repo}/{CONTROLLER_CHART}" and r.inputs["version"] == version == "0.14.2"
    assert r.inputs["namespace"] == ARC_NAMESPACE == "arc-systems"  # where Monitoring's PodMonitor looks
    v = r.inputs["values"]
    assert v["metrics"] == {"controllerManagerAddr": ":8080", "listenerAddr": ":8080", "listenerEndpoint": "/metrics"}
    assert v["nodeSelector"] == SYSTEM_NODE_SELECTOR
    assert v["serviceAccount"] == {"create": True, "name": CONTROLLER_SERVICE_ACCOUNT}
    assert v["securityContext"]["runAsNonRoot"] is True and v["securityContext"]["allowPrivilegeEscalation"] is False
    assert v["securityContext"]["capabilities"] == {"drop": ["ALL"]}
    # The listener pods Monitoring selects are ARC's, labelled and with a port named `metrics`.
    assert ARC_LISTENER_LABELS == {"app.kubernetes.io/component": "runner-scale-set-listener"}
    assert ARC_LISTENER_PORT == "metrics"


def test_helm_values_exist_in_the_pinned_charts(plan):
    (controller,) = helm_values(plan, CONTROLLER_CHART)
    report = check_values(CONTROLLER_CHART, controller)
    assert report.unknown == []
    sets = helm_values(plan, SCALE_SET_CHART)
    assert len(sets) == 2
    for values in sets:
        # `template` is a Kubernetes PodTemplateSpec (validated as a Pod below), not chart keys.
        report = check_values(SCALE_SET_CHART, values, free_form=("template",))
        assert report.unknown == []
        assert "template" in report.stopped_at and "listenerTemplate" in report.stopped_at


def test_chart_check_catches_a_misspelled_value(plan):
    values = dict(sets_by_name(plan)["ml-dev-cpu"], maxRunner=3)
    assert check_values(SCALE_SET_CHART, values, free_form=("template",)).unknown == ["maxRunner"]


def test_runner_pods_and_kubernetes_objects_are_valid(plan):
    for values in sets_by_name(plan).values():
        assert_valid_k8s(pod_of(values))
    kinds = set()
    for manifest in k8s_objects(plan):
        if manifest.get("stringData") == SECRET:  # masked in the plan (asserted below): validate the rest
            manifest = {**manifest, "stringData": {}}
        assert_valid_k8s(manifest)
        kinds.add(manifest["kind"])
    assert kinds == {"Namespace", "ServiceAccount", "Secret"}


# -- scale sets ----------------------------------------------------------------------------------
def test_scale_sets_are_the_runs_on_labels_and_scale_from_zero(plan):
    sets = sets_by_name(plan)
    assert set(sets) == {"ml-dev-cpu", "ml-dev-gpu"}
    for name, v in sets.items():
        r = release(plan, name)  # release name == scale set name == runs-on label
        assert r.inputs["name"] == name and r.inputs["namespace"] == RUNNER_NAMESPACE
        assert r.inputs["version"] == HELM_CHARTS[SCALE_SET_CHART][0]
        assert v["minRunners"] == 0
        assert v["githubConfigUrl"] == URL
        assert v["controllerServiceAccount"] == {"namespace": ARC_NAMESPACE, "name": CONTROLLER_SERVICE_ACCOUNT}
        assert v["listenerTemplate"]["spec"]["nodeSelector"] == SYSTEM_NODE_SELECTOR
    assert (sets["ml-dev-cpu"]["maxRunners"], sets["ml-dev-gpu"]["maxRunners"]) == (6, 2)
    component = one(plan, "mlplatform:ci:CiRunners")
    assert all(r.parent == component.urn for r in plan.of_type(RELEASE))


def test_gpu_toleration_limit_and_node_selection_only_on_the_gpu_set(plan):
    sets = sets_by_name(plan)
    gpu, cpu = sets["ml-dev-gpu"]["template"]["spec"], sets["ml-dev-cpu"]["template"]["spec"]
    assert gpu["tolerations"] == [GPU_TOLERATION]
    assert gpu["nodeSelector"] == {GPU_LABEL: "true"}
    res = runner_container(sets["ml-dev-gpu"])["resources"]
    assert res["limits"][GPU_RESOURCE] == "1" and res["requests"][GPU_RESOURCE] == "1"
    assert "tolerations" not in cpu and "nodeSelector" not in cpu
    assert GPU_RESOURCE not in json.dumps(runner_container(sets["ml-dev-cpu"])["resources"])


def test_runner_pods_run_as_the_image_user_without_privileges_or_token(plan):
    for values in sets_by_name(plan).values():
        spec = values["template"]["spec"]
        assert spec["securityContext"] == {"runAsNonRoot": True, "runAsUser": RUNNER_UID,
                                           "seccompProfile": {"type": "RuntimeDefault"}}
        assert spec["automountServiceAccountToken"] is False
        assert spec["serviceAccountName"] == RUNNER_SERVICE_ACCOUNT
        c = runner_container(values)
        assert c["image"] == RUNNER_IMAGE and "@sha256:" in c["image"]
        assert c["securityContext"] == {"runAsNonRoot": True, "runAsUser": 1001, "allowPrivilegeEscalation": False,
                                        "capabilities": {"drop": ["ALL"]}}
    namespaces = {o["metadata"]["name"]: o["metadata"]["labels"] for o in k8s_objects(plan) if o["kind"] == "Namespace"}
    assert namespaces[RUNNER_NAMESPACE]["pod-security.kubernetes.io/enforce"] == "restricted"
    assert namespaces[ARC_NAMESPACE]["pod-security.kubernetes.io/enforce"] == "baseline"
    sa = one(plan, "kubernetes:core/v1:ServiceAccount").inputs
    assert sa["automountServiceAccountToken"] is False


def test_gpu_cold_start_keeps_the_node_and_sets_no_pod_deadline(plan):
    for values in sets_by_name(plan).values():
        t = values["template"]
        assert t["metadata"]["annotations"] == KEEP_NODE_ANNOTATIONS == {
            "karpenter.sh/do-not-disrupt": "true", "cluster-autoscaler.kubernetes.io/safe-to-evict": "false"}
        # ARC restarts a pod its deadline killed; the workflow's timeout-minutes bounds the job instead.
        assert "activeDeadlineSeconds" not in t["spec"]


# -- GitHub App secret ---------------------------------------------------------------------------
def test_github_app_credentials_reach_a_secret_and_the_values_only_name_it(plan):
    secret = one(plan, "kubernetes:core/v1:Secret")
    assert secret.inputs["metadata"]["name"] == GITHUB_SECRET
    assert secret.inputs["metadata"]["namespace"] == RUNNER_NAMESPACE  # the scale sets' namespace
    assert secret.inputs["stringData"] == SECRET and secret.inputs["type"] == "Opaque"
    for name, values in sets_by_name(plan).items():
        assert values["githubConfigSecret"] == GITHUB_SECRET  # a name: the pre-defined-secret form
        assert secret.urn in release(plan, name).depends_on
    text = plan.to_json()
    assert "clear-text-never-in-the-plan" not in text and "install-4242" not in text


def test_plain_credentials_are_made_secret_too_and_the_clear_text_check_can_fail():
    p = plan_of(lambda: runners(github_app=GitHubAppCredentials("12345", "install-4242", PRIVATE_KEY)))
    assert one(p, "kubernetes:core/v1:Secret").inputs["stringData"] == SECRET
    assert "clear-text-never-in-the-plan" not in p.to_json()
    leaky = plan_of(lambda: pulumi.export("key", PRIVATE_KEY))
    assert "clear-text-never-in-the-plan" in leaky.to_json()


def test_secret_keys_are_the_ones_arc_reads(monkeypatch):
    # With Output.secret disarmed the plan shows the Secret's data, so the key names can be checked.
    from mlplatform.components import ci_runners

    monkeypatch.setattr(ci_runners.pulumi.Output, "secret", staticmethod(pulumi.Output.from_input))
    p = plan_of(lambda: runners(github_app=GitHubAppCredentials("12345", "install-4242", PRIVATE_KEY)))
    assert one(p, "kubernetes:core/v1:Secret").inputs["stringData"] == {
        "github_app_id": "12345", "github_app_installation_id": "install-4242", "github_app_private_key": PRIVATE_KEY}
    assert tuple(sorted(GITHUB_APP_KEYS)) == ("github_app_id", "github_app_installation_id", "github_app_private_key")


def test_without_credentials_no_secret_is_made_and_the_name_is_still_used():
    made = []
    p = plan_of(lambda: made.append(runners()))
    assert p.of_type("kubernetes:core/v1:Secret") == []
    assert {v["githubConfigSecret"] for v in helm_values(p, SCALE_SET_CHART)} == {GITHUB_SECRET}
    assert made[0].github_secret_created is False and made[0].github_secret == GITHUB_SECRET


# -- IRSA ------------------------------------------------------------------------------------------
def test_irsa_role_trusts_only_the_runner_service_account(plan):
    role = one(plan, "aws:iam/role:Role")
    (stmt,) = json.loads(role.inputs["assumeRolePolicy"])["Statement"]
    host = ISSUER.removeprefix("https://")
    assert stmt["Principal"] == {"Federated": OIDC_ARN} and stmt["Action"] == "sts:AssumeRoleWithWebIdentity"
    assert stmt["Condition"] == {"StringEquals": {
        f"{host}:sub": f"system:serviceaccount:{RUNNER_NAMESPACE}:{RUNNER_SERVICE_ACCOUNT}",
        f"{host}:aud": "sts.amazonaws.com"}}
    assert role.inputs["tags"]["mlplatform:managed-by"] == "mlplatform"
    sa = one(plan, "kubernetes:core/v1:ServiceAccount").inputs["metadata"]
    assert sa["annotations"]["eks.amazonaws.com/role-arn"].startswith("arn:aws:iam::123456789012:role/ml-dev-runners")


def test_irsa_policy_is_ecr_push_to_the_repositories_and_the_mlflow_prefix_only(plan):
    role = one(plan, "aws:iam/role:Role")
    policies = {p.name: json.loads(p.inputs["policy"])["Statement"] for p in plan.of_type(ROLE_POLICY)}
    assert set(policies) == {"ml-dev-runners-ecr", "ml-dev-runners-mlflow"}
    assert all(p.inputs["role"].startswith("ml-dev-runners-") for p in plan.of_type(ROLE_POLICY))  # role.id
    assert all(p.parent == role.parent for p in plan.of_type(ROLE_POLICY))
    assert plan.of_type("aws:iam/rolePolicyAttachment:RolePolicyAttachment") == []
    repos = {one(plan, "aws:ecr/repository:Repository", f"reg-{r}").inputs["name"] for r in ("images", "models")}
    login, push = policies["ml-dev-runners-ecr"]
    assert (login["Action"], login["Resource"]) == ("ecr:GetAuthorizationToken", "*")
    assert push["Action"] == ECR_PUSH_PULL_ACTIONS
    assert sorted(a.split(":repository/")[1] for a in push["Resource"]) == sorted(repos)
    listing, objects, kms = policies["ml-dev-runners-mlflow"]
    assert listing["Action"] == "s3:ListBucket" and listing["Condition"] == {"StringLike": {"s3:prefix": ["mlflow/*"]}}
    assert re.fullmatch(r"arn:aws:s3:::[a-z0-9.-]+/mlflow/\*", objects["Resource"])
    assert re.fullmatch(r"arn:aws:s3:::[a-z0-9.-]+", listing["Resource"])
    assert set(objects["Action"]) == {"s3:GetObject", "s3:PutObject", "s3:DeleteObject"}
    assert kms["Action"] == ["kms:Decrypt", "kms:GenerateDataKey"] and kms["Resource"].startswith("arn:aws:kms:")
    for statements in policies.values():
        for s in statements:  # nothing else, and never "*" on "*" beyond the ECR login
            assert s["Effect"] == "Allow"
            assert s["Resource"] != "*" or s["Action"] == "ecr:GetAuthorizationToken"


# -- adopt an existing controller ----------------------------------------------------------------
def test_adopting_a_controller_installs_none_and_binds_the_scale_sets_to_it():
    p = plan_of(lambda: runners(existing_controller=ExistingController("actions", "arc-gha-rs-controller")))
    assert helm_values(p, CONTROLLER_CHART) == []
    assert [o["metadata"]["name"] for o in k8s_objects(p) if o["kind"] == "Namespace"] == [RUNNER_NAMESPACE]
    for v in helm_values(p, SCALE_SET_CHART):
        assert v["controllerServiceAccount"] == {"namespace": "actions", "name": "arc-gha-rs-controller"}


def test_no_gpu_scale_set_without_gpus():
    p = plan_of(lambda: runners(gpu=None))
    assert [v["runnerScaleSetName"] for v in helm_values(p, SCALE_SET_CHART)] == ["ml-dev-cpu"]


# -- the reusable scale set (per-team runner sets call it) ---------------------------------------
class _Team(pulumi.ComponentResource):
    def __init__(self, name: str, args: ScaleSetArgs):
        super().__init__("test:team:Team", name)
        runner_scale_set(self, f"{name}-gpu", args, None, at="teams.0.runners.gpu")


def test_runner_scale_set_builds_one_set_in_any_namespace():
    args = ScaleSetArgs(github_config_url="https://github.com/acme/vision", github_config_secret="github-app",
                        service_account="team-vision", namespace="team-vision", max_runners=2, gpus=1,
                        gpu_node_selector={GPU_LABEL: "true", POOL_LABEL: "gpu-1x"}, labels={"mlplatform.io/team": "vision"})
    p = plan_of(lambda: _Team("ml-dev-team-vision", args))
    r = one(p, RELEASE)
    v = r.inputs["values"]
    assert r.inputs["name"] == v["runnerScaleSetName"] == "ml-dev-team-vision-gpu"
    assert r.inputs["namespace"] == "team-vision" and r.parent == one(p, "test:team:Team").urn
    spec = v["template"]["spec"]
    assert spec["serviceAccountName"] == "team-vision" and spec["nodeSelector"][POOL_LABEL] == "gpu-1x"
    assert v["template"]["metadata"]["labels"]["mlplatform.io/team"] == "vision"
    assert check_values(SCALE_SET_CHART, v, free_form=("template",)).unknown == []
    assert_valid_k8s(pod_of(v))


def test_runner_scale_set_validates_with_the_callers_field_names():
    args = ScaleSetArgs(github_config_url=URL, github_config_secret="s", service_account="sa", min_runners=3, max_runners=1)
    with pytest.raises(ValidationError, match=r"^teams\.0\.runners\.gpu\.max_runners: 1 is less than min_runners 3; "
                                              r"raise max_runners or lower min_runners$"):
        plan_of(lambda: _Team("t", args))


# -- bad input ------------------------------------------------------------------------------------
# RunnerScale's own bounds (components/args/ci_runners.py; the spec's runners.cpu/gpu ARE RunnerScale) are
# refused as it is built, before any component.
@pytest.mark.parametrize("scale, message", [
    ((2, 1), "RunnerScale: min (2) is greater than max (1) in runner scale set; raise max or lower min"),
    ((0, 0), "max_runners: input should be greater than or equal to 1; use a value >= 1"),
    ((-1, 1), "min_runners: input should be greater than or equal to 0; use a value >= 0"),
    ((0, 2.5), "max_runners: input should be a valid integer, got a number with a fractional part"),
])
def test_runner_scale_bounds_are_refused_as_it_is_built(scale, message):
    with pytest.raises(ValidationError) as e:
        RunnerScale(*scale)
    assert str(e.value).startswith(message) and "\n" not in str(e.value)


@pytest.mark.parametrize("fields, message", [
    ({"github_config_url": "github.com/acme"}, "github_config_url: 'github.com/acme' is not a GitHub organization"),
    ({"github_config_url": "https://github.com/acme/repo/extra"}, "github_config_url: "),
    ({"namespace": "arc-systems"}, "namespace: 'arc-systems' is also the controller's namespace"),
    ({"namespace": "Runners"}, "namespace: 'Runners' is not a namespace name"),
    ({"gpu_node_selector": {GPU_LABEL: True}}, "gpu_node_selector: must map label names to text values"),
    ({"existing_controller": ExistingController("Bad NS", "sa")}, "existing_controller.namespace: 'Bad NS' is not"),
    ({"registry": "my-registry"}, "registry: must be an ArtifactRegistry, got str"),
    ({"oidc_issuer_url": None}, "oidc_issuer_url: required for the runners' IAM role; pass the Cluster's oidc_issuer_url"),
    ({"github_app": {"app_id": "1"}}, "github_app: must be GitHubAppCredentials, got dict"),
])
def test_bad_input_is_refused_and_nothing_is_created(fields, message):
    errors = []

    def run():
        try:
            runners(**fields)
        except ValidationError as e:
            errors.append(e)

    p = plan_of(run)
    assert len(errors) == 1 and str(errors[0]).startswith(message), errors
    assert "\n" not in str(errors[0])
    registry = one(p, "mlplatform:registry:ArtifactRegistry")
    assert all(r.urn == registry.urn or r.parent == registry.urn for r in p.resources)


def test_a_name_too_long_for_runner_pod_names_is_refused():
    with pytest.raises(ValidationError, match=r"^name: 'ml-a-very-long-stack-name-that-goes-on-and-on' is not"):
        plan_of(lambda: runners("ml-a-very-long-stack-name-that-goes-on-and-on"))


# -- the stack -----------------------------------------------------------------------------------
@pytest.mark.parametrize("profile", ["pragmatic", "growth", "full"])
def test_scale_set_min_and_max_follow_the_profile(profile_plans, profile):
    runners_yaml = profile_defaults(profile)["runners"]
    sets = sets_by_name(profile_plans[profile])
    assert sets["ml-dev-cpu"]["minRunners"] == runners_yaml["cpu"]["min"] == 0
    assert sets["ml-dev-cpu"]["maxRunners"] == runners_yaml["cpu"]["max"]
    assert sets["ml-dev-gpu"]["minRunners"] == runners_yaml["gpu"]["min"] == 0
    assert sets["ml-dev-gpu"]["maxRunners"] == runners_yaml["gpu"]["max"]
    assert profile_plans[profile].outputs["runner_labels"] == {"cpu": "ml-dev-cpu", "gpu": "ml-dev-gpu"}
    for values in sets.values():
        assert check_values(SCALE_SET_CHART, values, free_form=("template",)).unknown == []


def test_profile_scale_set_sizes_are_the_design_table(profile_plans):
    sizes = {p: tuple((s["minRunners"], s["maxRunners"]) for _, s in sorted(sets_by_name(plan).items()))
             for p, plan in profile_plans.items()}
    assert sizes == {"pragmatic": ((0, 4), (0, 1)), "growth": ((0, 10), (0, 4)), "full": ((0, 30), (0, 8))}


def test_stack_pins_gpu_runners_to_the_first_pool_and_cpu_runners_to_the_batch_pool(profile_plans):
    small = sets_by_name(profile_plans["pragmatic"])
    assert small["ml-dev-gpu"]["template"]["spec"]["nodeSelector"] == {GPU_LABEL: "true", POOL_LABEL: "gpu"}
    assert "nodeSelector" not in small["ml-dev-cpu"]["template"]["spec"]  # no batch pool: system nodes
    big = sets_by_name(profile_plans["full"])
    assert big["ml-dev-gpu"]["template"]["spec"]["nodeSelector"] == {GPU_LABEL: "true", POOL_LABEL: "gpu-1x"}
    cpu = big["ml-dev-cpu"]["template"]["spec"]
    assert cpu["nodeSelector"] == {POOL_LABEL: CPU_BATCH_POOL} and cpu["tolerations"] == [CPU_BATCH_TOLERATION]


def test_stack_wires_the_registry_and_the_monitoring_namespace(profile_plans):
    p = profile_plans["pragmatic"]
    ecr = next(json.loads(r.inputs["policy"]) for r in p.of_type(ROLE_POLICY) if r.name == "ml-dev-runners-ecr")
    assert sorted(a.rsplit("/", 1)[-1] for a in ecr["Statement"][1]["Resource"]) == ["images", "models"]
    monitors = [r for r in p.of_type("kubernetes:monitoring.coreos.com/v1:PodMonitor") if r.name.endswith("arc-listeners")]
    assert monitors[0].inputs["spec"]["namespaceSelector"] == {"matchNames": [ARC_NAMESPACE]}
    assert one(p, RELEASE, "ml-dev-arc").inputs["namespace"] == ARC_NAMESPACE


def test_offline_plan_without_the_secret_warns_once_and_shows_it_unset(profile_plans):
    p = profile_plans["pragmatic"]
    runner_warnings = [w for w in p.warnings if w.startswith("runners:")]
    assert len(runner_warnings) == 1
    assert "GitHub App secret config" in runner_warnings[0] and "`preview` and `up` refuse" in runner_warnings[0]
    assert p.outputs["github_app_secret"].startswith("unset (mlplatform:github_app_id")
    assert p.of_type("kubernetes:core/v1:Secret") == [] or all(
        s.inputs["metadata"]["name"] != GITHUB_SECRET for s in p.of_type("kubernetes:core/v1:Secret"))


def test_stack_with_the_secret_config_makes_the_secret_and_does_not_warn():
    spec = load_spec("pragmatic", sets=["runners.github_config_url=https://github.com/acme"])
    config = {"mlplatform:github_app_id": "12345", "mlplatform:github_app_installation_id": "install-4242",
              "mlplatform:github_app_private_key": PRIVATE_KEY}
    p = run_offline(lambda: build(spec, "dev"), region=spec.region, config=config)
    assert not [w for w in p.warnings if w.startswith("runners:")]
    secret = next(s for s in p.of_type("kubernetes:core/v1:Secret") if s.inputs["metadata"]["name"] == GITHUB_SECRET)
    assert secret.inputs["stringData"] == SECRET
    assert p.outputs["github_app_secret"] == f"{RUNNER_NAMESPACE}/{GITHUB_SECRET}"
    assert {v["githubConfigUrl"] for v in helm_values(p, SCALE_SET_CHART)} == {"https://github.com/acme"}
    assert "clear-text-never-in-the-plan" not in p.to_json()


def test_runners_off_means_no_runners_and_no_listener_monitor():
    p = stack_plan(load_spec("pragmatic", sets=["runners.enabled=false"]))
    assert p.of_type("mlplatform:ci:CiRunners") == [] and helm_values(p, SCALE_SET_CHART) == []
    assert not [r for r in p.of_type("kubernetes:monitoring.coreos.com/v1:PodMonitor") if "arc" in r.name]
    assert "runner_labels" not in p.outputs and not [w for w in p.warnings if w.startswith("runners:")]


def test_stack_adopting_a_controller():
    p = stack_plan(load_spec("pragmatic", sets=["runners.existing_controller.namespace=actions",
                                                "runners.existing_controller.service_account=arc-ctl"]))
    assert helm_values(p, CONTROLLER_CHART) == []
    assert {json.dumps(v["controllerServiceAccount"], sort_keys=True) for v in helm_values(p, SCALE_SET_CHART)} == {
        json.dumps({"name": "arc-ctl", "namespace": "actions"}, sort_keys=True)}
    monitor = next(r for r in p.of_type("kubernetes:monitoring.coreos.com/v1:PodMonitor") if "arc" in r.name)
    assert monitor.inputs["spec"]["namespaceSelector"] == {"matchNames": ["actions"]}


@pytest.mark.parametrize("kind", ["cpu", "gpu"])
def test_spec_refuses_runner_max_below_min(kind):
    with pytest.raises(SpecError) as e:
        load_spec("pragmatic", sets=[f"runners.{kind}.min=5", f"runners.{kind}.max=2"])
    assert str(e.value) == (f"runners.{kind}: min (5) is greater than max (2) in runner scale set; "
                            "raise max or lower min")


# -- preview/up refuse without the secret (stacks/cloud/secrets_check.py) -------------------------------
SECURE = {k: {"secure": "v1:c2VjcmV0"} for k in GITHUB_APP_CONFIG_KEYS}


def test_missing_secrets_lists_what_is_unset():
    spec = load_spec("pragmatic", sets=["runners.github_config_url=https://github.com/acme"])
    assert missing_secrets(spec, {}) == list(GITHUB_APP_CONFIG_KEYS)
    assert missing_secrets(spec, {**SECURE, "mlplatform:github_app_id": ""}) == ["mlplatform:github_app_id"]
    assert missing_secrets(spec, SECURE) == []
    assert missing_secrets(load_spec("pragmatic", sets=["runners.enabled=false"]), {}) == []


def test_check_deployable_refuses_with_one_line_naming_the_keys_and_the_fix():
    spec = load_spec("pragmatic", sets=["runners.github_config_url=https://github.com/acme"])
    with pytest.raises(SpecError) as e:
        check_deployable(spec, {"mlplatform:github_app_id": {"secure": "x"}})
    msg = str(e.value)
    assert msg.startswith("mlplatform:github_app_installation_id, mlplatform:github_app_private_key: not set while "
                          "runners are enabled")
    assert "pulumi config set --secret mlplatform:github_app_id" in msg and "\n" not in msg
    check_deployable(spec, SECURE)  # all set: no error
    check_deployable(load_spec("pragmatic", sets=["runners.enabled=false"]), {})


def test_check_deployable_refuses_a_private_key_in_clear_text_and_a_missing_url():
    spec = load_spec("pragmatic", sets=["runners.github_config_url=https://github.com/acme"])
    clear = {**SECURE, "mlplatform:github_app_private_key": PRIVATE_KEY}
    assert stored_in_clear(spec, clear) == ["mlplatform:github_app_private_key"]
    with pytest.raises(SpecError, match=r"^mlplatform:github_app_private_key: is stored in clear text"):
        check_deployable(spec, clear)
    with pytest.raises(SpecError, match=r"^runners\.github_config_url: not set while runners are enabled"):
        check_deployable(load_spec("pragmatic"), SECURE)


def test_require_runner_settings_needs_the_app_and_the_url():
    spec = load_spec("pragmatic", sets=["runners.github_config_url=https://github.com/acme"])
    with pytest.raises(SpecError, match=r"^mlplatform:github_app_id, .*: not set while runners are enabled"):
        require_runner_settings(spec, github_app_set=False)
    require_runner_settings(spec, github_app_set=True)
    with pytest.raises(SpecError, match=r"^runners\.github_config_url: not set"):
        require_runner_settings(load_spec("pragmatic"), github_app_set=True)
    require_runner_settings(load_spec("pragmatic", sets=["runners.enabled=false"]), github_app_set=False)


def test_profiles_list_the_runners():
    from mlplatform.stacks.config.profiles import components_of

    assert "CiRunners" in components_of(load_spec("pragmatic"))
    assert not [c for c in components_of(load_spec("pragmatic", sets=["runners.enabled=false"])) if "CiRunners" in c]
    adopted = load_spec("pragmatic", sets=["runners.existing_controller.namespace=actions",
                                           "runners.existing_controller.service_account=arc"])
    assert "CiRunners (adopted controller)" in components_of(adopted)
