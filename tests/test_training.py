"""Training: Kubeflow Trainer + JobSet, the torch-distributed runtime, EFA, and the 2-node example."""

from __future__ import annotations

import copy
import importlib.util
import sys
from pathlib import Path

import boto3
import pytest
import yaml

from mlplatform.components.conventions import TEAM_LOCAL_QUEUE, TORCH_RUNTIME
from mlplatform.components.gpu_instances import GPU_INSTANCE_TYPES
from mlplatform.components.queueing.objects import PRIORITY_CLASSES
from mlplatform.components.training.efa import EFA_GPU_INSTANCE_TYPES
from mlplatform.components.versions import HELM_CHARTS, JOBSET_IMAGE, TRAINER_IMAGE
from mlplatform.stacks.analyses.policy import RULES_BY_ID
from mlplatform.stacks.config.chart_facts import custom_resource_errors
from mlplatform.stacks.config.spec import SpecError, load_spec
from mlplatform.stacks.plan import export
from mlplatform.stacks.program import plan

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "distributed-training"


@pytest.fixture(scope="module")
def plans():
    return {p: plan(load_spec(p)) for p in ("growth", "full")}


def objects(p):
    return {(m["kind"], m["metadata"]["name"]): m for _, m in export.kubernetes_objects(p)}


def trainer(p):
    return next(r for r in p.of_type("kubernetes:helm.sh/v3:Release") if r.inputs["chart"].endswith("kubeflow-trainer"))


def test_trainer_and_jobset_from_the_pinned_chart_with_released_images(plans):
    r = trainer(plans["growth"])
    assert r.inputs["version"] == HELM_CHARTS["kubeflow-trainer"][0] == "2.3.0"
    assert r.inputs["chart"] == "oci://ghcr.io/kubeflow/charts/kubeflow-trainer"
    v = r.inputs["values"]
    assert (v["image"]["registry"], v["image"]["repository"], v["image"]["tag"]) == TRAINER_IMAGE
    assert (v["jobset"]["image"]["repository"], v["jobset"]["image"]["tag"]) == JOBSET_IMAGE
    assert "staging" not in JOBSET_IMAGE[0] and HELM_CHARTS["jobset"][0] == "0.12.0"
    assert v["manager"]["nodeSelector"] == v["jobset"]["controller"]["nodeSelector"] == {"mlplatform.io/pool": "system"}
    assert list(RULES_BY_ID["helm-values"].check(plans["growth"])) == []


def test_the_jobset_values_are_checked_against_the_jobset_chart(plans):
    from dataclasses import replace

    p = plans["growth"]
    r = trainer(p)
    values = copy.deepcopy(r.inputs["values"])
    values["jobset"]["controler"] = {"replicas": 2}  # misspelt
    broken = replace(p, resources=[replace(x, inputs={**x.inputs, "values": values}) if x is r else x for x in p.resources])
    messages = [m for _, m, _ in RULES_BY_ID["helm-values"].check(broken)]
    assert messages == ["kubeflow-trainer 2.3.0 has no value jobset.controler (did you mean jobset.controller?)"]


def test_the_torch_runtime_validates_and_restarts_the_gang(plans):
    runtime = objects(plans["growth"])[("ClusterTrainingRuntime", TORCH_RUNTIME)]
    assert custom_resource_errors(runtime) == []
    assert runtime["spec"]["mlPolicy"] == {"numNodes": 1, "torch": {}}
    assert runtime["spec"]["template"]["spec"]["failurePolicy"] == {"maxRestarts": 3}
    container = runtime["spec"]["template"]["spec"]["replicatedJobs"][0]["template"]["spec"]["template"]["spec"]["containers"][0]
    assert container["securityContext"]["runAsNonRoot"] is True


def test_kueue_admits_trainjobs_and_ignores_efa_as_a_quota(plans):
    values = next(r for r in plans["growth"].of_type("kubernetes:helm.sh/v3:Release")
                  if r.inputs["chart"].endswith("/kueue")).inputs["values"]
    config = yaml.safe_load(values["managerConfig"]["controllerManagerConfigYaml"])
    assert "trainer.kubeflow.org/trainjob" in config["integrations"]["frameworks"]
    assert config["resources"] == {"excludeResourcePrefixes": ["vpc.amazonaws.com/"]}


def test_efa_only_on_the_multi_gpu_pools_efa_types(plans):
    assert not any(k == "DaemonSet" and "efa" in n for k, n in objects(plans["growth"]))  # no multi-GPU pool
    ds = objects(plans["full"])[("DaemonSet", "aws-efa-k8s-device-plugin")]
    terms = ds["spec"]["template"]["spec"]["affinity"]["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]
    expr = {e["key"]: e["values"] for e in terms["nodeSelectorTerms"][0]["matchExpressions"]}
    assert expr["mlplatform.io/pool"] == ["gpu-multi"]
    assert expr["node.kubernetes.io/instance-type"] == ["g6e.12xlarge", "p4d.24xlarge"]
    # efa: false, no plugin
    assert not any(k == "DaemonSet" and "efa" in n for k, n in objects(plan(load_spec("full", sets=["training.efa=false"]))))
    # single-GPU types have no EFA; the plugin's list is kept to types mlplatform knows
    assert not {"g5.xlarge", "g6.xlarge", "g6.2xlarge"} & EFA_GPU_INSTANCE_TYPES
    assert all(t in GPU_INSTANCE_TYPES for t in EFA_GPU_INSTANCE_TYPES)


def test_training_needs_queueing_and_is_off_in_pragmatic():
    with pytest.raises(SpecError, match="training.enabled: TrainJobs are admitted by Kueue"):
        load_spec("growth", sets=["queueing.enabled=false"])
    p = plan(load_spec("pragmatic"))
    assert not any(r.type == "mlplatform:training:Training" for r in p.resources)


# -- the example --------------------------------------------------------------------------------------
def test_the_example_trainjob_validates_against_the_pinned_crd():
    job = yaml.safe_load((EXAMPLE / "trainjob.yaml").read_text())
    assert custom_resource_errors(job) == []
    assert job["metadata"]["labels"]["kueue.x-k8s.io/queue-name"] == TEAM_LOCAL_QUEUE
    assert job["metadata"]["labels"]["kueue.x-k8s.io/priority-class"] in PRIORITY_CLASSES
    assert job["spec"]["runtimeRef"]["name"] == TORCH_RUNTIME and job["spec"]["trainer"]["numNodes"] == 2
    # each node asks for the GPUs one node of the pool it selects has
    pod = job["spec"]["runtimePatches"][0]["trainingRuntimeSpec"]["template"]["spec"]["replicatedJobs"][0]["template"]["spec"]["template"]["spec"]
    pool = next(p for p in load_spec("full").gpu.pools if p.name == pod["nodeSelector"]["mlplatform.io/pool"])
    gpus = int(job["spec"]["trainer"]["resourcesPerNode"]["limits"]["nvidia.com/gpu"])
    assert all(GPU_INSTANCE_TYPES[t][0] >= gpus for t in pool.instance_types)
    bad = copy.deepcopy(job)
    bad["spec"]["trainer"]["numNode"] = 2
    assert any("numNode" in e and "did you mean 'numNodes'" in e for e in custom_resource_errors(bad))


def _checkpoints():
    spec = importlib.util.spec_from_file_location("example_checkpoints", EXAMPLE / "checkpoints.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules["example_checkpoints"] = module
    spec.loader.exec_module(module)
    return module


def test_checkpoints_resume_from_the_latest_under_the_team_prefix(aws):
    ck = _checkpoints()
    s3 = boto3.client("s3")
    s3.create_bucket(Bucket="ml-dev-artifacts")
    uri = "s3://ml-dev-artifacts/teams/vision/checkpoints/ddp-example/"
    assert ck.latest(uri, s3) is None  # a fresh run starts at step 0
    for step in (500, 1000, 9500, 10000):
        ck.save(uri, step, f"state {step}".encode(), s3)
    s3.put_object(Bucket="ml-dev-artifacts", Key="teams/vision/checkpoints/ddp-example/notes.txt", Body=b"x")
    s3.put_object(Bucket="ml-dev-artifacts", Key="teams/vision/checkpoints/other/step-0000099999.pt", Body=b"x")
    step, key = ck.latest(uri, s3)
    assert (step, key) == (10000, "teams/vision/checkpoints/ddp-example/step-0000010000.pt")  # numeric, not 9500
    assert ck.load(uri, key, s3) == b"state 10000"
    with pytest.raises(ValueError, match="is not s3://bucket/prefix/"):
        ck.latest("/tmp/checkpoints", s3)
