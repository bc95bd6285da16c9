"""Requests on every long-running pod of the Helm values, and the system nodes of each profile hold them."""

from __future__ import annotations

import copy
import subprocess
import sys

import pytest

from mlplatform.stacks.analyses import capacity, policy
from mlplatform.components.quantity import QuantityError
from mlplatform.stacks.plan.offline import Plan
from mlplatform.stacks.program import plan
from mlplatform.stacks.config.spec import PROFILES, load_spec


@pytest.fixture(scope="module")
def plans():
    return {p: plan(load_spec(p)) for p in PROFILES}


@pytest.mark.parametrize("profile", PROFILES)
def test_every_long_running_pod_requests_cpu_and_memory(plans, profile):
    p = plans[profile]
    charts = {capacity._chart(r.inputs) for r in p.of_type(capacity.HELM_RELEASE)}
    # Every chart the stack installs is known to the pod table (or runs only on GPU nodes).
    assert charts - set(capacity.PODS) - set(capacity.GPU_ONLY_CHARTS) == set()
    pods = capacity.system_pods(p)
    assert capacity.unrequested(p) == []
    assert all(x.cpu_m > 0 and x.memory_mib > 0 for x in pods)
    names = {x.pod for x in pods}
    assert {"prometheus", "prometheus-operator", "grafana", "kube-state-metrics", "node-exporter", "mlflow",
            "listener"} <= names
    assert ("cluster-autoscaler" in names) == (profile == "pragmatic")
    assert ("karpenter" in names and "controller" in names) == (profile != "pragmatic")  # + LB controller


def test_the_requests_check_can_fail(plans):
    p = plans["growth"]
    broken = copy.deepcopy(p.resources)
    release = next(r for r in broken if r.type == capacity.HELM_RELEASE and capacity._chart(r.inputs) == "kube-prometheus-stack")
    del release.inputs["values"]["prometheus"]["prometheusSpec"]["resources"]
    del release.inputs["values"]["grafana"]["sidecar"]["resources"]
    found = capacity.unrequested(Plan("growth", broken))
    assert found == [f"{release.name}/prometheus: prometheus.prometheusSpec.resources.requests",
                     f"{release.name}/grafana: grafana.sidecar.resources.requests",
                     f"{release.name}/grafana: grafana.sidecar.resources.requests"]
    assert [f.rule for f in policy.evaluate(Plan("growth", broken), [policy.RULES_BY_ID["pod-requests"]])] == ["pod-requests"] * 3


@pytest.mark.parametrize("profile,instance_type,nodes", [
    ("pragmatic", "t3a.medium", 2), ("growth", "m6i.large", 3), ("full", "m6i.xlarge", 3)])
def test_each_profiles_system_nodes_hold_their_pods(plans, profile, instance_type, nodes):
    f = capacity.fit(plans[profile])
    assert (f.instance_type, f.nodes) == (instance_type, nodes)
    assert f.ok, f.line()
    assert policy.evaluate(plans[profile], [policy.RULES_BY_ID["system-nodes-fit"]]) == []


def test_a_prometheus_too_big_for_pragmatic_is_refused_by_check():
    p = plan(load_spec("pragmatic", overrides={"monitoring": {"prometheus_memory_mib": 8192}}))
    f = capacity.fit(p)
    assert not f.ok
    [finding] = policy.evaluate(p, [policy.RULES_BY_ID["system-nodes-fit"]])
    assert finding.severity == "high" and "2 x t3a.medium" in finding.message


def test_allocatable_follows_the_eks_ami_formula():
    # t3a.medium: 2 vCPU, 4 GiB, 17 pods -> CPU 2000 - (60 + 10), memory 4096 - (11 x 17 + 255) - 100.
    assert capacity.ALLOCATABLE["t3a.medium"] == (1930, 3554, 17)
    assert capacity.ALLOCATABLE["m6i.large"] == (1930, 8192 - (11 * 29 + 255) - 100, 29)
    # 4 vCPU: 60 + 10 + 2 x 5 millicores.
    assert capacity.ALLOCATABLE["m6i.xlarge"] == (3920, 16384 - (11 * 58 + 255) - 100, 58)
    assert capacity.reserved_cpu_m(8) == 60 + 10 + 10 + 10


@pytest.mark.parametrize("q,mib", [("64Mi", 64), ("1Gi", 1024), ("512M", 489), ("1.5Gi", 1536),
                                   ("1T", 953675), ("1Ti", 1048576), ("500Ki", 1), ("1e9", 954), (268435456, 256)])
def test_memory_quantities(q, mib):
    assert capacity.memory_mib(q) == mib


@pytest.mark.parametrize("q,m", [("250m", 250), ("1.5", 1500), ("2", 2000), (1, 1000), ("0.1", 100)])
def test_cpu_quantities(q, m):
    assert capacity.cpu_m(q) == m


@pytest.mark.parametrize("q", ["20Gi ", " 1Gi", "1Gb", "1ki", "NaN", "Infinity", "1_000", "", "Gi", None, True,
                               float("nan")])
def test_what_is_not_a_quantity_is_refused(q):
    with pytest.raises(QuantityError, match="is not a Kubernetes quantity"):
        capacity.memory_mib(q)


def test_the_quantity_parser_loads_no_kubernetes_client():
    code = ("import sys; from mlplatform.components.quantity import parse_quantity as p; "
            "print(p('1Ti'), 'kubernetes' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    assert out == ["1099511627776", "False"]


def test_an_unreadable_request_is_reported_not_counted_as_zero(plans):
    """A request Kubernetes would refuse is not counted (as 0 or anything): the pod-requests rule names it."""
    broken = copy.deepcopy(plans["growth"].resources)
    release = next(r for r in broken if r.type == capacity.HELM_RELEASE and capacity._chart(r.inputs) == "kube-prometheus-stack")
    release.inputs["values"]["prometheus"]["prometheusSpec"]["resources"]["requests"]["memory"] = "2 Gi"
    found = capacity.unrequested(Plan("growth", broken))
    assert found == [f"{release.name}/prometheus: prometheus.prometheusSpec.resources.requests "
                     "('2 Gi' is not a Kubernetes quantity (like 500m, 512Mi, 20Gi, 1T))"]
    assert [f.rule for f in policy.evaluate(Plan("growth", broken), [policy.RULES_BY_ID["pod-requests"]])] == ["pod-requests"]
