"""The engine verbs up to the Pulumi CLI call: prerequisites, project reading, plugin pins, event
rendering from engine events as the Automation API parses them, outputs, and the destroy order.
Tests that need the `pulumi` CLI are marked `engine` and skip without it."""

from __future__ import annotations

import io
import shutil
from importlib import metadata

import pytest

from mlplatform.stacks.errors import SpecError
from click.testing import CliRunner
from pulumi.automation import EngineEvent, OutputValue
from rich.console import Console

from mlplatform.cli.main import cli
from mlplatform.stacks.cloud import engine as workspace
from mlplatform.stacks.project.init import InitOptions, init_project
from mlplatform.stacks.cloud.engine import (
    EngineError,
    Progress,
    engine_env,
    format_outputs,
    kept_urns,
    load_project,
    missing_plugins,
    pinned_plugins,
    plan_destroy,
    require_credentials,
    require_pulumi,
    summary_line,
    teardown_phases,
    unprotect,
)

P = "urn:pulumi:dev::mlplatform::"


@pytest.fixture
def project_dir(tmp_path):
    init_project(InitOptions(directory=tmp_path / "ml", region="eu-west-1"))
    return tmp_path / "ml"


# -- prerequisites ---------------------------------------------------------------------------------
def test_missing_pulumi_is_one_line_saying_what_to_install():
    with pytest.raises(EngineError) as e:
        require_pulumi(which=lambda cmd: None)
    assert str(e.value) == ("pulumi: the Pulumi CLI is not on PATH; install the Pulumi CLI: "
                            "curl -fsSL https://get.pulumi.com | sh (or brew install pulumi)")
    assert require_pulumi(which=lambda cmd: "/usr/local/bin/pulumi") == "/usr/local/bin/pulumi"


def test_missing_credentials(monkeypatch, tmp_path):
    for var in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    with pytest.raises(EngineError, match=r"^aws credentials: none found; run `aws configure`"):
        require_credentials("us-east-1")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "a")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "b")
    require_credentials("us-east-1")


def test_plugins_are_pinned_to_the_installed_sdks():
    pins = pinned_plugins()
    assert pins == {"aws": metadata.version("pulumi_aws"), "kubernetes": metadata.version("pulumi_kubernetes"),
                    "random": metadata.version("pulumi_random")}
    assert missing_plugins([]) == pins
    installed = [(n, f"v{v}") for n, v in pins.items() if n != "aws"] + [("aws", "6.0.0")]
    assert missing_plugins(installed) == {"aws": pins["aws"]}  # another aws version doesn't count
    assert missing_plugins(installed + [("aws", pins["aws"])]) == {}


def test_project_is_read_from_the_init_folder(project_dir):
    p = load_project(project_dir, "dev")
    assert (p.name, p.stack, p.region) == ("ml", "dev", "eu-west-1")  # the folder names the project
    assert p.backend_url == "file://.pulumi-state" and p.local_backend and p.secrets_provider is None
    assert p.config["mlplatform:profile"] == "pragmatic"
    with pytest.raises(SpecError, match=r"^--stack: .* has no Pulumi.prod.yaml; pass --stack dev$"):
        load_project(project_dir, "prod")
    with pytest.raises(SpecError, match=r"has no Pulumi.yaml; run `mlplatform init"):
        load_project(project_dir.parent, "dev")


def test_passphrase_stacks_need_the_passphrase(project_dir):
    p = load_project(project_dir, "dev")
    with pytest.raises(EngineError, match=r"^PULUMI_CONFIG_PASSPHRASE: not set"):
        engine_env(p, environ={})
    assert engine_env(p, environ={"PULUMI_CONFIG_PASSPHRASE": "s3cret"}) == {"PULUMI_SKIP_UPDATE_CHECK": "true"}
    p.secrets_provider = "awskms://alias/mlplatform-state?region=eu-west-1"
    assert engine_env(p, environ={}) == {"PULUMI_SKIP_UPDATE_CHECK": "true"}


def _without_runners(project_dir):
    stack_file = project_dir / "Pulumi.dev.yaml"
    stack_file.write_text(stack_file.read_text() + "  mlplatform:runners:\n    enabled: false\n")


def test_preview_and_up_refuse_runners_without_their_github_app_secret(project_dir, monkeypatch, tmp_path):
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))  # the refusal comes first, before any engine check
    for verb in (["preview"], ["up", "--yes"]):
        res = CliRunner().invoke(cli, [*verb, "--dir", str(project_dir)], catch_exceptions=False)
        assert res.exit_code == 1 and res.stdout.splitlines()[0].startswith("Stack dev (Pulumi.dev.yaml): ")
        (line,) = res.stderr.strip().splitlines()
        assert line.startswith("error: mlplatform:github_app_id") and "not set while runners are enabled" in line


def test_preview_without_pulumi_exits_1_with_one_line(project_dir, monkeypatch, tmp_path):
    _without_runners(project_dir)
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    res = CliRunner().invoke(cli, ["preview", "--dir", str(project_dir)], catch_exceptions=False)
    assert res.exit_code == 1 and res.stdout.splitlines()[0].startswith("Stack dev (Pulumi.dev.yaml): ")
    assert res.stderr.strip().splitlines() == [
        "error: pulumi: the Pulumi CLI is not on PATH; install the Pulumi CLI: curl -fsSL https://get.pulumi.com | sh "
        "(or brew install pulumi)"]


def test_engine_verbs_need_a_project(tmp_path):
    res = CliRunner().invoke(cli, ["up", "--dir", str(tmp_path), "--yes"], catch_exceptions=False)
    assert res.exit_code == 1 and "has no Pulumi.yaml; run `mlplatform init" in res.stderr


# -- events ----------------------------------------------------------------------------------------
def step(op: str, urn: str, kind: str = "resourcePreEvent", **more) -> EngineEvent:
    type_ = urn.split("::")[-2].split("$")[-1]
    return EngineEvent.from_json({"sequence": 1, "timestamp": 0, kind: {
        "metadata": {"op": op, "urn": urn, "type": type_, "provider": ""}, **more}})


BUCKET = P + "mlplatform:registry:ArtifactRegistry$aws:s3/bucket:Bucket::ml-dev-artifacts"
CLUSTER = P + "mlplatform:compute:Cluster$aws:eks/cluster:Cluster::ml-dev"
NODES = P + "mlplatform:compute:Cluster$aws:eks/nodeGroup:NodeGroup::ml-dev-system"


def render(verb: str, events: list[EngineEvent]) -> tuple[Progress, list[str]]:
    out = io.StringIO()
    progress = Progress(verb, Console(file=out, width=200, color_system=None))
    for e in events:
        progress(e)
    progress.finish()
    return progress, out.getvalue().splitlines()


def test_preview_events_render_lines_and_the_terraform_summary():
    summary = EngineEvent.from_json({"sequence": 9, "timestamp": 0, "summaryEvent": {
        "maybeCorrupt": False, "durationSeconds": 3,
        "resourceChanges": {"create": 2, "update": 1, "replace": 1, "same": 7}, "PolicyPacks": {}}})
    _, lines = render("preview", [
        step("same", P + "pulumi:pulumi:Stack::mlplatform-dev"),
        step("create", BUCKET, planning=True),
        step("update", CLUSTER, planning=True),
        step("replace", NODES, planning=True),
        summary,
    ])
    assert lines[:3] == ["+ aws:s3/bucket:Bucket ml-dev-artifacts to create",
                         "~ aws:eks/cluster:Cluster ml-dev to update",
                         "+- aws:eks/nodeGroup:NodeGroup ml-dev-system to replace"]
    assert lines[-1] == "Plan: 3 to add, 1 to change, 1 to destroy."  # a replacement adds one and destroys one


def test_up_events_report_finished_resources_failures_and_diagnostics():
    diag = EngineEvent.from_json({"sequence": 5, "timestamp": 0, "diagnosticEvent": {
        "urn": NODES, "severity": "error", "color": "never",
        "message": "creating EKS Node Group: ResourceLimitExceeded: vCPU limit\nmore detail"}})
    progress, lines = render("up", [
        step("create", BUCKET), step("create", BUCKET, kind="resOutputsEvent"),
        step("create", NODES), diag,
        EngineEvent.from_json({"sequence": 6, "timestamp": 0, "resOpFailedEvent": {
            "metadata": {"op": "create", "urn": NODES, "type": "aws:eks/nodeGroup:NodeGroup", "provider": ""},
            "status": 1, "steps": 1}}),
    ])
    assert lines[0].startswith("+ aws:s3/bucket:Bucket ml-dev-artifacts created (")
    assert lines[1] == "x aws:eks/nodeGroup:NodeGroup ml-dev-system failed"
    assert "error: ml-dev-system: creating EKS Node Group: ResourceLimitExceeded: vCPU limit" in lines
    assert progress.failed == [NODES] and progress.in_flight == {}
    assert lines[-1] == "Apply complete! Resources: 1 added, 0 changed, 0 destroyed."  # from what finished


def test_summary_lines():
    assert summary_line("preview", {"same": 40}) == "No changes. Your infrastructure matches the configuration."
    assert summary_line("destroy", {"delete": 12}) == "Destroy complete! Resources: 12 destroyed."
    assert summary_line("refresh", {"update": 2, "delete": 1}) == "Refresh complete! Resources: 2 changed, 1 gone from the cloud."


def test_outputs_put_urls_first_and_mask_secrets():
    rows = format_outputs({
        "kubeconfig": OutputValue("apiVersion: v1 ...", secret=True),
        "kubeconfig_command": OutputValue("aws eks update-kubeconfig --region eu-west-1 --name ml-dev", False),
        "vpc_id": OutputValue("vpc-0abc", False),
        "mlflow_url": OutputValue("https://mlflow.example.com", False),
        "repository_urls": OutputValue({"images": "123.dkr.ecr.eu-west-1.amazonaws.com/mlplatform/dev/images"}, False),
    })
    assert [k for k, _ in rows] == ["mlflow_url", "repository_urls", "kubeconfig_command", "kubeconfig", "vpc_id"]
    assert dict(rows)["kubeconfig"] == "[secret]" and dict(rows)["vpc_id"] == "vpc-0abc"


# -- destroy ---------------------------------------------------------------------------------------
def res(urn_tail: str, type_: str, deps=(), parent=None, protect=False, chart=None) -> dict:
    r = {"urn": P + urn_tail, "type": type_, "dependencies": [P + d for d in deps],
         "parent": P + parent if parent else None, "protect": protect,
         "provider": P + "pulumi:providers:aws::default_7::0000"}
    if chart:
        r["inputs"] = {"chart": chart}
    return r


STATE = [
    {"urn": P + "pulumi:pulumi:Stack::mlplatform-dev", "type": "pulumi:pulumi:Stack"},
    res("pulumi:providers:aws::default_7", "pulumi:providers:aws"),
    res("mlplatform:network:Network::ml-dev", "mlplatform:network:Network"),
    res("mlplatform:network:Network$aws:ec2/vpc:Vpc::ml-dev", "aws:ec2/vpc:Vpc", parent="mlplatform:network:Network::ml-dev"),
    res("mlplatform:network:Network$aws:ec2/subnet:Subnet::ml-dev-private-0", "aws:ec2/subnet:Subnet",
        deps=["mlplatform:network:Network$aws:ec2/vpc:Vpc::ml-dev"], parent="mlplatform:network:Network::ml-dev"),
    res("mlplatform:network:Network$aws:ec2/natGateway:NatGateway::ml-dev-nat", "aws:ec2/natGateway:NatGateway",
        deps=["mlplatform:network:Network$aws:ec2/subnet:Subnet::ml-dev-private-0"], parent="mlplatform:network:Network::ml-dev"),
    res("mlplatform:compute:Cluster::ml-dev", "mlplatform:compute:Cluster"),
    res("mlplatform:compute:Cluster$aws:eks/cluster:Cluster::ml-dev", "aws:eks/cluster:Cluster", protect=True,
        deps=["mlplatform:network:Network$aws:ec2/subnet:Subnet::ml-dev-private-0"], parent="mlplatform:compute:Cluster::ml-dev"),
    res("mlplatform:compute:Cluster$aws:eks/nodeGroup:NodeGroup::ml-dev-system", "aws:eks/nodeGroup:NodeGroup",
        deps=["mlplatform:compute:Cluster$aws:eks/cluster:Cluster::ml-dev"], parent="mlplatform:compute:Cluster::ml-dev"),
    res("kubernetes:helm.sh/v3:Release::lbc", "kubernetes:helm.sh/v3:Release", chart="aws-load-balancer-controller"),
    res("kubernetes:helm.sh/v3:Release::mlflow", "kubernetes:helm.sh/v3:Release", chart="mlflow"),
    res("kubernetes:core/v1:Service::grafana-lb", "kubernetes:core/v1:Service"),
    res("kubernetes:karpenter.sh/v1:NodePool::gpu-1x", "kubernetes:karpenter.sh/v1:NodePool"),
    res("mlplatform:data:MetadataStore::ml-dev", "mlplatform:data:MetadataStore"),
    res("mlplatform:data:MetadataStore$aws:kms/key:Key::ml-dev-db", "aws:kms/key:Key", protect=True,
        parent="mlplatform:data:MetadataStore::ml-dev"),
    res("mlplatform:data:MetadataStore$aws:rds/subnetGroup:SubnetGroup::ml-dev", "aws:rds/subnetGroup:SubnetGroup",
        deps=["mlplatform:network:Network$aws:ec2/subnet:Subnet::ml-dev-private-0"], parent="mlplatform:data:MetadataStore::ml-dev"),
    res("mlplatform:data:MetadataStore$aws:rds/instance:Instance::ml-dev", "aws:rds/instance:Instance", protect=True,
        deps=["mlplatform:data:MetadataStore$aws:rds/subnetGroup:SubnetGroup::ml-dev",
              "mlplatform:data:MetadataStore$aws:kms/key:Key::ml-dev-db"], parent="mlplatform:data:MetadataStore::ml-dev"),
    res("mlplatform:registry:ArtifactRegistry::ml-dev", "mlplatform:registry:ArtifactRegistry"),
    res("mlplatform:registry:ArtifactRegistry$aws:s3/bucket:Bucket::ml-dev-artifacts", "aws:s3/bucket:Bucket", protect=True,
        parent="mlplatform:registry:ArtifactRegistry::ml-dev"),
    res("mlplatform:registry:ArtifactRegistry$aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock::ml-dev-artifacts",
        "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock", parent="mlplatform:registry:ArtifactRegistry::ml-dev",
        deps=["mlplatform:registry:ArtifactRegistry$aws:s3/bucket:Bucket::ml-dev-artifacts"]),
]


def names(urns: list[str]) -> list[str]:
    return [u.split("::")[-1] for u in urns]


def test_destroy_keeps_data_and_what_it_needs():
    kept = kept_urns(STATE, purge=False)
    assert names(kept) == ["default_7", "ml-dev", "ml-dev", "ml-dev-private-0", "ml-dev", "ml-dev-db", "ml-dev",
                           "ml-dev", "ml-dev", "ml-dev-artifacts", "ml-dev-artifacts"]
    kept_types = {next(r["type"] for r in STATE if r["urn"] == u) for u in kept}
    assert "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock" in kept_types  # the bucket keeps its protection
    assert {"aws:rds/instance:Instance", "aws:kms/key:Key", "aws:ec2/subnet:Subnet", "aws:ec2/vpc:Vpc"} <= kept_types
    assert not kept_types & {"aws:eks/cluster:Cluster", "aws:ec2/natGateway:NatGateway", "aws:eks/nodeGroup:NodeGroup"}
    assert kept_urns(STATE, purge=True) == []


def test_destroy_phases_go_in_the_safe_order():
    dplan = plan_destroy(STATE, purge=False)
    labels = [label for label, _ in dplan.phases]
    assert labels == ["load balancer owners (Services, Ingresses, Helm releases)", "Karpenter node pools",
                      "node groups", "the rest (cluster, network, IAM)"]
    phases = {label: names(urns) for label, urns in dplan.phases}
    assert phases[labels[0]] == ["mlflow", "grafana-lb"]  # the LB controller stays until its objects are gone
    assert phases[labels[1]] == ["gpu-1x"] and phases[labels[2]] == ["ml-dev-system"]
    assert "lbc" in phases[labels[3]] and "ml-dev-nat" in phases[labels[3]]
    everything = {u for _, urns in dplan.phases for u in urns} | set(dplan.kept)
    assert everything == {r["urn"] for r in STATE} - {P + "pulumi:pulumi:Stack::mlplatform-dev"}
    assert names(dplan.unprotected) == ["ml-dev"]  # the cluster; the data stays protected

    purge = plan_destroy(STATE, purge=True)
    assert purge.kept == [] and sorted(names(purge.unprotected)) == ["ml-dev", "ml-dev", "ml-dev-artifacts", "ml-dev-db"]


def test_unprotect_touches_only_what_goes():
    deployment = {"manifest": {}, "resources": [dict(r) for r in STATE]}
    new, changed = unprotect(deployment, kept_urns(STATE, purge=False))
    assert names(changed) == ["ml-dev"]
    protected = {r["urn"] for r in new["resources"] if r.get("protect")}
    assert names(sorted(protected)) == ["ml-dev-db", "ml-dev", "ml-dev-artifacts"]
    assert any(r.get("protect") for r in deployment["resources"] if r["type"] == "aws:eks/cluster:Cluster")  # a copy


def test_teardown_of_an_empty_or_half_destroyed_stack():
    assert teardown_phases([], []) == []
    half = [r for r in STATE if r["type"] not in ("aws:eks/nodeGroup:NodeGroup", "kubernetes:karpenter.sh/v1:NodePool")]
    labels = [label for label, _ in plan_destroy(half, purge=False).phases]
    assert labels == ["load balancer owners (Services, Ingresses, Helm releases)", "the rest (cluster, network, IAM)"]


# -- with the real engine --------------------------------------------------------------------------
@pytest.mark.engine
@pytest.mark.skipif(shutil.which("pulumi") is None, reason="needs the pulumi CLI on PATH")
def test_open_stack_installs_pinned_plugins(project_dir, aws, monkeypatch):
    monkeypatch.setenv("PULUMI_CONFIG_PASSPHRASE", "test")
    stack = workspace.open_stack(load_project(project_dir, "dev"))
    have = {(p.name, (p.version or "").lstrip("v")) for p in stack.workspace.list_plugins()}
    assert set(pinned_plugins().items()) <= have
    assert workspace.format_outputs(stack.outputs()) == []
    assert (project_dir / ".pulumi-state").is_dir()


def test_up_without_pulumi_is_one_line_before_any_preflight(project_dir, monkeypatch, tmp_path):
    _without_runners(project_dir)
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    res = CliRunner().invoke(cli, ["up", "--dir", str(project_dir), "--yes"], catch_exceptions=False)
    assert res.exit_code == 1 and res.stdout.splitlines()[0].startswith("Stack dev (Pulumi.dev.yaml): ")
    assert res.stderr.strip().splitlines() == [
        "error: pulumi: the Pulumi CLI is not on PATH; install the Pulumi CLI: curl -fsSL https://get.pulumi.com | sh "
        "(or brew install pulumi)"]
