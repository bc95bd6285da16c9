"""MonitoringDatabase: the `monitoring` schema's role, made by an in-cluster Job, and the Secret the drift
CronJobs read. The Job's own command and script (taken from the plan) run against a real PostgreSQL as an
RDS-like administrator (CREATEROLE, no superuser) whose database holds MLflow's real tables."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pulumi
import pulumi_kubernetes as k8s
import pytest

import pg_process
from conftest import assert_valid_k8s, k8s_objects, one, plan_of
from mlplatform.components import versions
from mlplatform.components.artifact_registry import ArtifactRegistry, ArtifactRegistryArgs
from mlplatform.components.conventions import SYSTEM_NODE_SELECTOR
from mlplatform.components.metadata_store import ExistingDatabase, MetadataStore, MetadataStoreArgs
from mlplatform.components.monitoring_db import MonitoringDatabase, MonitoringDatabaseArgs
from mlplatform.components.monitoring_role import MONITORING_DB_SECRET, ROLE, SCHEMA
from mlplatform.stacks.monitoring import store
from mlplatform.stacks.plan.mocks import ACCOUNT_ID, _hex
from realtools import tool

psycopg = pytest.importorskip("psycopg")
from psycopg import errors  # noqa: E402

JOB, SECRET, CONFIGMAP = "kubernetes:batch/v1:Job", "kubernetes:core/v1:Secret", "kubernetes:core/v1:ConfigMap"
ISSUER = "https://oidc.eks.us-east-1.amazonaws.com/id/ABCDEF0123456789"
OIDC_ARN = f"arn:aws:iam::{ACCOUNT_ID}:oidc-provider/oidc.eks.us-east-1.amazonaws.com/id/ABCDEF0123456789"
SECRET_ARN = f"arn:aws:secretsmanager:us-east-1:{ACCOUNT_ID}:secret:prod/mlflow-db-AbCdEf"
MASTER, MASTER_PW = "mlflow", "master-password-of-the-rds-instance"


def program(**store_fields):
    def run():
        reg = ArtifactRegistry("reg", ArtifactRegistryArgs())
        provider = k8s.Provider("k8s", kubeconfig="{}")
        fields = dict(registry=reg, oidc_provider_arn=OIDC_ARN, oidc_issuer_url=ISSUER, k8s_provider=provider,
                      vpc_id="vpc-0123456789abcdef0", private_subnet_ids=["subnet-a", "subnet-b"],
                      client_security_group_id="sg-0cluster0000000001")
        fields.update(store_fields)
        metadata = MetadataStore("ml", MetadataStoreArgs(**fields))
        MonitoringDatabase("ml", MonitoringDatabaseArgs(metadata=metadata, namespace="monitoring", k8s_provider=provider))
        pulumi.export("db_endpoint", metadata.db_endpoint)
    return run


@pytest.fixture(scope="module")
def plan():
    return plan_of(program())


def setup_job(p):
    return one(p, JOB, "ml-monitoring-db-setup")


# -- what the plan holds -------------------------------------------------------------------------------
def test_the_job_runs_the_pinned_client_on_system_nodes_restricted_with_credentials_from_secrets(plan):
    job = setup_job(plan)
    assert job.inputs["metadata"]["namespace"] == "mlflow"  # beside the administrator's Secret
    pod = job.inputs["spec"]["template"]["spec"]
    (c,) = pod["containers"]
    assert c["image"] == versions.POSTGRES_CLIENT_IMAGE and ":17." in c["image"]  # the RDS major's client
    assert versions.POSTGRES_MAJOR == "17"
    assert pod["nodeSelector"] == SYSTEM_NODE_SELECTOR and pod["restartPolicy"] == "Never"
    assert pod["securityContext"]["runAsNonRoot"] is True and pod["automountServiceAccountToken"] is False
    assert c["securityContext"] == {"allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]},
                                    "readOnlyRootFilesystem": True, "seccompProfile": {"type": "RuntimeDefault"}}
    env = {e["name"]: e["value"] for e in c["env"]}
    assert not {"PGUSER", "PGPASSWORD"} & set(env)  # read from the mounted Secrets, not the pod's environment
    assert env["PGSSLMODE"] == "verify-full" and env["PGHOST"] == plan.outputs["db_endpoint"].split(":")[0]
    secrets = {v["name"]: v["secret"]["secretName"] for v in pod["volumes"] if "secret" in v}
    assert secrets == {"admin": "mlflow-db", "password": "mlplatform-monitoring-db-setup"}
    assert [i["name"] for i in pod["initContainers"]] == ["rds-ca-bundle"]
    # it runs after the Secrets and the script exist
    deps = set(job.depends_on)
    assert {one(plan, SECRET, "ml-mlflow-db").urn, one(plan, SECRET, "ml-monitoring-db-setup").urn,
            one(plan, CONFIGMAP, "ml-monitoring-db-setup").urn} <= deps
    for obj in k8s_objects(plan):
        if obj["kind"] == "Secret":  # the plan masks the secret data: validate its shape with stand-in keys
            obj = {**obj, "stringData": {"password": "masked"}}
        assert_valid_k8s(obj)


def test_the_drift_jobs_secret_comes_after_the_job_and_the_password_is_a_pulumi_secret(plan):
    target = one(plan, SECRET, "ml-monitoring-db")
    assert target.inputs["metadata"] == {"name": MONITORING_DB_SECRET, "namespace": "monitoring",
                                         "labels": {"app.kubernetes.io/part-of": "mlplatform"}}
    assert setup_job(plan).urn in target.depends_on
    assert target.inputs["stringData"] == "[secret]"  # the whole of it: it carries the password
    clear = (_hex("pwml-monitoring-db", 64) * 2)[:40]  # what the mocks generate for RandomPassword "ml-monitoring-db"
    assert one(plan, "random:index/randomPassword:RandomPassword", "ml-monitoring-db")
    assert clear not in plan.to_json()


def test_a_new_password_or_script_reruns_the_job():
    """The Job's template carries a digest of script and password: a change replaces the Job (so it runs)."""
    from mlplatform.components import monitoring_db

    a = setup_job(plan_of(program())).inputs["spec"]["template"]["metadata"]["annotations"]
    assert a == setup_job(plan_of(program())).inputs["spec"]["template"]["metadata"]["annotations"]
    original = monitoring_db.PSQL_SCRIPT
    monitoring_db.PSQL_SCRIPT = original + "\n-- changed\n"
    try:
        b = setup_job(plan_of(program())).inputs["spec"]["template"]["metadata"]["annotations"]
    finally:
        monitoring_db.PSQL_SCRIPT = original
    assert a != b


def test_adopting_a_database_uses_its_endpoint_and_the_adopted_secret():
    p = plan_of(program(existing=ExistingDatabase(endpoint="pg.internal.example.com:6432", secret_arn=SECRET_ARN,
                                                  database_name="tracking"),
                        vpc_id=None, private_subnet_ids=None, client_security_group_id=None))
    pod = setup_job(p).inputs["spec"]["template"]["spec"]
    env = {e["name"]: e["value"] for e in pod["containers"][0]["env"]}
    assert (env["PGHOST"], env["PGPORT"], env["PGDATABASE"]) == ("pg.internal.example.com", "6432", "tracking")
    assert {"name": "admin", "secret": {"secretName": "mlflow-db", "defaultMode": 0o440}} in pod["volumes"]
    assert one(p, SECRET, "ml-monitoring-db").inputs["metadata"]["namespace"] == "monitoring"


def test_a_bad_role_or_metadata_is_refused():
    from mlplatform.components._common import ValidationError

    with pytest.raises(ValidationError, match="^role: "):
        MonitoringDatabaseArgs(metadata=None, namespace="monitoring", role="Drop Table")
    with pytest.raises(ValidationError, match="^namespace: "):
        MonitoringDatabaseArgs(metadata=None, namespace="Monitoring")

    def bad():
        MonitoringDatabase("ml", MonitoringDatabaseArgs(metadata="mlflow", namespace="monitoring"))

    with pytest.raises(ValidationError, match="^metadata: must be a MetadataStore, got str; pass the stack's"):
        plan_of(bad)


def test_the_stack_makes_it_for_served_models_only(profile_plans):
    from mlplatform.stacks.config.spec import load_spec
    from mlplatform.stacks.program import plan as stack_plan

    assert not [r for r in profile_plans["growth"].resources if "monitoring-db" in r.name]
    p = stack_plan(load_spec("pragmatic", overrides={"serving": {"models": {"churn": {}}}}))
    target = one(p, SECRET, "ml-dev-monitoring-db")
    cron = one(p, "kubernetes:batch/v1:CronJob", "ml-dev-drift-churn")
    pod = cron.inputs["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    (volume,) = [v for v in pod["volumes"] if "secret" in v]
    assert volume["secret"]["secretName"] == target.inputs["metadata"]["name"]
    (mount,) = [m for m in pod["containers"][0]["volumeMounts"] if m["name"] == volume["name"]]
    assert cron.inputs["metadata"]["namespace"] == target.inputs["metadata"]["namespace"]
    env = {e["name"]: e["value"] for e in pod["containers"][0]["env"]}
    assert env["PGSSLMODE"] == "verify-full" and [i["name"] for i in pod["initContainers"]] == ["rds-ca-bundle"]
    assert env["PGSERVICEFILE"] == f"{mount['mountPath']}/pg_service.conf" and env["PGSERVICE"] == "monitoring"
    assert "envFrom" not in pod["containers"][0] and not {"PGPASSWORD", "PGUSER"} & set(env)
    assert pod["securityContext"]["fsGroup"] == pod["securityContext"]["runAsUser"]  # the 0440 file is readable
    from mlplatform.components.monitoring_role import service_file

    with pytest.raises(ValueError, match="^password: empty or not one line"):
        service_file("h", 5432, "mlflow", ROLE, "pw\nhost=elsewhere")
    job = one(p, JOB, "ml-dev-monitoring-db-setup")
    assert job.inputs["metadata"]["namespace"] == "mlflow"


# -- the Job's script against a real PostgreSQL ----------------------------------------------------------
@pytest.fixture(scope="module")
def postgres():
    """An RDS-like database: the master user has CREATEROLE and CREATEDB but is no superuser, owns the
    database, and MLflow's own tables (its real schema) are in it."""
    pg = pg_process.start()
    try:
        with psycopg.connect(pg.dsn(), autocommit=True) as su:
            su.execute(f"CREATE ROLE {MASTER} LOGIN CREATEROLE CREATEDB PASSWORD '{MASTER_PW}'")
            su.execute(f"CREATE DATABASE mlflow OWNER {MASTER}")
        from mlflow.store.db import utils

        engine = utils.create_sqlalchemy_engine_with_retry(
            f"postgresql+psycopg2://{MASTER}:{MASTER_PW}@127.0.0.1:{pg.port}/mlflow")
        utils._initialize_tables(engine)
        engine.dispose()
        yield pg
    finally:
        pg_process.stop(pg)


class JobRun:
    """The plan's Job as the kubelet would run it: its command, its environment, its mounts as folders."""

    def __init__(self, p, pg, tmp: Path, password: str):
        pod = setup_job(p).inputs["spec"]["template"]["spec"]
        (c,) = pod["containers"]
        script = one(p, CONFIGMAP, "ml-monitoring-db-setup").inputs["data"]
        sources = {"admin": {"username": MASTER, "password": MASTER_PW}, "password": {"password": password},
                   "script": script}
        self.mounts = {}
        for m in c["volumeMounts"]:
            if m["name"] in sources:
                folder = tmp / m["name"]
                folder.mkdir(exist_ok=True)
                for key, value in sources[m["name"]].items():
                    (folder / key).write_text(value)
                self.mounts[m["mountPath"]] = str(folder)
        self.command = [self._local(a) for a in c["command"]]
        self.command[0] = shutil.which(self.command[0])
        self.env = {e["name"]: self._local(e["value"]) for e in c["env"]}
        # the test server listens on loopback without TLS: the only change to the Job's environment
        self.env.update(PGHOST="127.0.0.1", PGPORT=str(pg.port), PGSSLMODE="disable",
                        PATH=f"{Path(tool('psql')).parent}:/usr/bin:/bin")
        del self.env["PGSSLROOTCERT"]

    def _local(self, value: str) -> str:
        for path, folder in self.mounts.items():
            value = value.replace(path, folder)
        return value

    def __call__(self) -> subprocess.CompletedProcess:
        return subprocess.run(self.command, env=self.env, capture_output=True, text=True, timeout=60)


def role_conn(pg, password: str):
    return psycopg.connect(pg.dsn(user=ROLE, password=password, dbname="mlflow"))


def test_the_jobs_script_is_idempotent_and_the_role_writes_its_schema_only(plan, postgres, tmp_path):
    password = "r" * 20 + "0123456789abcdefghij"
    run = JobRun(plan, postgres, tmp_path, password)
    first, second = run(), run()
    assert first.returncode == 0, first.stderr
    assert second.returncode == 0, second.stderr
    assert first.stdout == second.stdout == f"role {ROLE} owns schema {SCHEMA}\n"
    assert password not in first.stdout + first.stderr  # nothing of the password in the Job's log
    with psycopg.connect(postgres.dsn(dbname="mlflow")) as su:
        (attrs,) = su.execute("SELECT rolsuper, rolcreaterole, rolcreatedb, rolreplication, rolbypassrls, rolinherit, "
                              "rolcanlogin FROM pg_roles WHERE rolname = %s", (ROLE,)).fetchall()
        assert attrs == (False, False, False, False, False, False, True)
        owner = su.execute("SELECT pg_get_userbyid(nspowner) FROM pg_namespace WHERE nspname = %s", (SCHEMA,)).fetchone()
        assert owner == (ROLE,)
        mlflow_tables = [t for (t,) in su.execute(
            "SELECT tablename FROM pg_tables WHERE schemaname = 'public' AND tableowner = %s", (MASTER,))]
    assert {"experiments", "runs", "registered_models", "model_versions"} <= set(mlflow_tables)

    # the file the drift CronJob mounts from its Secret, found through its environment, is all libpq needs (the
    # job connects with psycopg.connect("")); the password is in no environment variable
    from mlplatform.components.monitoring_role import DRIFT_DB_ENV, MONITORING_DB_DIR, service_file

    mounted = tmp_path / "mounted"
    mounted.mkdir()
    (mounted / "pg_service.conf").write_text(service_file("127.0.0.1", postgres.port, "mlflow", ROLE, password))
    with pytest.MonkeyPatch.context() as mp:
        for k in [k for k in os.environ if k.startswith("PG")]:
            mp.delenv(k)
        for k, v in DRIFT_DB_ENV.items():
            mp.setenv(k, v.replace(MONITORING_DB_DIR, str(mounted)))
        with psycopg.connect("") as conn:
            assert conn.execute("SELECT current_user, current_database()").fetchone() == (ROLE, "mlflow")

    with role_conn(postgres, password) as conn:  # writes in its schema: the drift job's own tables and rows
        store.ensure_tables(conn)
        run_id = store.insert_run(conn, {
            "model": "churn", "digest": "sha256:" + "ab" * 32, "window_start": "2026-12-01T00:00:00Z",
            "window_end": "2026-12-07T00:00:00Z", "reference_uri": "s3://b/datasets/churn.csv", "rows_current": 10,
            "rows_reference": 10, "score": 0.1, "threshold": 0.5, "drifted": False, "drifted_features": 0,
            "ledger_key": None}, [{"feature": "x0", "method": "wasserstein", "score": 0.1, "drifted": False}])
        assert conn.execute("SHOW search_path").fetchone() == (SCHEMA,)
        assert conn.execute("SELECT count(*) FROM drift_runs WHERE id = %s", (run_id,)).fetchone() == (1,)
    denied = [
        *(f"{verb} experiments" for verb in ("SELECT * FROM", "DELETE FROM", "TRUNCATE", "DROP TABLE", "LOCK TABLE")),
        "UPDATE public.runs SET status = 'FAILED'",
        "INSERT INTO public.experiments (name) VALUES ('x')",
        "ALTER TABLE public.model_versions ADD COLUMN x int",
        "CREATE TABLE public.x (id int)",
        "CREATE SCHEMA elsewhere",
        "CREATE ROLE another",
        "GRANT mlflow TO mlplatform_monitoring",
    ]
    for statement in denied:
        with role_conn(postgres, password) as conn, pytest.raises(errors.InsufficientPrivilege):
            conn.execute(statement.replace(" experiments", " public.experiments"))

    # a third run (a rotated password) keeps the data and changes the password
    (tmp_path / "password" / "password").write_text("n" * 40)
    assert run().returncode == 0
    with pytest.raises(psycopg.OperationalError, match="password authentication failed"):
        role_conn(postgres, password).close()
    with role_conn(postgres, "n" * 40) as conn:
        assert conn.execute("SELECT count(*) FROM monitoring.drift_runs").fetchone() == (1,)


def test_a_role_with_more_than_it_needs_is_refused_and_nothing_is_half_made(plan, postgres, tmp_path):
    with psycopg.connect(postgres.dsn(), autocommit=True) as su:
        su.execute("CREATE ROLE wider LOGIN CREATEDB")
    try:
        p = plan_of(program_with_role("wider"))
        result = JobRun(p, postgres, tmp_path, "w" * 40)()
        assert result.returncode != 0
        assert ("role wider exists with superuser, createrole, createdb, replication or bypassrls: drop it "
                "(or remove those)") in result.stderr
        with psycopg.connect(postgres.dsn(dbname="mlflow")) as su:  # one transaction: the password is unchanged
            assert su.execute("SELECT rolpassword IS NULL FROM pg_authid WHERE rolname = 'wider'").fetchone() == (True,)
    finally:
        with psycopg.connect(postgres.dsn(), autocommit=True) as su:
            su.execute("DROP ROLE wider")


def test_an_administrator_without_createrole_is_told_so(plan, postgres, tmp_path):
    """An adopted database's secret may name a user that cannot create roles: one clear line, nothing made."""
    with psycopg.connect(postgres.dsn(), autocommit=True) as su:
        su.execute("CREATE ROLE plain_owner LOGIN PASSWORD 'plain-owner-password'")
        su.execute("CREATE DATABASE adopted OWNER plain_owner")
    try:
        run = JobRun(plan, postgres, tmp_path, "q" * 40)
        (tmp_path / "admin" / "username").write_text("plain_owner")
        (tmp_path / "admin" / "password").write_text("plain-owner-password")
        run.env["PGDATABASE"] = "adopted"
        result = run()
        assert result.returncode != 0
        assert "the administrator plain_owner may not create roles: give it CREATEROLE" in result.stderr
        with psycopg.connect(postgres.dsn(dbname="adopted")) as su:
            assert su.execute("SELECT to_regnamespace('monitoring')").fetchone() == (None,)
    finally:
        with psycopg.connect(postgres.dsn(), autocommit=True) as su:
            su.execute("DROP DATABASE adopted")
            su.execute("DROP ROLE plain_owner")


def program_with_role(role: str):
    def run():
        reg = ArtifactRegistry("reg", ArtifactRegistryArgs())
        provider = k8s.Provider("k8s", kubeconfig="{}")
        metadata = MetadataStore("ml", MetadataStoreArgs(
            registry=reg, oidc_provider_arn=OIDC_ARN, oidc_issuer_url=ISSUER, k8s_provider=provider,
            vpc_id="vpc-0123456789abcdef0", private_subnet_ids=["subnet-a", "subnet-b"],
            client_security_group_id="sg-0cluster0000000001"))
        MonitoringDatabase("ml", MonitoringDatabaseArgs(metadata=metadata, namespace="monitoring", role=role,
                                                        k8s_provider=provider))
    return run


def test_python_setup_runs_the_same_sql(postgres):
    """stacks/monitoring/store.setup (the drift tests' administrator) runs the Job's SQL text."""
    from mlplatform.components.monitoring_role import PSQL_SCRIPT, SETUP_SQL

    assert SETUP_SQL in PSQL_SCRIPT
    with psycopg.connect(postgres.dsn(user=MASTER, password=MASTER_PW, dbname="mlflow"), autocommit=True) as admin:
        admin.execute("CREATE DATABASE python_setup")  # its own database: the schema of `mlflow` stays the Job's
    with psycopg.connect(postgres.dsn(user=MASTER, password=MASTER_PW, dbname="python_setup")) as admin:
        store.setup(admin, "p" * 40, role="python_setup_role")
        store.setup(admin, "p" * 40, role="python_setup_role")
    with psycopg.connect(postgres.dsn(user="python_setup_role", password="p" * 40, dbname="python_setup")) as conn:
        assert conn.execute("SHOW search_path").fetchone() == (SCHEMA,)
        conn.execute("CREATE TABLE t (id int)")  # in its schema (the search_path)
        assert conn.execute("SELECT to_regclass('monitoring.t') IS NOT NULL").fetchone() == (True,)
