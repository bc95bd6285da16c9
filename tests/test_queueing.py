"""Queueing (Kueue): the chart, the queues generated from the stack, one source of truth for capacity."""

from __future__ import annotations

import copy
import shutil
from dataclasses import replace
from pathlib import Path

import pytest
import yaml

from mlplatform.components.conventions import GPU_TAINT, TEAM_LABEL
from mlplatform.components.queueing import Flavor, QueueingArgs, TeamQueue
from mlplatform.components.queueing import objects
from mlplatform.components.versions import HELM_CHARTS, KUEUE_IMAGE
from mlplatform.stacks.analyses.diff import STATEFUL_TYPES, diff_plans
from mlplatform.stacks.analyses.policy import RULES_BY_ID
from mlplatform.stacks.config.chart_facts import custom_resource_errors
from mlplatform.stacks.source import stack_source
from mlplatform.stacks.config.spec import PROFILES, SpecError, load_spec
from mlplatform.stacks.plan import export
from mlplatform.stacks.program import plan
from mlplatform.stacks.project.team import add_team, new_team_entry, remove_team

ROOT = Path(__file__).resolve().parents[1]
TEAMS = "teams=[{name: vision, gpu_quota: 4}, {name: nlp, gpu_quota: 2, gpu_borrowing_limit: 2, gpu_lending_limit: 1}]"
KUEUE_KINDS = {"ResourceFlavor", "ClusterQueue", "LocalQueue", "Cohort", "WorkloadPriorityClass"}


@pytest.fixture(scope="module")
def plans():
    """Every profile with two teams; pragmatic with queueing switched on (on-demand: see test below)."""
    out = {p: plan(load_spec(p, sets=[TEAMS] if p != "pragmatic" else [])) for p in PROFILES}
    out["pragmatic+queueing"] = plan(
        load_spec("pragmatic", sets=["queueing.enabled=true", "gpu.pools.0.capacity=on-demand",
                                     "teams=[{name: vision, gpu_quota: 1}]"]))
    return out


def kueue_objects(p):
    return [(r, m) for r, m in export.kubernetes_objects(p) if str(m.get("apiVersion", "")).startswith("kueue.x-k8s.io/")]


def release(p, chart="kueue"):
    found = [r for r in p.of_type("kubernetes:helm.sh/v3:Release") if str(r.inputs.get("chart", "")).endswith(chart)]
    return found[0] if found else None


# -- the chart ------------------------------------------------------------------------------------------
def test_kueue_runs_from_the_pinned_chart_and_released_image_on_the_system_nodes(plans):
    r = release(plans["growth"])
    assert r is not None and r.inputs["version"] == HELM_CHARTS["kueue"][0] == "0.19.2"
    assert r.inputs["chart"] == "oci://registry.k8s.io/kueue/charts/kueue"
    manager = r.inputs["values"]["controllerManager"]
    assert manager["manager"]["image"] == {"repository": KUEUE_IMAGE[0], "tag": KUEUE_IMAGE[1], "pullPolicy": "IfNotPresent"}
    assert "staging" not in KUEUE_IMAGE[0] and KUEUE_IMAGE[1] == "v0.19.2"
    assert manager["nodeSelector"] == {"mlplatform.io/pool": "system"}
    assert set(manager["manager"]["resources"]["requests"]) == {"cpu", "memory"}
    # full runs two leader-elected replicas with a PDB; growth one.
    full = release(plans["full"]).inputs["values"]["controllerManager"]
    assert full["replicas"] == 2 and full["podDisruptionBudget"]["enabled"] is True


def test_kueue_manages_only_the_team_namespaces_and_waits_for_gpu_nodes(plans):
    values = release(plans["growth"]).inputs["values"]
    config = yaml.safe_load(values["managerConfig"]["controllerManagerConfigYaml"])
    assert config["apiVersion"] == "config.kueue.x-k8s.io/v1beta2" and config["kind"] == "Configuration"
    assert config["managedJobsNamespaceSelector"] == {"matchExpressions": [{"key": TEAM_LABEL, "operator": "Exists"}]}
    assert config["manageJobsWithoutQueueName"] is True
    wait = config["waitForPodsReady"]
    assert wait["timeout"] == "30m" and wait["blockAdmission"] is False
    assert wait["requeuingStrategy"]["backoffBaseSeconds"] == 300
    # The team namespaces carry the label the selector matches; the platform's namespaces do not.
    namespaces = {m["metadata"]["name"]: m["metadata"].get("labels", {}) for _, m in export.kubernetes_objects(plans["growth"])
                  if m["kind"] == "Namespace"}
    assert TEAM_LABEL in namespaces["vision"] and TEAM_LABEL in namespaces["nlp"]
    assert not any(TEAM_LABEL in labels for n, labels in namespaces.items() if n not in ("vision", "nlp"))


def test_every_kueue_value_is_a_key_of_the_pinned_chart(plans):
    for p in ("growth", "full", "pragmatic+queueing"):
        findings = [f for f in RULES_BY_ID["helm-values"].check(plans[p]) if "kueue" in f[0].name]
        assert findings == []


def test_pragmatic_has_no_kueue_unless_enabled(plans):
    assert release(plans["pragmatic"]) is None and kueue_objects(plans["pragmatic"]) == []
    assert release(plans["pragmatic+queueing"]) is not None


def test_kueue_fits_the_pragmatic_system_nodes():
    from mlplatform.stacks.analyses.capacity import fit, system_pods

    p = plan(load_spec("pragmatic", sets=["queueing.enabled=true"]))
    assert any(pod.release.endswith("-kueue") and pod.cpu_m == 200 for pod in system_pods(p))
    assert fit(p).ok, fit(p).line()


# -- the queues ---------------------------------------------------------------------------------------
def test_flavors_queues_and_priorities_follow_the_stack(plans):
    objs = {(m["kind"], m["metadata"]["name"]): m for _, m in kueue_objects(plans["full"])}
    assert {k for k, _ in objs} == KUEUE_KINDS
    assert {n for k, n in objs if k == "ResourceFlavor"} == {"cpu-batch", "gpu-1x", "gpu-multi"}
    gpu = objs[("ResourceFlavor", "gpu-multi")]["spec"]
    assert gpu["nodeLabels"] == {"mlplatform.io/pool": "gpu-multi", "mlplatform.io/gpu": "true"}
    assert gpu["nodeTaints"] == [GPU_TAINT] and "tolerations" not in gpu  # only GPU work gets a GPU flavor
    batch = objs[("ResourceFlavor", "cpu-batch")]["spec"]
    assert batch["tolerations"] == [{"key": "mlplatform.io/batch", "operator": "Exists", "effect": "NoSchedule"}]
    nlp = objs[("ClusterQueue", "nlp")]["spec"]
    assert nlp["cohortName"] == "mlplatform" and nlp["preemption"]["reclaimWithinCohort"] == "Any"
    gpu_1x = {r["name"]: r for r in nlp["resourceGroups"][0]["flavors"][1]["resources"]}
    assert gpu_1x["nvidia.com/gpu"] == {"name": "nvidia.com/gpu", "nominalQuota": 2, "borrowingLimit": 2, "lendingLimit": 1}
    assert gpu_1x["cpu"]["borrowingLimit"] == 0  # CPU and memory are never borrowed (the ResourceQuota caps them)
    assert [f["name"] for f in nlp["resourceGroups"][0]["flavors"]] == ["cpu-batch", "gpu-1x", "gpu-multi"]
    assert objs[("LocalQueue", "default")]["spec"]["clusterQueue"] in ("vision", "nlp")
    values = {n: objs[("WorkloadPriorityClass", n)]["value"] for n in ("serving", "training", "evaluation")}
    assert values["serving"] > values["training"] > values["evaluation"]
    # The cohort holds the GPUs no team was given: 8 - 4 - 2 on gpu-1x, all 16 of gpu-multi.
    cohort = {f["name"]: f["resources"][2]["nominalQuota"] for f in objs[("Cohort", "mlplatform")]["spec"]["resourceGroups"][0]["flavors"]}
    assert cohort == {"cpu-batch": 0, "gpu-1x": 2, "gpu-multi": 16}


def test_gpu_quota_by_pool_places_a_teams_gpus():
    spec = load_spec("full", sets=["teams=[{name: vision, gpu_quota: 10, gpu_quota_by_pool: {gpu-1x: 2, gpu-multi: 8}}]"])
    from mlplatform.stacks.config.queues import team_queues

    assert team_queues(spec)[0].gpus == {"gpu-1x": 2, "gpu-multi": 8}
    # Without it the quota fills the pools in order: 8 on gpu-1x, the rest on gpu-multi.
    spec = load_spec("full", sets=["teams=[{name: vision, gpu_quota: 10}]"])
    assert team_queues(spec)[0].gpus == {"gpu-1x": 8, "gpu-multi": 2}


@pytest.mark.parametrize("sets,key,words", [
    (["teams=[{name: a, gpu_quota: 2, gpu_quota_by_pool: {gpu-9x: 2}}]"], "teams.0.gpu_quota_by_pool", "gpu-9x is not a GPU pool"),
    (["teams=[{name: a, gpu_quota: 3, gpu_quota_by_pool: {gpu-1x: 2}}]"], "teams.0.gpu_quota_by_pool", "adds up to 2 GPUs, gpu_quota is 3"),
    (["teams=[{name: a, gpu_quota: 6, gpu_quota_by_pool: {gpu-1x: 6}}, {name: b, gpu_quota: 4, gpu_quota_by_pool: {gpu-1x: 4}}]"],
     "teams", "on pool gpu-1x add up to 10 (a 6, b 4), the pool may run 8"),
    (["teams=[{name: a, gpu_borrowing_limit: -1}]"], "teams.0.gpu_borrowing_limit", "greater than or equal to 0"),
])
def test_queue_settings_are_refused_with_one_line(sets, key, words):
    with pytest.raises(SpecError) as e:
        load_spec("full", sets=sets)
    assert e.value.key == key and words in str(e.value)


def test_queue_settings_need_queueing_on():
    with pytest.raises(SpecError) as e:
        load_spec("pragmatic", sets=["teams=[{name: a, gpu_quota: 1, gpu_borrowing_limit: 1}]"])
    assert "queueing is off" in str(e.value) and e.value.key == "teams.0"


def test_the_component_refuses_more_nominal_gpus_than_a_pool_has():
    with pytest.raises(ValueError, match="nominal GPUs on gpu add up to 3, the pool may run 2"):
        QueueingArgs(flavors=[Flavor(name="gpu", gpus=2)], teams=[TeamQueue(team="a", namespace="a", gpus={"gpu": 3})])
    with pytest.raises(ValueError, match="wait_for_pods_ready_minutes"):
        QueueingArgs(flavors=[Flavor(name="gpu", gpus=2)], wait_for_pods_ready_minutes=1)
    with pytest.raises(ValueError, match="waitForPodsReady: unknown key"):
        QueueingArgs(flavors=[Flavor(name="gpu", gpus=2)], waitForPodsReady=5)


# -- ResourceQuota and queues together ------------------------------------------------------------------
def test_the_quota_gpu_line_is_what_kueue_may_admit(plans):
    quotas = {m["metadata"]["namespace"]: m["spec"]["hard"]["requests.nvidia.com/gpu"]
              for _, m in export.kubernetes_objects(plans["full"]) if m["kind"] == "ResourceQuota"}
    # vision: 4 nominal, may borrow everything else of both pools (8 + 16); nlp: 2 + at most 2 per pool.
    assert quotas == {"vision": "24", "nlp": "6"}
    off = {m["metadata"]["namespace"]: m["spec"]["hard"]["requests.nvidia.com/gpu"]
           for _, m in export.kubernetes_objects(plan(load_spec("pragmatic", sets=["teams=[{name: vision, gpu_quota: 1}]"])))
           if m["kind"] == "ResourceQuota"}
    assert off == {"vision": "1"}  # queueing off: the quota is the team's quota, as before


# -- every custom resource against the pinned CRDs --------------------------------------------------------
@pytest.mark.parametrize("profile", [*PROFILES, "pragmatic+queueing"])
def test_every_custom_resource_of_every_profile_validates_against_its_crd(plans, profile):
    seen = set()
    for _, m in export.kubernetes_objects(plans[profile]):
        errors = custom_resource_errors(m)
        if str(m.get("apiVersion", "")).startswith("kueue.x-k8s.io/"):
            assert errors is not None, f"no pinned CRD for {m['kind']}"
            seen.add(m["kind"])
        assert not errors, (m["kind"], m["metadata"].get("name"), errors)
    assert list(RULES_BY_ID["custom-resource-schema"].check(plans[profile])) == []
    assert seen == (set() if profile == "pragmatic" else KUEUE_KINDS)


def test_an_unknown_field_in_a_queue_is_rejected_by_the_crd():
    cq = objects.cluster_queue(TeamQueue(team="a", namespace="a", gpus={"gpu": 1}), [Flavor(name="gpu", gpus=1)], "c")
    assert custom_resource_errors(cq) == []
    bad = copy.deepcopy(cq)
    bad["spec"]["stopPolicy"] = "Pause"
    bad["spec"]["resourceGroups"][0]["flavors"][0]["resources"][2]["borrowLimit"] = 1
    errors = custom_resource_errors(bad)
    assert any("borrowLimit" in e and "did you mean 'borrowingLimit'" in e for e in errors)
    assert any("stopPolicy" in e and "Pause" in e for e in errors)


# -- one source of truth: the queue-capacity rule -----------------------------------------------------------
def test_queue_capacity_passes_when_quotas_and_pools_come_from_the_same_numbers(plans):
    for p in ("growth", "full", "pragmatic+queueing"):
        assert list(RULES_BY_ID["queue-capacity"].check(plans[p])) == []


def test_queue_capacity_fails_when_a_pool_and_its_queues_disagree(plans):
    p = plans["full"]
    drifted = []
    for r in p.resources:
        if r.inputs.get("kind") == "NodePool" and r.inputs["spec"]["limits"].get("nvidia.com/gpu") == "16":
            spec = copy.deepcopy(r.inputs["spec"])
            spec["limits"]["nvidia.com/gpu"] = "8"  # someone lowered the pool alone
            r = replace(r, inputs={**r.inputs, "spec": spec})
        drifted.append(r)
    findings = list(RULES_BY_ID["queue-capacity"].check(replace(p, resources=drifted)))
    assert [(r.name, msg) for r, msg, _ in findings] == [
        ("ml-dev-flavor-gpu-multi", "the queues admit 16 GPUs on pool gpu-multi (no team, cohort 16) but the pool may run 8")]


def test_queue_capacity_accepts_oversubscription_the_stack_asked_for():
    p = plan(load_spec("growth", sets=["gpu.oversubscribe_gpus=true", "teams=[{name: a, gpu_quota: 6}, {name: b, gpu_quota: 6}]"]))
    assert list(RULES_BY_ID["queue-capacity"].check(p)) == []
    cohort = next(m for _, m in kueue_objects(p) if m["kind"] == "Cohort")
    assert cohort["metadata"]["annotations"] == {"mlplatform.io/gpu-oversubscribed": "true"}


def test_queue_capacity_counts_every_managed_group_of_a_pool():
    """Pragmatic spot-first makes a spot and an on-demand group, each `maxSize: max`: the rule reads the
    real capacity (both groups) and reports that it is twice what the queues were sized from."""
    p = plan(load_spec("pragmatic", sets=["queueing.enabled=true"]))
    groups = [g for g in p.of_type("aws:eks/nodeGroup:NodeGroup") if (g.inputs.get("labels") or {}).get("mlplatform.io/pool") == "gpu"]
    real = sum(g.inputs["scalingConfig"]["maxSize"] for g in groups)  # 1 GPU per g6/g5.xlarge
    findings = list(RULES_BY_ID["queue-capacity"].check(p))
    if real == 2:  # one meaning for max (both groups together): nothing to report
        assert findings == []
    else:
        assert [m for _, m, _ in findings] == [f"the queues admit 2 GPUs on pool gpu (no team, cohort 2) but the pool may run {real}"]


# -- team add / remove keep the queues in step; upgrade adds queueing safely ---------------------------------
@pytest.fixture
def growth_file(tmp_path):
    p = tmp_path / "stack.yaml"
    p.write_text("profile: growth\nregion: us-east-1\nteams:\n  - name: nlp\n    gpu_quota: 2\n")
    return p


def test_team_add_and_remove_keep_the_queue_objects_in_step(growth_file):
    src = stack_source(config_file=growth_file)
    change = add_team(src, new_team_entry("vision", gpu_quota=3), write=True)
    assert change.other_changes == []
    ops = {(c.type.rsplit(":", 1)[-1], c.name): c.op for c in change.diff.resources if "kueue" in c.type}
    assert ops == {("ClusterQueue", "ml-dev-team-vision-clusterqueue"): "create",
                   ("LocalQueue", "ml-dev-team-vision-localqueue"): "create",
                   ("Cohort", "ml-dev-cohort"): "update"}  # 3 GPUs leave the cohort's shared pool
    src = stack_source(config_file=growth_file)
    change = remove_team(src, "vision", write=True)
    assert change.other_changes == []
    ops = {(c.type.rsplit(":", 1)[-1], c.name): c.op for c in change.diff.resources if "kueue" in c.type}
    assert ops == {("ClusterQueue", "ml-dev-team-vision-clusterqueue"): "delete",
                   ("LocalQueue", "ml-dev-team-vision-localqueue"): "delete",
                   ("Cohort", "ml-dev-cohort"): "update"}


def test_team_add_refuses_a_quota_the_pool_cannot_run(growth_file):
    src = stack_source(config_file=growth_file)
    before = growth_file.read_text()
    with pytest.raises(SpecError, match="on pool gpu-1x add up to 9 .*the pool may run 8|add up to 9"):
        add_team(src, new_team_entry("vision", gpu_quota=7), write=True)
    assert growth_file.read_text() == before


def test_upgrade_pragmatic_to_growth_adds_queueing_without_touching_stateful_resources():
    sets = ["teams=[{name: vision, gpu_quota: 1}]"]
    before, after = plan(load_spec("pragmatic", sets=sets)), plan(load_spec("growth", sets=sets))
    d = diff_plans(before, after, "pragmatic", "growth")
    assert d.unsafe() == [] and d.data_loss == []
    changed = {c.urn: c for c in d.resources}
    for r in before.resources:
        if r.type in STATEFUL_TYPES:
            assert changed.get(r.urn) is None or changed[r.urn].op == "update"
    added = {c.type for c in d.resources if c.op == "create"}
    assert {"mlplatform:scheduling:Queueing", "kubernetes:kueue.x-k8s.io/v1beta2:ClusterQueue"} <= added


def test_adopted_gpu_nodes_are_one_flavor_sized_by_the_stack():
    p = plan(load_spec("growth", sets=["gpu.existing.node_names=[gpu-a, gpu-b]", "queueing.adopted_gpus_per_node=4",
                                       "teams=[{name: a, gpu_quota: 3}]"]))
    objs = {(m["kind"], m["metadata"]["name"]): m for _, m in kueue_objects(p)}
    assert {n for k, n in objs if k == "ResourceFlavor"} == {"system", "gpu"}  # no batch pool without Karpenter pools
    cohort = objs[("Cohort", "mlplatform")]["spec"]["resourceGroups"][0]["flavors"]
    assert {f["name"]: f["resources"][2]["nominalQuota"] for f in cohort} == {"system": 0, "gpu": 8 - 3}
    assert list(RULES_BY_ID["queue-capacity"].check(p)) == []  # the plan only labels adopted nodes


def test_the_component_refuses_bad_args_with_one_line_before_any_child(offline):
    from mlplatform.components._common import ValidationError
    from mlplatform.components.queueing import Queueing

    errors = []

    def program():
        try:
            Queueing("q", {"flavors": [{"name": "gpu", "gpus": 2}], "wait_for_pods_ready_minutes": 5})
        except ValidationError as e:
            errors.append(str(e))

    p = offline(program)
    assert errors == ["wait_for_pods_ready_minutes: Input should be greater than or equal to 10; "
                      "see QueueingArgs's fields and bounds"]
    assert not p.resources
