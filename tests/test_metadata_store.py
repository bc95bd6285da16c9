"""MetadataStore under the Pulumi mock monitor: the database, MLflow's values, IRSA, secrets."""

from __future__ import annotations

import copy
import json
import re
from pathlib import Path

import jsonschema
import pulumi
import pulumi_kubernetes as k8s
import pytest

from chartcheck import chart_values, check_values
from mlplatform.components.merge import deep_merge
from mlplatform.stacks.config.chart_facts import chart_facts
from conftest import assert_valid_k8s, helm_values, k8s_objects, one, plan_of
from mlplatform.components import versions
from mlplatform.components._common import SYSTEM_NODE_SELECTOR, ValidationError
from mlplatform.components.artifact_registry import ArtifactRegistry, ArtifactRegistryArgs
from mlplatform.components.metadata_store import (
    POSTGRES_FAMILIES,
    ExistingDatabase,
    MetadataStore,
    MetadataStoreArgs,
    allowed_hosts,
)
from mlplatform.stacks.plan.mocks import ACCOUNT_ID, _hex
from mlplatform.stacks.plan.offline import SECRET
from mlplatform.stacks.program import plan as stack_plan
from mlplatform.stacks.config.spec import SpecError, load_spec

ISSUER = "https://oidc.eks.us-east-1.amazonaws.com/id/ABCDEF0123456789"
OIDC_ARN = f"arn:aws:iam::{ACCOUNT_ID}:oidc-provider/oidc.eks.us-east-1.amazonaws.com/id/ABCDEF0123456789"
CLUSTER_SG = "sg-0cluster0000000001"
SECRET_ARN = f"arn:aws:secretsmanager:us-east-1:{ACCOUNT_ID}:secret:prod/mlflow-db-AbCdEf"
DB = "aws:rds/instance:Instance"
RELEASE = "kubernetes:helm.sh/v3:Release"
# The master password the mocks generate for RandomPassword "ml-metadata-db" (length 40).
CLEAR_PASSWORD = (_hex("pwml-metadata-db", 64) * 2)[:40]


def program(**overrides):
    def run():
        reg = ArtifactRegistry("reg", ArtifactRegistryArgs())
        provider = k8s.Provider("k8s", kubeconfig="{}")
        fields = dict(registry=reg, oidc_provider_arn=OIDC_ARN, oidc_issuer_url=ISSUER, k8s_provider=provider,
                      vpc_id="vpc-0123456789abcdef0", private_subnet_ids=["subnet-a", "subnet-b"],
                      client_security_group_id=CLUSTER_SG)
        fields.update(overrides)
        store = MetadataStore("ml", MetadataStoreArgs(**fields))
        for attr in ("tracking_url", "external_url", "db_endpoint", "db_security_group_id", "role_arn"):
            pulumi.export(attr, getattr(store, attr))
        pulumi.export("bucket", reg.bucket_name)
        pulumi.export("models_arn", reg.repository_arns["models"])
    return run


@pytest.fixture(scope="module")
def plan():
    return plan_of(program())


def mlflow_values(plan) -> dict:
    (values,) = helm_values(plan, "mlflow")
    return values


def assert_chart_accepts(values: dict) -> None:
    """Every key exists in the pinned values.yaml, and Helm's merged values pass values.schema.json."""
    report = check_values("mlflow", values)
    assert report.unknown == [] and report.mismatched == []
    schema = chart_facts("mlflow")["values_schema"]
    jsonschema.Draft7Validator(schema).validate(deep_merge(chart_values("mlflow"), values))


# -- the database ---------------------------------------------------------------------------------
def test_database_security_properties(plan):
    db = one(plan, DB)
    i = db.inputs
    key = one(plan, "aws:kms/key:Key", "ml-metadata-db")
    assert i["engine"] == "postgres" and i["engineVersion"] == versions.POSTGRES_MAJOR
    assert i["publiclyAccessible"] is False
    assert i["storageEncrypted"] is True and i["storageType"] == "gp3"
    assert i["kmsKeyId"].startswith(f"arn:aws:kms:us-east-1:{ACCOUNT_ID}:key/") and key.urn in db.depends_on
    assert i["deletionProtection"] is True
    # Unique per creation of the database (a random suffix kept in state): a re-created stack's second
    # destroy does not collide with the first one's final snapshot.
    assert i["skipFinalSnapshot"] is False
    suffix = one(plan, "random:index/randomId:RandomId", "ml-metadata-final-snapshot")
    assert suffix.inputs["byteLength"] == 4 and suffix.inputs["keepers"] == {"identifier": "ml-metadata"}
    assert re.fullmatch(r"ml-metadata-final-[0-9a-f]{8}", i["finalSnapshotIdentifier"])
    assert i["deleteAutomatedBackups"] is False and i["copyTagsToSnapshot"] is True
    assert i["autoMinorVersionUpgrade"] is True and i["allowMajorVersionUpgrade"] is False
    assert i["applyImmediately"] is False
    assert i["iamDatabaseAuthenticationEnabled"] is False
    assert i["password"] == SECRET
    assert i["identifier"] == "ml-metadata" and i["dbName"] == "mlflow" and i["username"] == "mlflow"
    assert db.protect is True


def test_database_sizes_default_to_the_smallest(plan):
    i = one(plan, DB).inputs
    assert i["instanceClass"] == "db.t4g.micro" and i["allocatedStorage"] == 20
    assert i["multiAz"] is False and i["backupRetentionPeriod"] == 7
    assert i["performanceInsightsEnabled"] is False and "performanceInsightsKmsKeyId" not in i


def test_database_sizes_and_switches_follow_args():
    p = plan_of(program(instance_class="db.m6g.large", multi_az=True, backup_retention_days=35,
                        allocated_storage_gib=100, performance_insights=True, iam_auth=True, apply_immediately=True))
    i = one(p, DB).inputs
    key_arn = i["kmsKeyId"]
    assert (i["instanceClass"], i["multiAz"], i["backupRetentionPeriod"], i["allocatedStorage"]) == (
        "db.m6g.large", True, 35, 100)
    assert i["performanceInsightsEnabled"] is True and i["performanceInsightsKmsKeyId"] == key_arn
    assert i["performanceInsightsRetentionPeriod"] == 7
    assert i["iamDatabaseAuthenticationEnabled"] is True and i["applyImmediately"] is True


def test_parameter_group_forces_tls(plan):
    pg = one(plan, "aws:rds/parameterGroup:ParameterGroup")
    assert pg.inputs["family"] == f"postgres{versions.POSTGRES_MAJOR}"
    assert {"name": "rds.force_ssl", "value": "1", "applyMethod": "immediate"} in pg.inputs["parameters"]
    assert one(plan, DB).inputs["parameterGroupName"] == pg.inputs["name"]


def test_own_subnet_group_in_the_private_subnets(plan):
    group = one(plan, "aws:rds/subnetGroup:SubnetGroup")
    assert group.inputs["subnetIds"] == ["subnet-a", "subnet-b"]
    assert one(plan, DB).inputs["dbSubnetGroupName"] == group.inputs["name"] == "ml-metadata"


def test_security_group_admits_only_the_cluster_on_5432(plan):
    sg = one(plan, "aws:ec2/securityGroup:SecurityGroup")
    assert sg.inputs["vpcId"] == "vpc-0123456789abcdef0"
    assert sg.inputs["egress"] == [] and "ingress" not in sg.inputs
    (rule,) = plan.of_type("aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule")
    assert rule.inputs["securityGroupId"] == plan.outputs["db_security_group_id"]
    assert rule.inputs["referencedSecurityGroupId"] == CLUSTER_SG
    assert (rule.inputs["ipProtocol"], rule.inputs["fromPort"], rule.inputs["toPort"]) == ("tcp", 5432, 5432)
    assert not {"cidrIpv4", "cidrIpv6", "prefixListId"} & set(rule.inputs)
    assert not plan.of_type("aws:vpc/securityGroupEgressRule:SecurityGroupEgressRule")
    assert one(plan, DB).inputs["vpcSecurityGroupIds"] == [plan.outputs["db_security_group_id"]]


def test_kms_key_rotates_and_is_protected(plan):
    key = one(plan, "aws:kms/key:Key", "ml-metadata-db")
    assert key.inputs["enableKeyRotation"] is True and key.protect is True
    assert one(plan, "aws:kms/alias:Alias", "ml-metadata-db").inputs["name"] == "alias/ml-metadata-db"


def test_logs_exported_with_a_retention(plan):
    db = one(plan, DB)
    assert db.inputs["enabledCloudwatchLogsExports"] == ["postgresql", "upgrade"]
    for log in ("postgresql", "upgrade"):
        group = one(plan, "aws:cloudwatch/logGroup:LogGroup", f"ml-metadata-db-{log}")
        assert group.inputs["name"] == f"/aws/rds/instance/ml-metadata/{log}"
        assert group.inputs["retentionInDays"] == 90 and group.urn in db.depends_on


def test_ownership_tags_on_every_aws_resource(plan):
    store = one(plan, "mlplatform:data:MetadataStore")
    mine = [r for r in plan.resources if r.parent == store.urn and r.type.startswith("aws:")
            and r.type not in ("aws:kms/alias:Alias", "aws:iam/rolePolicy:RolePolicy")]
    assert len(mine) == 9
    for r in mine:
        assert r.inputs["tags"]["mlplatform:managed-by"] == "mlplatform" and r.inputs["tags"]["mlplatform:component"] == "ml"


def test_protect_can_be_turned_off():
    p = plan_of(program(protect=False))
    assert one(p, DB).protect is False and one(p, "aws:kms/key:Key", "ml-metadata-db").protect is False


# -- the password -----------------------------------------------------------------------------------
def test_password_is_generated_and_never_in_clear(plan):
    pw = one(plan, "random:index/randomPassword:RandomPassword")
    assert pw.inputs["length"] == 40
    secret = one(plan, "kubernetes:core/v1:Secret")
    assert secret.inputs["stringData"] == SECRET and secret.inputs["type"] == "kubernetes.io/basic-auth"
    values = mlflow_values(plan)
    assert "password" not in values["backendStore"]["postgres"]
    text = plan.to_json()
    assert len(CLEAR_PASSWORD) == 40 and CLEAR_PASSWORD not in text
    assert CLEAR_PASSWORD not in json.dumps(values)


def test_the_clear_password_check_can_fail():
    """The password the mocks generate is the one the check above looks for."""
    def run():
        import pulumi_random as random
        pw = random.RandomPassword("ml-metadata-db", length=40, special=False)
        pulumi.export("pw", pulumi.Output.unsecret(pw.result))
    assert plan_of(run).outputs["pw"] == CLEAR_PASSWORD


# -- IRSA -------------------------------------------------------------------------------------------
def test_irsa_trust_pins_sub_and_aud_in_one_block(plan):
    role = one(plan, "aws:iam/role:Role", "ml-mlflow")
    (statement,) = json.loads(role.inputs["assumeRolePolicy"])["Statement"]
    host = ISSUER.removeprefix("https://")
    assert statement["Action"] == "sts:AssumeRoleWithWebIdentity"
    assert statement["Principal"] == {"Federated": OIDC_ARN}
    assert statement["Condition"] == {"StringEquals": {
        f"{host}:sub": "system:serviceaccount:mlflow:mlflow",
        f"{host}:aud": "sts.amazonaws.com",
    }}
    sa = mlflow_values(plan)["serviceAccount"]
    assert sa["name"] == "mlflow" and sa["create"] is True and sa["automount"] is False
    assert sa["annotations"] == {"eks.amazonaws.com/role-arn": plan.outputs["role_arn"]}


def test_irsa_policy_is_the_mlflow_prefix_only(plan):
    """Least privilege (issue 25): the server reads and writes its S3 prefix and never pushes to `models`."""
    bucket_arn = f"arn:aws:s3:::{plan.outputs['bucket']}"
    artifacts = json.loads(one(plan, "aws:iam/rolePolicy:RolePolicy", "ml-mlflow-artifacts").inputs["policy"])
    by_sid = {s["Sid"]: s for s in artifacts["Statement"]}
    assert by_sid["ListPrefix"]["Condition"] == {"StringLike": {"s3:prefix": ["mlflow/*"]}}
    assert by_sid["ObjectsUnderPrefix"]["Resource"] == f"{bucket_arn}/mlflow/*"
    for st in artifacts["Statement"]:
        actions = [st["Action"]] if isinstance(st["Action"], str) else st["Action"]
        assert not ("*" in actions and st["Resource"] == "*")
    assert [r.name for r in plan.of_type("aws:iam/rolePolicy:RolePolicy")] == ["ml-mlflow-artifacts"]
    assert "ecr:PutImage" not in plan.to_json()


def test_a_model_repository_policy_only_when_asked():
    p = plan_of(program(model_repositories=["models"]))
    models = json.loads(one(p, "aws:iam/rolePolicy:RolePolicy", "ml-mlflow-models").inputs["policy"])
    push = [s for s in models["Statement"] if s["Sid"] == "PushPull"][0]
    assert push["Resource"] == [p.outputs["models_arn"]] and "ecr:PutImage" in push["Action"]


def test_stack_mlflow_role_may_not_push_models(stack_plans):
    for profile, p in stack_plans.items():
        names = [r.name for r in p.of_type("aws:iam/rolePolicy:RolePolicy") if "-mlflow-" in r.name]
        assert names == ["ml-dev-mlflow-artifacts"], (profile, names)
        policies = [r for r in p.of_type("aws:iam/rolePolicy:RolePolicy") if "-mlflow-" in r.name]
        assert not any("ecr:" in r.inputs["policy"] for r in policies), profile


# -- MLflow -----------------------------------------------------------------------------------------
def test_mlflow_release_is_pinned_and_values_fit_the_chart(plan):
    release = one(plan, RELEASE)
    assert release.inputs["version"] == versions.HELM_CHARTS["mlflow"][0]
    assert release.inputs["namespace"] == "mlflow" and release.inputs["createNamespace"] is False
    assert_chart_accepts(mlflow_values(plan))


def test_chart_schema_check_catches_a_bad_value(plan):
    values = {**mlflow_values(plan), "replicaCount": "two"}
    assert check_values("mlflow", values).mismatched == ["replicaCount: is a string, the chart's default is a number"]
    with pytest.raises(jsonschema.ValidationError):  # and the chart's own values.schema.json refuses it too
        jsonschema.Draft7Validator(chart_facts("mlflow")["values_schema"]).validate(
            deep_merge(chart_values("mlflow"), values))


def test_mlflow_backend_store_is_the_database_through_the_secret(plan):
    values = mlflow_values(plan)
    db = one(plan, DB)
    secret = one(plan, "kubernetes:core/v1:Secret")
    store = values["backendStore"]
    assert store["postgres"] == {"enabled": True, "host": plan.outputs["db_endpoint"].split(":")[0],
                                 "port": 5432, "database": "mlflow"}
    assert plan.outputs["db_endpoint"].startswith(db.inputs["identifier"] + ".")
    assert store["existingDatabaseSecret"] == {"name": secret.inputs["metadata"]["name"],
                                               "usernameKey": "username", "passwordKey": "password"}
    assert secret.inputs["metadata"]["namespace"] == "mlflow"
    release = one(plan, RELEASE)
    assert secret.urn in release.depends_on


def test_mlflow_connects_with_verify_full_and_the_rds_ca_bundle(plan):
    """libpq verifies the RDS certificate and host name; the bundle comes from an init container into an
    in-memory emptyDir that the server mounts read-only (issue 25)."""
    values = mlflow_values(plan)
    assert values["extraEnvVars"] == {"PGSSLMODE": "verify-full", "PGSSLROOTCERT": "/etc/rds-ca/global-bundle.pem"}
    assert values["extraVolumes"] == [{"name": "rds-ca", "emptyDir": {"medium": "Memory", "sizeLimit": "1Mi"}}]
    assert values["extraVolumeMounts"] == [{"name": "rds-ca", "mountPath": "/etc/rds-ca", "readOnly": True}]
    (init,) = values["initContainers"]
    assert init["image"] == versions.MLFLOW_IMAGE and init["volumeMounts"] == [{"name": "rds-ca", "mountPath": "/etc/rds-ca"}]
    assert init["command"][-2:] == ["https://truststore.pki.rds.amazonaws.com/global/global-bundle.pem",
                                    "/etc/rds-ca/global-bundle.pem"]
    assert init["securityContext"]["readOnlyRootFilesystem"] is True
    assert_valid_k8s({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"},
                      "spec": {"initContainers": [init], "containers": [{"name": "c", "image": "x",
                               "volumeMounts": values["extraVolumeMounts"]}], "volumes": values["extraVolumes"]}})
    assert_chart_accepts(values)


def test_the_ca_fetch_script_writes_pem_and_refuses_anything_else(tmp_path):
    """The init container's own script, run here against a loopback HTTP server (file:// would do too)."""
    import http.server
    import subprocess
    import sys
    import threading

    from mlplatform.components.metadata_store import ca_bundle_init_container

    (tmp_path / "good.pem").write_text("-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n")
    (tmp_path / "bad.pem").write_text("<html>captive portal</html>")
    handler = lambda *a: http.server.SimpleHTTPRequestHandler(*a, directory=str(tmp_path))  # noqa: E731
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        script = ca_bundle_init_container()["command"][2]
        base = f"http://127.0.0.1:{server.server_port}"
        ok = subprocess.run([sys.executable, "-c", script, f"{base}/good.pem", str(tmp_path / "out.pem")],
                            capture_output=True, text=True, timeout=30)
        assert ok.returncode == 0 and "1 certificates" in ok.stdout
        assert (tmp_path / "out.pem").read_text().startswith("-----BEGIN CERTIFICATE-----")
        bad = subprocess.run([sys.executable, "-c", script, f"{base}/bad.pem", str(tmp_path / "out2.pem")],
                             capture_output=True, text=True, timeout=30)
        assert bad.returncode != 0 and "did not answer with PEM certificates" in bad.stderr
        assert not (tmp_path / "out2.pem").exists()
    finally:
        server.shutdown()


def test_the_schema_migration_runs_once_in_a_job_before_the_release():
    """Two replicas on a first install would both migrate (the chart's per-replica init container) and one
    crash on a unique key: the chart's migration is off and one Job, which the release waits for, runs it."""
    p = plan_of(program(replicas=2, ingress=True))
    values = mlflow_values(p)
    assert values["backendStore"]["databaseMigration"] is False and values["replicaCount"] == 2
    job = one(p, "kubernetes:batch/v1:Job")
    assert job.urn in one(p, RELEASE).depends_on
    spec = job.inputs["spec"]
    assert spec["completions"] == 1 and spec["parallelism"] == 1
    pod = spec["template"]["spec"]
    (c,) = pod["containers"]
    assert c["image"] == versions.MLFLOW_IMAGE and c["command"][:2] == ["python", "-c"]
    assert "_initialize_tables" in c["command"][2]  # what the chart's migrations.py runs
    env = {e["name"]: e.get("value", e.get("valueFrom")) for e in c["env"]}
    assert env["PGSSLMODE"] == "verify-full" and env["PGSSLROOTCERT"] == "/etc/rds-ca/global-bundle.pem"
    assert "PGPASSWORD" not in env and "/etc/mlflow-db" in c["command"][2]  # credentials as files, not env
    assert {"name": "db", "secret": {"secretName": "mlflow-db", "defaultMode": 0o440}} in pod["volumes"]
    assert pod["securityContext"]["runAsNonRoot"] is True and c["securityContext"]["readOnlyRootFilesystem"] is True
    policy = one(p, "kubernetes:networking.k8s.io/v1:NetworkPolicy")
    assert policy.inputs["spec"]["podSelector"]["matchLabels"] == spec["template"]["metadata"]["labels"]
    assert policy.inputs["spec"]["ingress"] == []
    assert env["PGHOST"] == p.outputs["db_endpoint"].split(":")[0] and env["PGDATABASE"] == "mlflow"
    assert [i["name"] for i in pod["initContainers"]] == ["rds-ca-bundle"]
    assert pod["nodeSelector"] == SYSTEM_NODE_SELECTOR and pod["restartPolicy"] == "Never"
    assert_valid_k8s({"apiVersion": "batch/v1", "kind": "Job", **{k: job.inputs[k] for k in ("metadata", "spec")}})
    # the chart's own image at its appVersion (3.15.1, the server the generated workflows' client matches)
    assert versions.MLFLOW_IMAGE == f"{chart_values('mlflow')['image']['repository']}:{versions.MLFLOW_CLIENT}"


def test_mlflow_artifacts_in_the_bucket_and_runs_on_system_nodes(plan):
    values = mlflow_values(plan)
    assert values["artifactRoot"]["s3"] == {"enabled": True, "bucket": plan.outputs["bucket"], "path": "mlflow"}
    assert values["replicaCount"] == 1
    assert values["resources"]["requests"] == {"cpu": "250m", "memory": "1Gi"}
    assert values["nodeSelector"] == SYSTEM_NODE_SELECTOR
    assert values["ingress"] == {"enabled": False}
    assert values["telemetry"] == {"enabled": False}


def test_tracking_url_host_is_an_allowed_host(plan):
    url = plan.outputs["tracking_url"]
    assert url == "http://mlflow.mlflow.svc.cluster.local:80"
    hosts = mlflow_values(plan)["serverAllowedHosts"]
    assert "mlflow.mlflow.svc.cluster.local" in hosts and "mlflow.mlflow.svc.cluster.local:*" in hosts
    assert "10.*" in hosts and "*" not in hosts
    assert plan.outputs["external_url"] is None


def test_ingress_with_replicas_and_host():
    p = plan_of(program(replicas=3, ingress=True, ingress_host="mlflow.example.com"))
    values = mlflow_values(p)
    assert values["replicaCount"] == 3
    ingress = values["ingress"]
    assert ingress["enabled"] is True and ingress["className"] == "alb"
    assert ingress["annotations"]["alb.ingress.kubernetes.io/scheme"] == "internal"
    assert ingress["hosts"] == [{"host": "mlflow.example.com", "paths": [{"path": "/", "pathType": "Prefix"}]}]
    assert "mlflow.example.com" in values["serverAllowedHosts"]
    assert p.outputs["external_url"] == "http://mlflow.example.com"
    assert_chart_accepts(values)


def test_the_ui_through_the_ingress_passes_mlflows_cors_guard():
    """MLflow 3.15 refuses state-changing requests from an Origin it does not allow (403 "Cross-origin request
    blocked"): the ingress host's origin (or the ALB's name) is allowed, others are not (issue 25)."""
    import importlib.util

    import mlflow

    # The server's own guard at 3.15.1 (mlflow-skinny, the pinned client), loaded alone: the package's
    # mlflow.server __init__ needs the full server's dependencies (SQLAlchemy), the guard does not.
    assert mlflow.__version__ == versions.MLFLOW_CLIENT
    path = Path(mlflow.__file__).parent / "server" / "security_utils.py"
    spec = importlib.util.spec_from_file_location("mlflow_security_utils", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    should_block_cors_request = module.should_block_cors_request

    with_host = mlflow_values(plan_of(program(replicas=2, ingress=True, ingress_host="mlflow.example.com")))
    assert with_host["corsAllowedOrigins"] == ["http://mlflow.example.com"]
    alb = mlflow_values(plan_of(program(replicas=2, ingress=True)))
    assert alb["corsAllowedOrigins"] == ["http://*.elb.amazonaws.com"]
    for values, origin in ((with_host, "http://mlflow.example.com"),
                           (alb, "http://internal-k8s-mlflow-0a1b2c3d4e-123456789.eu-west-1.elb.amazonaws.com")):
        allowed = values["corsAllowedOrigins"]
        assert not should_block_cors_request(origin, "POST", allowed)
        assert should_block_cors_request("http://evil.example.net", "POST", allowed)
        assert should_block_cors_request(origin, "POST", [])  # what the chart gave before: refused
        assert_chart_accepts(values)


def test_ingress_without_host_allows_the_alb_name():
    assert allowed_hosts("mlflow", True, None)[-1] == "*.elb.amazonaws.com"
    assert "*.elb.amazonaws.com" not in allowed_hosts("mlflow", False, None)


def test_kubernetes_objects_are_valid(plan):
    objects = k8s_objects(plan)
    assert sorted(o["kind"] for o in objects) == ["Job", "Namespace", "NetworkPolicy", "Secret"]
    for o in objects:
        if o["kind"] == "Secret":  # the plan masks the secret data: validate its shape with the real keys
            o = {**o, "stringData": {"username": "mlflow", "password": "masked"}}
        assert_valid_k8s(o)
    ns = one(plan, "kubernetes:core/v1:Namespace")
    assert ns.inputs["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "baseline"


# -- adopting a database ------------------------------------------------------------------------------
def test_adopt_creates_no_database_and_reads_the_secret():
    p = plan_of(program(existing=ExistingDatabase(endpoint="pg.internal.example.com:6432", secret_arn=SECRET_ARN,
                                                  database_name="tracking"),
                        vpc_id=None, private_subnet_ids=None, client_security_group_id=None))
    assert not [r for r in p.resources if r.type.startswith(("aws:rds/", "aws:ec2/", "aws:vpc/", "random:"))]
    assert not p.of_type("aws:cloudwatch/logGroup:LogGroup")
    assert [r.name for r in p.of_type("aws:kms/key:Key")] == ["reg-artifacts"]
    store = mlflow_values(p)["backendStore"]["postgres"]
    assert store == {"enabled": True, "host": "pg.internal.example.com", "port": 6432, "database": "tracking"}
    assert p.outputs["db_endpoint"] == "pg.internal.example.com:6432"
    assert p.outputs["db_security_group_id"] is None
    assert one(p, "kubernetes:core/v1:Secret").inputs["stringData"] == SECRET
    adopted_password = _hex("pw" + SECRET_ARN, 32)
    assert adopted_password not in p.to_json()
    assert_chart_accepts(mlflow_values(p))


# -- bad input ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("fields, message", [
    ({"backup_retention_days": 0}, "backup_retention_days: input should be greater than or equal to 1; use a value >= 1"),
    ({"backup_retention_days": 36}, "backup_retention_days: input should be less than or equal to 35; use a value <= 35"),
    ({"instance_class": "db.q9z.large"},
     "instance_class: unknown instance class family 'q9z' for RDS for PostgreSQL; use one of t3, t4g"),
    ({"instance_class": "db.t2.micro"}, "instance_class: unknown instance class family 't2'"),
    ({"instance_class": "t4g.micro"}, "instance_class: 't4g.micro' is not an RDS instance class; write it as db.<family>.<size>"),
    ({"existing": dict(endpoint="pg.example.com", secret_arn=None)},
     "existing.secret_arn: required when adopting a database; pass the ARN of the Secrets Manager secret"),
    ({"existing": dict(endpoint="pg.example.com", secret_arn="")}, "existing.secret_arn: required"),
    ({"existing": dict(endpoint="pg.example.com", secret_arn="prod/mlflow")},
     "existing.secret_arn: 'prod/mlflow' is not a Secrets Manager secret ARN"),
    ({"existing": dict(endpoint="postgres://pg.example.com/db", secret_arn=SECRET_ARN)},
     "existing.endpoint: 'postgres://pg.example.com/db' is not a host or host:port"),
    ({"vpc_id": None}, "vpc_id: required when creating the database"),
    ({"client_security_group_id": None}, "client_security_group_id: required when creating the database; pass the Cluster's"),
    ({"private_subnet_ids": ["subnet-a"]}, "private_subnet_ids: 1 subnet(s) given"),
    ({"allocated_storage_gib": 10}, "allocated_storage_gib: input should be greater than or equal to 20; use a value >= 20"),
    ({"model_repositories": ["weights"]}, "model_repositories: 'weights' is not a repository of the registry"),
    ({"replicas": 0}, "replicas: input should be greater than or equal to 1; use a value >= 1"),
    ({"ingress_host": "mlflow.example.com"}, "ingress_host: is set while ingress is off"),
    ({"namespace": "ML"}, "namespace: 'ML' is not a Kubernetes namespace name"),
])
def test_bad_input_is_refused_and_nothing_is_created(fields, message):
    errors = []

    def run():
        reg = ArtifactRegistry("reg", ArtifactRegistryArgs())
        args = dict(registry=reg, oidc_provider_arn=OIDC_ARN, oidc_issuer_url=ISSUER, vpc_id="vpc-1",
                    private_subnet_ids=["subnet-a", "subnet-b"], client_security_group_id=CLUSTER_SG)
        args.update(fields)
        try:
            MetadataStore("ml", MetadataStoreArgs(**args))
        except ValidationError as e:
            errors.append(e)

    p = plan_of(run)
    assert len(errors) == 1 and str(errors[0]).startswith(message)
    assert "\n" not in str(errors[0])
    registry = one(p, "mlplatform:registry:ArtifactRegistry")
    assert all(r.urn == registry.urn or r.parent == registry.urn for r in p.resources)


def test_postgres_families_are_plain_names():
    assert len(set(POSTGRES_FAMILIES)) == len(POSTGRES_FAMILIES)
    assert all(f.isalnum() and f == f.lower() for f in POSTGRES_FAMILIES)
    assert {"t4g", "m6g", "m7g", "r7g"} <= set(POSTGRES_FAMILIES)


# -- in the stack ------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def stack_plans(profile_plans):
    return profile_plans


def test_profiles_size_the_database_and_mlflow(stack_plans):
    small, big = one(stack_plans["pragmatic"], DB).inputs, one(stack_plans["full"], DB).inputs
    assert (small["instanceClass"], small["multiAz"], small["backupRetentionPeriod"]) == ("db.t4g.micro", False, 7)
    assert (big["instanceClass"], big["multiAz"], big["backupRetentionPeriod"]) == ("db.m6g.large", True, 35)
    assert big["performanceInsightsEnabled"] is True
    assert mlflow_values(stack_plans["pragmatic"])["replicaCount"] == 1
    assert mlflow_values(stack_plans["full"])["replicaCount"] == 3
    assert mlflow_values(stack_plans["full"])["ingress"]["enabled"] is True
    for p in stack_plans.values():
        assert_chart_accepts(mlflow_values(p))


def test_stack_wires_the_cluster_security_group_and_outputs(stack_plans):
    p = stack_plans["pragmatic"]
    eks = one(p, "aws:eks/cluster:Cluster")
    (rule,) = p.of_type("aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule")
    assert rule.inputs["referencedSecurityGroupId"].startswith("sg-") and eks.urn in rule.depends_on
    out = p.outputs
    assert out["mlflow_url"] == "http://mlflow.mlflow.svc.cluster.local:80"
    assert out["db_endpoint"] == f"ml-dev-metadata.c{_hex('ml-dev-metadata', 11)}.us-east-1.rds.amazonaws.com:5432"
    assert "mlflow_external_url_command" not in out
    assert "ingress mlflow" in stack_plans["full"].outputs["mlflow_external_url_command"]
    assert mlflow_values(p)["artifactRoot"]["s3"]["bucket"] == out["artifact_bucket"]
    assert one(p, DB).protect is True
    assert one(p, DB).inputs["password"] == SECRET
    assert (_hex("pwml-dev-metadata-db", 64) * 2)[:40] not in p.to_json()


def test_stack_refuses_bad_database_input():
    with pytest.raises(SpecError, match=r"^database.backup_retention_days: input should be less than or equal to 35"):
        load_spec("pragmatic", sets=["database.backup_retention_days=40"])
    with pytest.raises(SpecError, match=r"^database.existing.secret_arn: field required"):
        load_spec("pragmatic", sets=["database.existing.endpoint=pg.example.com"])
    # The spec refuses it now, as the component does (it used to pass the spec and fail in the plan).
    with pytest.raises(SpecError, match=r"^database.instance_class: unknown instance class family 'q9z'"):
        load_spec("pragmatic", sets=["database.instance_class=db.q9z.large"])


def test_stack_adopting_a_database():
    spec = load_spec("pragmatic", sets=["database.existing.endpoint=pg.example.com",
                                        f"database.existing.secret_arn={SECRET_ARN}"])
    p = stack_plan(spec)
    assert not p.of_type(DB) and p.outputs["db_endpoint"] == "pg.example.com:5432"
    assert mlflow_values(p)["backendStore"]["postgres"]["host"] == "pg.example.com"


def test_mlflow_host_gives_an_external_url_and_needs_an_ingress():
    from mlplatform.stacks.program import plan
    from mlplatform.stacks.config.spec import SpecError, load_spec

    p = plan(load_spec("growth", sets=["mlflow.host=mlflow.ml.example.com"]))
    assert p.outputs["mlflow_external_url"] == "http://mlflow.ml.example.com"
    assert "mlflow_external_url_command" not in p.outputs
    with pytest.raises(SpecError, match=r"^mlflow: host is set but ingress is off: set mlflow.ingress to true"):
        load_spec("pragmatic", sets=["mlflow.host=mlflow.ml.example.com"])
    with pytest.raises(SpecError, match=r"^mlflow.host: string should match pattern"):
        load_spec("growth", sets=["mlflow.host=not a host"])


def test_stack_mlflow_origin_tls_and_one_migration_per_profile(stack_plans):
    """Issue 25 on the stack's own plans: growth/full (ingress, no host) allow the ALB's origin; every profile
    verifies the database certificate and migrates once, in the Job."""
    for profile, p in stack_plans.items():
        values = mlflow_values(p)
        expected = ["http://*.elb.amazonaws.com"] if profile != "pragmatic" else []
        assert values["corsAllowedOrigins"] == expected, profile
        assert values["extraEnvVars"]["PGSSLMODE"] == "verify-full", profile
        assert values["backendStore"]["databaseMigration"] is False, profile
        assert one(p, "kubernetes:batch/v1:Job", "ml-dev-mlflow-migrate").urn in one(p, RELEASE, "ml-dev-mlflow").depends_on
