"""TeamSpace under the Pulumi mock monitor: quota, deny-by-default network, RBAC, access entries, IRSA."""

from __future__ import annotations

import json

import pulumi
import pulumi_kubernetes as k8s
import pytest

from chartcheck import check_values
from conftest import assert_valid_k8s, k8s_objects, one, plan_of
from mlplatform.components._common import ValidationError
from mlplatform.components.artifact_registry import ArtifactRegistry, ArtifactRegistryArgs
from mlplatform.components.ci_runners import CiRunners, CiRunnersArgs, RunnerScale
from mlplatform.components.team_space import GROUP_PREFIX, TeamRunners, TeamSpace, TeamSpaceArgs
from mlplatform.stacks.plan.mocks import ACCOUNT_ID
from mlplatform.stacks.program import plan as stack_plan
from mlplatform.stacks.config.spec import SpecError, load_spec, pools_gpu_limit

ISSUER = "https://oidc.eks.us-east-1.amazonaws.com/id/ABCDEF0123456789"
OIDC_ARN = f"arn:aws:iam::{ACCOUNT_ID}:oidc-provider/oidc.eks.us-east-1.amazonaws.com/id/ABCDEF0123456789"
ALICE = f"arn:aws:iam::{ACCOUNT_ID}:role/alice"
BOB = f"arn:aws:iam::{ACCOUNT_ID}:user/bob"
NP = "kubernetes:networking.k8s.io/v1:NetworkPolicy"
READ_VERBS = {"get", "list", "watch"}


def args(reg, provider, **over):
    fields = dict(team="vision", registry=reg, ecr_repository_prefix="mlplatform/dev", cluster_name="ml-dev",
                  oidc_provider_arn=OIDC_ARN, oidc_issuer_url=ISSUER, k8s_provider=provider, gpu_quota=2,
                  cpu_quota=16, memory_quota_gib=64, pvc_quota=5, storage_quota_gib=200, principals=[ALICE, BOB])
    fields.update(over)
    return TeamSpaceArgs(**fields)


def program(**over):
    def run():
        reg = ArtifactRegistry("reg", ArtifactRegistryArgs(repository_prefix="mlplatform/dev"))
        team = TeamSpace("ml-dev-team-vision", args(reg, k8s.Provider("k8s", kubeconfig="{}"), **over))
        for attr in ("role_arn", "artifact_uri", "repository_prefix_url"):
            pulumi.export(attr, getattr(team, attr))
        pulumi.export("bucket", reg.bucket_name)
        pulumi.export("attrs", {"namespace": team.namespace, "group": team.group, "sa": team.service_account})
    return run


@pytest.fixture(scope="module")
def plan():
    return plan_of(program())


def manifest(plan, kind, name):
    found = [m for m in k8s_objects(plan) if m["kind"] == kind and m["metadata"]["name"] == name]
    assert len(found) == 1, f"{kind}/{name}: {len(found)} found"
    return found[0]


def policies(plan):
    return {m["metadata"]["name"]: m["spec"] for m in k8s_objects(plan) if m["kind"] == "NetworkPolicy"}


# -- namespace, quota, defaults --------------------------------------------------------------------
def test_namespace_is_labelled_and_enforces_baseline(plan):
    ns = manifest(plan, "Namespace", "vision")
    labels = ns["metadata"]["labels"]
    assert labels["mlplatform.io/team"] == "vision"
    assert labels["pod-security.kubernetes.io/enforce"] == "baseline"
    assert plan.outputs["attrs"] == {"namespace": "vision", "group": "mlplatform:team:vision", "sa": "vision-ml"}


def test_resource_quota_caps_gpus_cpu_memory_and_pvcs(plan):
    quota = manifest(plan, "ResourceQuota", "team-quota")
    assert quota["metadata"]["namespace"] == "vision"
    assert quota["spec"]["hard"] == {
        "requests.nvidia.com/gpu": "2", "requests.cpu": "16", "requests.memory": "64Gi",
        "persistentvolumeclaims": "5", "requests.storage": "200Gi"}


def test_zero_gpu_quota_is_a_hard_zero():
    p = plan_of(program(gpu_quota=0))
    assert manifest(p, "ResourceQuota", "team-quota")["spec"]["hard"]["requests.nvidia.com/gpu"] == "0"


def test_limit_range_gives_every_container_requests(plan):
    (limit,) = manifest(plan, "LimitRange", "team-defaults")["spec"]["limits"]
    assert limit["type"] == "Container"
    assert set(limit["defaultRequest"]) == {"cpu", "memory"} and "memory" in limit["default"]


# -- network: deny by default -----------------------------------------------------------------------
def test_default_deny_selects_every_pod_and_allows_nothing(plan):
    deny = policies(plan)["default-deny"]
    assert deny == {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]}


def test_allows_are_only_dns_own_pods_mlflow_https_and_the_metrics_scrape(plan):
    pol = policies(plan)
    assert set(pol) == {"default-deny", "allow-dns", "allow-same-namespace", "allow-mlflow", "allow-https-egress",
                        "allow-monitoring-scrape"}
    (dns,) = pol["allow-dns"]["egress"]
    assert dns["to"] == [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "kube-system"}},
                          "podSelector": {"matchLabels": {"k8s-app": "kube-dns"}}}]
    assert sorted((p["protocol"], p["port"]) for p in dns["ports"]) == [("TCP", 53), ("UDP", 53)]
    (mlflow,) = pol["allow-mlflow"]["egress"]
    assert mlflow == {"to": [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "mlflow"}}}],
                      "ports": [{"protocol": "TCP", "port": 5000}]}
    (https,) = pol["allow-https-egress"]["egress"]
    assert https["ports"] == [{"protocol": "TCP", "port": 443}]
    # Ingress is only ever allowed from the team's own pods, and to the metrics port of served models
    # from the monitoring namespace (no other namespace, no IP block).
    for name, spec in pol.items():
        for rule in spec.get("ingress", []):
            assert rule in ({"from": [{"podSelector": {}}]},
                            {"from": [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "monitoring"}}}],
                             "ports": [{"protocol": "TCP", "port": "metrics"}]}), name
        for rule in spec.get("egress", []):
            assert rule.get("to"), f"{name}: an egress rule without `to` allows every destination"
            if any("ipBlock" in peer for peer in rule["to"]):
                assert rule["ports"] == [{"protocol": "TCP", "port": 443}], name


def test_mlflow_namespace_and_port_follow_the_args():
    pol = policies(plan_of(program(mlflow_namespace="tracking", mlflow_port=8080)))
    (rule,) = pol["allow-mlflow"]["egress"]
    assert rule["to"][0]["namespaceSelector"]["matchLabels"] == {"kubernetes.io/metadata.name": "tracking"}
    assert rule["ports"] == [{"protocol": "TCP", "port": 8080}]


# -- RBAC ------------------------------------------------------------------------------------------
def _rules_grant(rules, group, resource, verb):
    return any(group in r["apiGroups"] and resource in r["resources"] and verb in r["verbs"] for r in rules)


def test_team_group_gets_a_namespaced_role(plan):
    binding = manifest(plan, "RoleBinding", "team-edit")
    assert binding["metadata"]["namespace"] == "vision"
    assert binding["subjects"] == [{"kind": "Group", "apiGroup": "rbac.authorization.k8s.io",
                                    "name": "mlplatform:team:vision"}]
    assert binding["roleRef"] == {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "team-edit"}
    rules = manifest(plan, "Role", "team-edit")["rules"]
    assert _rules_grant(rules, "batch", "jobs", "create") and _rules_grant(rules, "", "pods", "delete")
    # The team can't loosen its own fences.
    for group, resource in (("networking.k8s.io", "networkpolicies"), ("", "resourcequotas"), ("", "limitranges"),
                            ("rbac.authorization.k8s.io", "roles"), ("rbac.authorization.k8s.io", "rolebindings")):
        for verb in ("create", "update", "patch", "delete"):
            assert not _rules_grant(rules, group, resource, verb), (group, resource, verb)


def test_cluster_wide_access_is_read_only_and_nothing_is_admin(plan):
    crb = manifest(plan, "ClusterRoleBinding", "mlplatform:team:vision:cluster-view")
    assert crb["subjects"][0]["name"] == "mlplatform:team:vision"
    assert crb["roleRef"] == {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole",
                              "name": "mlplatform:team:vision:cluster-view"}
    view = manifest(plan, "ClusterRole", "mlplatform:team:vision:cluster-view")
    assert view["rules"] and all(set(r["verbs"]) <= READ_VERBS for r in view["rules"])
    # Cluster-wide read covers cluster-scoped objects, not other teams' pods or config.
    assert not any(res in r["resources"] for r in view["rules"] for res in ("pods", "secrets", "configmaps"))
    bindings = [m for m in k8s_objects(plan) if m["kind"] in ("RoleBinding", "ClusterRoleBinding")]
    assert len(bindings) == 2
    for b in bindings:
        assert b["roleRef"]["name"] not in ("cluster-admin", "admin", "edit")
    for role in (m for m in k8s_objects(plan) if m["kind"] in ("Role", "ClusterRole")):
        for r in role["rules"]:
            assert "*" not in r["verbs"] + r["resources"] + r["apiGroups"], role["metadata"]["name"]


def test_access_entries_map_each_principal_to_the_team_group(plan):
    entries = plan.of_type("aws:eks/accessEntry:AccessEntry")
    assert sorted(e.inputs["principalArn"] for e in entries) == sorted([ALICE, BOB])
    for e in entries:
        assert e.inputs["kubernetesGroups"] == [f"{GROUP_PREFIX}vision"]
        assert e.inputs["type"] == "STANDARD" and e.inputs["clusterName"] == "ml-dev"
        assert e.inputs["tags"]["mlplatform:team"] == "vision"
    # Access comes from RBAC alone: no EKS access policy (cluster-admin or otherwise) is associated.
    assert not plan.of_type("aws:eks/accessPolicyAssociation:AccessPolicyAssociation")


def test_no_principals_no_access_entries():
    p = plan_of(program(principals=[], cluster_name=None))
    assert not p.of_type("aws:eks/accessEntry:AccessEntry")


# -- IRSA ------------------------------------------------------------------------------------------
def _statements(plan, name):
    return json.loads(one(plan, "aws:iam/rolePolicy:RolePolicy", name).inputs["policy"])["Statement"]


def test_irsa_role_trusts_only_the_team_service_account(plan):
    role = one(plan, "aws:iam/role:Role", "ml-dev-team-vision-ml")
    (stmt,) = json.loads(role.inputs["assumeRolePolicy"])["Statement"]
    host = ISSUER.removeprefix("https://")
    assert stmt["Principal"] == {"Federated": OIDC_ARN}
    assert stmt["Condition"] == {"StringEquals": {f"{host}:sub": "system:serviceaccount:vision:vision-ml",
                                                  f"{host}:aud": "sts.amazonaws.com"}}
    sa = manifest(plan, "ServiceAccount", "vision-ml")
    assert sa["metadata"]["namespace"] == "vision"
    assert sa["metadata"]["annotations"] == {"eks.amazonaws.com/role-arn": plan.outputs["role_arn"]}
    assert one(plan, "kubernetes:core/v1:ServiceAccount").inputs["automountServiceAccountToken"] is False


def test_irsa_policies_reach_only_the_team_prefixes(plan):
    bucket_arn = f"arn:aws:s3:::{plan.outputs['bucket']}"
    s3 = {s["Sid"]: s for s in _statements(plan, "ml-dev-team-vision-ml-artifacts")}
    assert s3["ObjectsUnderPrefix"]["Resource"] == f"{bucket_arn}/teams/vision/*"
    assert s3["ListPrefix"]["Resource"] == bucket_arn
    assert s3["ListPrefix"]["Condition"] == {"StringLike": {"s3:prefix": ["teams/vision/*"]}}
    ecr = {s["Sid"]: s for s in _statements(plan, "ml-dev-team-vision-ml-images")}
    assert ecr["TeamRepositories"]["Resource"] == (
        f"arn:aws:ecr:us-east-1:{ACCOUNT_ID}:repository/mlplatform/dev/teams/vision/*")
    assert "ecr:PutImage" in ecr["TeamRepositories"]["Action"]
    for stmt in [*s3.values(), *ecr.values()]:
        actions = stmt["Action"] if isinstance(stmt["Action"], list) else [stmt["Action"]]
        assert not any(a.endswith("*") for a in actions), stmt
        assert stmt["Effect"] == "Allow"
        if stmt["Resource"] == "*":
            # docker login: AWS defines ecr:GetAuthorizationToken on no resource; nothing else is on "*".
            assert actions == ["ecr:GetAuthorizationToken"], stmt
        else:
            resources = stmt["Resource"] if isinstance(stmt["Resource"], list) else [stmt["Resource"]]
            assert all("teams/vision/" in r or r in (bucket_arn,) or ":kms:" in r for r in resources), stmt


def test_outputs_name_the_team_prefixes(plan):
    assert plan.outputs["artifact_uri"] == f"s3://{plan.outputs['bucket']}/teams/vision/"
    assert plan.outputs["repository_prefix_url"] == (
        f"{ACCOUNT_ID}.dkr.ecr.us-east-1.amazonaws.com/mlplatform/dev/teams/vision/")
    assert plan.outputs["role_arn"].startswith(f"arn:aws:iam::{ACCOUNT_ID}:role/ml-dev-team-vision-ml")


def test_every_kubernetes_object_is_valid_and_uses_the_cluster_provider(plan):
    objects = k8s_objects(plan)
    assert {m["kind"] for m in objects} == {"Namespace", "ResourceQuota", "LimitRange", "NetworkPolicy", "Role",
                                            "RoleBinding", "ClusterRole", "ClusterRoleBinding", "ServiceAccount"}
    for m in objects:
        assert_valid_k8s(m, strict=True)
    for r in plan.resources:
        if r.custom and r.type.startswith("kubernetes:"):
            assert r.inputs.get("metadata", {}).get("namespace", "vision") == "vision"


def test_aws_resources_carry_ownership_tags(plan):
    for r in plan.resources:
        if r.type in ("aws:iam/role:Role", "aws:eks/accessEntry:AccessEntry") and "team" in r.name:
            assert r.inputs["tags"]["mlplatform:managed-by"] == "mlplatform"
            assert r.inputs["tags"]["mlplatform:component"] == "ml-dev-team-vision"


# -- validation ------------------------------------------------------------------------------------
@pytest.mark.parametrize("over, message", [
    ({"team": "Vision_1"}, r"^team: 'Vision_1' is not a DNS-1123 label; use lowercase letters"),
    ({"team": "-vision"}, r"^team: '-vision' is not a DNS-1123 label"),
    ({"team": "mlflow"}, r"^team: 'mlflow' is a namespace the platform or Kubernetes uses; pick another name"),
    ({"team": "kube-team"}, r"^team: 'kube-team' is a namespace the platform"),
    ({"gpu_quota": -1}, r"^gpu_quota: input should be greater than or equal to 0; use a value >= 0$"),
    ({"cpu_quota": True}, r"^cpu_quota: True is not a number"),
    ({"pvc_quota": 1.5}, r"^pvc_quota: input should be a valid integer, got a number with a fractional part"),
    ({"principals": ["alice"]}, r"^principals: 'alice' is not an IAM role or user ARN; use arn:aws:iam::"),
    ({"principals": [ALICE, ALICE]}, r"^principals: .* is listed twice; list each principal once$"),
    ({"cluster_name": None}, r"^cluster_name: required when principals are given"),
    ({"ecr_repository_prefix": "/mlplatform/"}, r"^ecr_repository_prefix: '/mlplatform/' is not an ECR repository prefix"),
    ({"mlflow_namespace": "ML"}, r"^mlflow_namespace: 'ML' is not a Kubernetes namespace name"),
    ({"mlflow_port": 0}, r"^mlflow_port: 0 is not a port"),
])
def test_bad_args_are_refused_before_anything_is_made(over, message):
    with pytest.raises(ValidationError, match=message):
        plan_of(program(**over))


def test_a_name_too_long_for_iam_is_refused():
    def run():
        reg = ArtifactRegistry("reg", ArtifactRegistryArgs())
        TeamSpace("ml-" + "s" * 30 + "-team-" + "t" * 20, args(reg, None))
    with pytest.raises(ValidationError, match=r"^name: .* is 59 characters; IAM role names would be too long; use at most 53"):
        plan_of(run)


# -- in the stack: wiring and quota satisfiability ---------------------------------------------------
@pytest.fixture(scope="module")
def growth_plan():
    return stack_plan(load_spec("growth", overrides={"teams": [
        {"name": "vision", "gpu_quota": 6, "principals": [ALICE]}, {"name": "nlp", "gpu_quota": 2}]}))


def test_stack_builds_one_team_space_per_team(growth_plan):
    spaces = growth_plan.of_type("mlplatform:teams:TeamSpace")
    assert sorted(s.name for s in spaces) == ["ml-dev-team-nlp", "ml-dev-team-vision"]
    (entry,) = [e for e in growth_plan.of_type("aws:eks/accessEntry:AccessEntry") if "-team-" in e.name]
    assert entry.inputs["principalArn"] == ALICE
    assert entry.inputs["clusterName"] == "ml-dev" and entry.inputs["kubernetesGroups"] == ["mlplatform:team:vision"]
    images = json.loads(one(growth_plan, "aws:iam/rolePolicy:RolePolicy", "ml-dev-team-nlp-ml-images").inputs["policy"])
    assert images["Statement"][1]["Resource"].endswith(":repository/mlplatform/dev/teams/nlp/*")
    assert growth_plan.outputs["teams"]["vision"]["artifact_uri"].endswith("/teams/vision/")
    quotas = {m["metadata"]["namespace"]: m["spec"]["hard"]["requests.nvidia.com/gpu"]
              for m in k8s_objects(growth_plan) if m["kind"] == "ResourceQuota"}
    assert quotas == {"vision": "6", "nlp": "2"}


def test_pragmatic_builds_listed_teams_too():
    p = stack_plan(load_spec("pragmatic", overrides={"teams": [{"name": "solo", "gpu_quota": 1}]}))
    assert [s.name for s in p.of_type("mlplatform:teams:TeamSpace")] == ["ml-dev-team-solo"]


def test_pools_gpu_limit_per_profile():
    assert pools_gpu_limit(load_spec("full")) == 24  # gpu-1x 8 + gpu-multi 16
    assert pools_gpu_limit(load_spec("pragmatic")) == 2  # managed: max 2 x 1 GPU


def test_gpu_quotas_over_the_pools_limit_are_refused_naming_both_numbers():
    teams = [{"name": "vision", "gpu_quota": 6}, {"name": "nlp", "gpu_quota": 4}]
    with pytest.raises(SpecError, match=r"^teams: the teams' GPU quotas add up to 10 \(vision 6, nlp 4\) but the GPU "
                                        r"pools can run at most 8 GPUs; .*gpu.oversubscribe_gpus: true"):
        load_spec("growth", overrides={"teams": teams})
    spec = load_spec("growth", overrides={"teams": teams, "gpu": {"oversubscribe_gpus": True}})
    assert sum(t.gpu_quota for t in spec.teams) == 10
    load_spec("growth", overrides={"teams": teams, "gpu": {"pools": [
        {"name": "gpu-1x", "instance_types": ["g6.xlarge"], "max": 8, "gpu_limit": 10}]}})


def test_adopted_gpu_nodes_have_no_known_limit():
    spec = load_spec("pragmatic", overrides={"gpu": {"existing": {"node_names": ["ip-10-0-1-1"]}},
                                             "teams": [{"name": "vision", "gpu_quota": 50}]})
    assert pools_gpu_limit(spec) is None and spec.teams[0].gpu_quota == 50


@pytest.mark.parametrize("teams, extra, message", [
    ([{"name": "Vision"}], {}, r"^teams.0.name: 'Vision' is not a DNS-1123 label of at most 30 characters"),
    ([{"name": "a" * 31}], {}, r"^teams.0.name: 'a{31}' is not a DNS-1123 label of at most 30 characters"),
    ([{"name": "nlp"}, {"name": "nlp"}], {}, r"^teams.1.name: team 'nlp' is listed twice; give each team one entry$"),
    ([{"name": "nlp", "cpu_quota": -2}], {}, r"^teams.0.cpu_quota: input should be greater than or equal to 0; use a value >= 0$"),
    ([{"name": "nlp", "principals": ["bob"]}], {}, r"^teams.0.principals: 'bob' is not an IAM role or user ARN"),
    ([{"name": "a", "principals": [ALICE]}, {"name": "b", "principals": [ALICE]}], {},
     r"^teams.1.principals: .*role/alice is already in team 'a'; an IAM principal has one EKS access entry"),
    ([{"name": "a", "principals": [ALICE]}], {"cluster": {"admin_principal_arns": [ALICE]}},
     r"^teams.0.principals: .*role/alice is already in cluster.admin_principal_arns"),
])
def test_spec_refuses_bad_teams(teams, extra, message):
    with pytest.raises(SpecError, match=message):
        load_spec("growth", overrides={"teams": teams, **extra})


# -- the team's own runner scale sets -----------------------------------------------------------------
def runner_program(cpu=RunnerScale(0, 2), gpu=RunnerScale(0, 1)):
    def run():
        reg = ArtifactRegistry("reg", ArtifactRegistryArgs(repository_prefix="mlplatform/dev"))
        provider = k8s.Provider("k8s", kubeconfig="{}")
        ci = CiRunners("ml-dev", CiRunnersArgs(github_config_url=GITHUB, registry=reg, oidc_provider_arn=OIDC_ARN,
                                               oidc_issuer_url=ISSUER, k8s_provider=provider))
        team = TeamSpace("ml-dev-team-vision", args(reg, provider, runners=TeamRunners(
            ci=ci, github_config_url=GITHUB, cpu=cpu, gpu=gpu,
            gpu_node_selector={"mlplatform.io/gpu": "true", "mlplatform.io/pool": "gpu-1x"})))
        pulumi.export("runner_labels", team.runner_labels)
        pulumi.export("role_arn", team.role_arn)
    return run


GITHUB = "https://github.com/acme"


@pytest.fixture(scope="module")
def runner_plan():
    return plan_of(runner_program())


def team_releases(plan):
    return {r.name: r for r in plan.of_type("kubernetes:helm.sh/v3:Release")
            if r.parent and "mlplatform:teams:TeamSpace" in r.parent}


def test_team_runner_sets_use_the_team_name_as_runs_on_label(runner_plan):
    assert runner_plan.outputs["runner_labels"] == {"cpu": "vision", "gpu": "vision-gpu"}
    releases = team_releases(runner_plan)
    assert set(releases) == {"vision", "vision-gpu"}
    for label, release in releases.items():
        v = release.inputs["values"]
        assert v["runnerScaleSetName"] == label and v["githubConfigUrl"] == GITHUB
        assert release.inputs["namespace"] == "arc-runners"  # beside the GitHub App Secret, not in the team's namespace
        assert v["githubConfigSecret"] == "mlplatform-github-app"
        assert v["controllerServiceAccount"] == {"namespace": "arc-systems", "name": "arc-controller"}
        assert v["minRunners"] == 0
        pod = v["template"]["spec"]
        assert pod["serviceAccountName"] == "vision-ci" and pod["automountServiceAccountToken"] is False
        assert v["template"]["metadata"]["labels"]["mlplatform.io/team"] == "vision"
    gpu_pod = releases["vision-gpu"].inputs["values"]["template"]["spec"]
    assert gpu_pod["nodeSelector"] == {"mlplatform.io/gpu": "true", "mlplatform.io/pool": "gpu-1x"}
    assert gpu_pod["containers"][0]["resources"]["limits"]["nvidia.com/gpu"] == "1"
    assert {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"} in gpu_pod["tolerations"]
    assert "nvidia.com/gpu" not in json.dumps(releases["vision"].inputs["values"])


def test_team_runner_sets_pass_the_chart_values_check(runner_plan):
    for release in team_releases(runner_plan).values():
        values = release.inputs["values"]
        # `template` is a PodTemplateSpec (free-form for the chart): it is validated as a Pod below.
        report = check_values("gha-runner-scale-set", values, free_form=("template",))
        assert report.unknown == []
        assert set(report.stopped_at) <= {"template", "listenerTemplate", "controllerServiceAccount"}
        template = values["template"]
        assert_valid_k8s({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "runner", **template["metadata"]},
                          "spec": template["spec"]}, strict=True)


def test_team_runners_get_the_team_role_and_nothing_more(runner_plan):
    sa = one(runner_plan, "kubernetes:core/v1:ServiceAccount", "ml-dev-team-vision-ci")
    assert sa.inputs["metadata"]["namespace"] == "arc-runners"
    assert sa.inputs["metadata"]["annotations"] == {"eks.amazonaws.com/role-arn": runner_plan.outputs["role_arn"]}
    role = one(runner_plan, "aws:iam/role:Role", "ml-dev-team-vision-ml")
    subs = sorted(s["Condition"]["StringEquals"][f"{ISSUER.removeprefix('https://')}:sub"]
                  for s in json.loads(role.inputs["assumeRolePolicy"])["Statement"])
    assert subs == ["system:serviceaccount:arc-runners:vision-ci", "system:serviceaccount:vision:vision-ml"]
    for obj in k8s_objects(runner_plan):
        if obj["kind"] == "ServiceAccount":
            assert_valid_k8s(obj, strict=True)


def test_cpu_only_team_runners():
    p = plan_of(runner_program(gpu=None))
    assert p.outputs["runner_labels"] == {"cpu": "vision"} and set(team_releases(p)) == {"vision"}


def test_team_runners_are_validated_before_anything_is_made():
    with pytest.raises(ValidationError, match=r"^runners: asks for neither a CPU nor a GPU scale set"):
        plan_of(runner_program(cpu=None, gpu=None))
    with pytest.raises(ValidationError, match=r"^max_runners: input should be greater than or equal to 1"):
        plan_of(runner_program(cpu=RunnerScale(0, 0)))  # RunnerScale refuses it as it is built


def test_stack_team_runners_need_the_stack_runners_and_gpu_nodes():
    spec = load_spec("growth", overrides={"teams": [{"name": "vision", "gpu_quota": 2,
                                                     "runners": {"cpu": {"min": 0, "max": 2}, "gpu": {"max": 1}}}]})
    p = stack_plan(spec)
    releases = team_releases(p)
    assert set(releases) == {"vision", "vision-gpu"}
    assert releases["vision-gpu"].inputs["values"]["template"]["spec"]["nodeSelector"]["mlplatform.io/pool"] == "gpu-1x"
    assert p.outputs["teams"]["vision"]["runner_labels"] == {"cpu": "vision", "gpu": "vision-gpu"}
    with pytest.raises(SpecError, match=r"^teams.0.runners: team runners use the stack's runner controller, and "
                                        r"runners.enabled is false; set runners.enabled: true"):
        load_spec("growth", overrides={"runners": {"enabled": False},
                                       "teams": [{"name": "vision", "runners": {"cpu": {"max": 1}}}]})
    with pytest.raises(SpecError, match=r"^teams.0.runners.gpu: the stack has no GPU nodes"):
        load_spec("growth", overrides={"gpu": {"pools": []}, "teams": [{"name": "vision", "runners": {"gpu": {"max": 1}}}]})
    with pytest.raises(SpecError, match=r"^teams.0.runners: asks for neither cpu nor gpu runners"):
        load_spec("growth", overrides={"teams": [{"name": "vision", "runners": {}}]})



def test_prometheus_may_scrape_served_models_and_nothing_else():
    from mlplatform.components.team_space import network_policies

    pols = network_policies("vision", "mlflow", 5000, "monitoring")
    scrape = pols["allow-monitoring-scrape"]
    assert scrape["podSelector"] == {"matchLabels": {"mlplatform.io/model-metrics": "true"}}
    assert scrape["policyTypes"] == ["Ingress"]
    assert scrape["ingress"] == [{"from": [{"namespaceSelector": {"matchLabels": {
        "kubernetes.io/metadata.name": "monitoring"}}}], "ports": [{"protocol": "TCP", "port": "metrics"}]}]
