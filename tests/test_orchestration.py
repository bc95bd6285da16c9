"""Orchestration under the Pulumi mock monitor: the retraining CronJob, or Argo Workflows + CronWorkflow."""

from __future__ import annotations

import json

import pulumi
import pulumi_kubernetes as k8s
import pytest

from chartcheck import check_values, custom_resource_errors
from conftest import assert_valid_k8s, helm_values, k8s_objects, one, plan_of
from mlplatform.components import versions
from mlplatform.components._common import GPU_TOLERATION, SYSTEM_NODE_SELECTOR, ValidationError
from mlplatform.components.artifact_registry import ArtifactRegistry, ArtifactRegistryArgs
from mlplatform.components.cron import valid_cron as valid_schedule
from mlplatform.components.orchestration import Orchestration, OrchestrationArgs
from mlplatform.stacks.plan.mocks import ACCOUNT_ID
from mlplatform.stacks.program import plan as stack_plan
from mlplatform.stacks.config.spec import load_spec

ISSUER = "https://oidc.eks.us-east-1.amazonaws.com/id/ABCDEF0123456789"
HOST = ISSUER.removeprefix("https://")
OIDC_ARN = f"arn:aws:iam::{ACCOUNT_ID}:oidc-provider/{HOST}"
MLFLOW = "http://mlflow.mlflow.svc.cluster.local:80"
CRON_WORKFLOW = "kubernetes:argoproj.io/v1alpha1:CronWorkflow"
CRON_JOB = "kubernetes:batch/v1:CronJob"
# Free-form maps of the argo-workflows chart whose defaults are not empty (`kubernetes.io/os: linux`).
ARGO_FREE_FORM = ("controller.nodeSelector", "server.nodeSelector")


def program(**overrides):
    def run():
        reg = ArtifactRegistry("reg", ArtifactRegistryArgs())
        provider = k8s.Provider("k8s", kubeconfig="{}")
        fields = dict(image=pulumi.Output.concat(reg.repository_urls["images"], ":retrain"), mlflow_tracking_uri=MLFLOW,
                      registry=reg, oidc_provider_arn=OIDC_ARN, oidc_issuer_url=ISSUER, k8s_provider=provider)
        fields.update(overrides)
        o = Orchestration("ml", OrchestrationArgs(**fields))
        pulumi.export("role_arn", o.role_arn)
        pulumi.export("argo_server_url", o.argo_server_url)
        pulumi.export("bucket", reg.bucket_name)
        pulumi.export("images", reg.repository_urls["images"])
        pulumi.export("models_arn", reg.repository_arns["models"])
    return run


@pytest.fixture(scope="module")
def cron():
    return plan_of(program())


@pytest.fixture(scope="module")
def argo():
    return plan_of(program(engine="argo"))


def trust(plan, role):
    (statement,) = json.loads(one(plan, "aws:iam/role:Role", role).inputs["assumeRolePolicy"])["Statement"]
    return statement


def policy(plan, name):
    return json.loads(one(plan, "aws:iam/rolePolicy:RolePolicy", name).inputs["policy"])


def assert_retraining_container(container, image):
    assert container["image"] == image
    assert {"name": "MLFLOW_TRACKING_URI", "value": MLFLOW} in container["env"]
    assert container["resources"]["limits"]["nvidia.com/gpu"] == "1"
    assert container["resources"]["requests"] == {"cpu": "2", "memory": "8Gi"}
    sc = container["securityContext"]
    assert sc["allowPrivilegeEscalation"] is False and sc["capabilities"] == {"drop": ["ALL"]}
    assert sc["runAsNonRoot"] is True
    assert "command" not in container  # the image's entrypoint


# -- engine "cronjob" -------------------------------------------------------------------------------
def test_cronjob_is_a_suspended_gpu_template(cron):
    job = one(cron, CRON_JOB).inputs
    spec = job["spec"]
    assert job["metadata"] == {"name": "retrain", "namespace": "retraining"}
    assert spec["suspend"] is True and spec["schedule"] == "0 3 * * 1" and spec["timeZone"] == "Etc/UTC"
    assert spec["concurrencyPolicy"] == "Forbid"
    pod = spec["jobTemplate"]["spec"]["template"]["spec"]
    assert pod["tolerations"] == [GPU_TOLERATION]
    assert pod["serviceAccountName"] == "retraining" and pod["restartPolicy"] == "Never"
    (container,) = pod["containers"]
    assert_retraining_container(container, cron.outputs["images"] + ":retrain")


def test_cronjob_engine_installs_no_argo(cron):
    assert not helm_values(cron, "argo-workflows") and not cron.of_type(CRON_WORKFLOW)
    assert cron.outputs["argo_server_url"] is None


def test_cronjob_service_account_has_the_irsa_role(cron):
    sa = one(cron, "kubernetes:core/v1:ServiceAccount").inputs
    assert sa["metadata"]["annotations"] == {"eks.amazonaws.com/role-arn": cron.outputs["role_arn"]}
    assert sa["automountServiceAccountToken"] is False
    assert trust(cron, "ml-retraining")["Condition"] == {"StringEquals": {
        f"{HOST}:sub": "system:serviceaccount:retraining:retraining", f"{HOST}:aud": "sts.amazonaws.com"}}


def test_job_role_writes_mlflow_artifacts_and_pushes_models(cron):
    bucket_arn = f"arn:aws:s3:::{cron.outputs['bucket']}"
    objects = [s for s in policy(cron, "ml-retraining-mlflow")["Statement"] if s["Sid"] == "ObjectsUnderPrefix"]
    assert objects[0]["Resource"] == f"{bucket_arn}/mlflow/*"
    push = [s for s in policy(cron, "ml-retraining-models")["Statement"] if s["Sid"] == "PushPull"]
    assert push[0]["Resource"] == [cron.outputs["models_arn"]]
    assert sorted(r.name for r in cron.of_type("aws:iam/rolePolicy:RolePolicy")) == [
        "ml-retraining-mlflow", "ml-retraining-models"]  # no Argo prefix without Argo


def test_cronjob_kubernetes_objects_are_valid(cron):
    objects = k8s_objects(cron)
    assert sorted(o["kind"] for o in objects) == ["CronJob", "Namespace", "ServiceAccount"]
    for o in objects:
        assert_valid_k8s(o)


def test_schedule_command_and_resume_follow_args():
    p = plan_of(program(schedule="@daily", suspend=False, command=["python", "-m", "train"], gpus=2,
                        experiment_name="churn"))
    spec = one(p, CRON_JOB).inputs["spec"]
    assert spec["schedule"] == "@daily" and spec["suspend"] is False
    (container,) = spec["jobTemplate"]["spec"]["template"]["spec"]["containers"]
    assert container["command"] == ["python", "-m", "train"]
    assert container["resources"]["limits"]["nvidia.com/gpu"] == "2"
    assert {"name": "MLFLOW_EXPERIMENT_NAME", "value": "churn"} in container["env"]


# -- engine "argo" ----------------------------------------------------------------------------------
def test_argo_release_is_pinned_and_values_fit_the_chart(argo):
    release = one(argo, "kubernetes:helm.sh/v3:Release")
    assert release.inputs["chart"] == "argo-workflows"
    assert release.inputs["version"] == versions.HELM_CHARTS["argo-workflows"][0]
    assert release.inputs["namespace"] == "argo"
    (values,) = helm_values(argo, "argo-workflows")
    report = check_values("argo-workflows", values, free_form=ARGO_FREE_FORM)
    assert report.unknown == []
    assert "artifactRepository.s3" in report.stopped_at  # free-form in the chart: checked below


def test_argo_artifact_repository_is_the_bucket_via_irsa(argo):
    (values,) = helm_values(argo, "argo-workflows")
    assert values["useStaticCredentials"] is False
    s3 = values["artifactRepository"]["s3"]
    assert s3["bucket"] == argo.outputs["bucket"] and s3["useSDKCreds"] is True and s3["insecure"] is False
    assert s3["endpoint"] == "s3.us-east-1.amazonaws.com" and s3["region"] == "us-east-1"
    assert s3["keyFormat"] == "argo/{{workflow.namespace}}/{{workflow.name}}/{{pod.name}}"
    assert not {"accessKeySecret", "secretKeySecret"} & set(s3)
    writes = [s for s in policy(argo, "ml-retraining-argo")["Statement"] if s["Sid"] == "ObjectsUnderPrefix"]
    assert writes[0]["Resource"] == f"arn:aws:s3:::{argo.outputs['bucket']}/argo/*"
    reads = [s for s in policy(argo, "ml-argo-server-argo")["Statement"] if s["Sid"] == "ObjectsUnderPrefix"]
    assert reads[0]["Action"] == ["s3:GetObject"]


def test_argo_service_accounts_and_trust(argo):
    (values,) = helm_values(argo, "argo-workflows")
    workflow_sa = values["workflow"]["serviceAccount"]
    assert workflow_sa["create"] is True and workflow_sa["name"] == "argo-workflow"
    assert workflow_sa["annotations"] == {"eks.amazonaws.com/role-arn": argo.outputs["role_arn"]}
    assert values["controller"]["workflowNamespaces"] == ["retraining"]
    assert trust(argo, "ml-retraining")["Condition"] == {"StringEquals": {
        f"{HOST}:sub": "system:serviceaccount:retraining:argo-workflow", f"{HOST}:aud": "sts.amazonaws.com"}}
    server = values["server"]
    assert server["authModes"] == ["client"]
    server_role = one(argo, "aws:iam/role:Role", "ml-argo-server")
    assert trust(argo, "ml-argo-server")["Condition"]["StringEquals"][f"{HOST}:sub"] == "system:serviceaccount:argo:argo-server"
    assert server["serviceAccount"]["annotations"]["eks.amazonaws.com/role-arn"].startswith(
        f"arn:aws:iam::{ACCOUNT_ID}:role/ml-argo-server")
    assert server_role.inputs["description"] == "IRSA role of argo/argo-server"
    for part in ("controller", "server"):
        assert values[part]["nodeSelector"] == {"kubernetes.io/os": "linux", **SYSTEM_NODE_SELECTOR}


def test_cron_workflow_is_the_same_suspended_gpu_job(argo, cron):
    wf = one(argo, CRON_WORKFLOW)
    release = one(argo, "kubernetes:helm.sh/v3:Release")
    assert release.urn in wf.depends_on  # the chart installs the CRD
    m = wf.inputs
    assert (m["apiVersion"], m["kind"]) == ("argoproj.io/v1alpha1", "CronWorkflow")
    assert m["metadata"] == {"name": "retrain", "namespace": "retraining"}
    spec = m["spec"]
    assert spec["suspend"] is True and spec["schedules"] == ["0 3 * * 1"] and spec["concurrencyPolicy"] == "Forbid"
    wspec = spec["workflowSpec"]
    assert wspec["serviceAccountName"] == "argo-workflow" and wspec["tolerations"] == [GPU_TOLERATION]
    (template,) = wspec["templates"]
    assert wspec["entrypoint"] == template["name"]
    assert_retraining_container(template["container"], argo.outputs["images"] + ":retrain")
    (job_container,) = one(cron, CRON_JOB).inputs["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"]
    assert template["container"] == job_container


def test_argo_kubernetes_objects(argo):
    objects = k8s_objects(argo)
    assert sorted(o["kind"] for o in objects) == ["CronWorkflow", "Namespace"]
    for o in objects:
        if o["kind"] == "CronWorkflow":  # against argo-workflows' own CRD (kubernetes-validate knows none)
            assert custom_resource_errors(o) == []
            assert all(valid_schedule(s) for s in o["spec"]["schedules"])
            broken = json.loads(json.dumps(o))
            broken["spec"]["workflowSpec"]["templates"][0]["container"]["imagePullPolicy"] = 3
            assert custom_resource_errors(broken) == [
                "spec.workflowSpec.templates.0.container.imagePullPolicy: 3 is not of type 'string'"]
        else:
            assert_valid_k8s(o)


# -- bad input ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("fields, message", [
    ({"engine": "airflow"}, "engine: unknown engine 'airflow'; use one of cronjob, argo"),
    ({"schedule": "every monday"}, "schedule: 'every monday' is not a cron schedule"),
    ({"schedule": "0 3 * *"}, "schedule: '0 3 * *' is not a cron schedule"),
    ({"schedule": "99 99 99 99 99"}, "schedule: '99 99 99 99 99' is not a cron schedule; use 5 fields"),
    ({"cpu": "2 "}, "cpu: '2 ' is not a Kubernetes quantity"),
    ({"memory": "8GB"}, "memory: '8GB' is not a Kubernetes quantity"),
    ({"gpus": 0}, "gpus: 0 is out of range; use 1 to 8"),
    ({"cpu": "two"}, "cpu: 'two' is not a Kubernetes quantity"),
    ({"command": []}, "command: must be a non-empty list of strings"),
    ({"image": None}, "image: required"),
    ({"mlflow_tracking_uri": ""}, "mlflow_tracking_uri: required; pass MetadataStore.tracking_url"),
    ({"model_repositories": ["weights"]}, "model_repositories: 'weights' is not a repository of the registry"),
    ({"engine": "argo", "namespace": "argo"}, "namespace: is the same as argo_namespace"),
    ({"namespace": "Retraining"}, "namespace: 'Retraining' is not a Kubernetes namespace name"),
])
def test_bad_input_is_refused_and_nothing_is_created(fields, message):
    errors = []

    def run():
        reg = ArtifactRegistry("reg", ArtifactRegistryArgs())
        args = dict(image="img:1", mlflow_tracking_uri=MLFLOW, registry=reg, oidc_provider_arn=OIDC_ARN,
                    oidc_issuer_url=ISSUER)
        args.update(fields)
        try:
            Orchestration("ml", OrchestrationArgs(**args))
        except ValidationError as e:
            errors.append(e)

    p = plan_of(run)
    assert len(errors) == 1 and str(errors[0]).startswith(message)
    registry = one(p, "mlplatform:registry:ArtifactRegistry")
    assert all(r.urn == registry.urn or r.parent == registry.urn for r in p.resources)


@pytest.mark.parametrize("schedule, ok", [
    ("0 3 * * 1", True), ("*/15 * * * *", True), ("0 0 1,15 * MON-FRI", True), ("@weekly", True),
    ("0 3 * * 1 2024", False), ("", False), ("0 3 ? * 1", False), ("99 99 99 99 99", False), ("60 * * * *", False),
    ("0 0 L * *", False), ("0 0 * * 1#2", False), ("H 3 * * *", False), ("@reboot", False), (None, False),
])
def test_valid_schedule(schedule, ok):
    assert valid_schedule(schedule) is ok


# -- in the stack ------------------------------------------------------------------------------------
def test_profiles_pick_the_engine():
    pragmatic = stack_plan(load_spec("pragmatic"))
    growth = stack_plan(load_spec("growth"))
    def retraining(plan, type_):  # the evidence observer is a CronJob too: only Orchestration's children count
        return [r for r in plan.of_type(type_) if "mlplatform:orchestration:Orchestration$" in r.urn]

    assert retraining(pragmatic, CRON_JOB) and not retraining(pragmatic, CRON_WORKFLOW)
    assert retraining(growth, CRON_WORKFLOW) and not retraining(growth, CRON_JOB)
    (container,) = one(pragmatic, CRON_JOB, "ml-dev-retrain").inputs["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"]
    assert {"name": "MLFLOW_TRACKING_URI", "value": pragmatic.outputs["mlflow_url"]} in container["env"]
    assert container["image"] == pragmatic.outputs["repository_urls"]["images"] + ":retrain"
    (values,) = helm_values(growth, "argo-workflows")
    assert values["artifactRepository"]["s3"]["bucket"] == growth.outputs["artifact_bucket"]
    assert check_values("argo-workflows", values, free_form=ARGO_FREE_FORM).unknown == []
