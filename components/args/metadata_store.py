"""The inputs of `MetadataStore` (components/metadata_store.py), Pulumi-free: the stack spec's
`database:` section is built from `DatabaseSettings` (its `existing` IS `ExistingDatabase`) and its
`mlflow:` section from `MlflowSettings`."""

from __future__ import annotations

import re
from typing import Any

from pydantic import Field, field_validator

from . import Args, Section, ValidationError

POSTGRES_PORT = 5432
# RDS DB instance class families that run RDS for PostgreSQL 17 (RDS user guide, "Supported DB engines
# for DB instance classes"). Older families (t2, m4, r4) no longer run current PostgreSQL majors.
POSTGRES_FAMILIES = (
    *("t3", "t4g", "m5", "m5d", "m6g", "m6gd", "m6i", "m6id", "m6idn", "m6in", "m7g", "m7gd", "m7i", "m8g"),
    *("m8gd", "r5", "r5b", "r5d", "r6g", "r6gd", "r6i", "r6id", "r6idn", "r6in", "r7g", "r7gd", "r7i", "r8g"),
    *("r8gd", "x2g", "x2idn", "x2iedn"),
)
INSTANCE_CLASS = re.compile(r"^db\.([a-z0-9]+)\.(micro|small|medium|large|\d{0,2}xlarge|metal(-\d+xl)?)$")
DB_IDENT = re.compile(r"^[A-Za-z][A-Za-z0-9_]{0,62}$")
HOST = re.compile(
    r"^(?=.{1,253}$)[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$"
)
_SECRET_ARN = re.compile(r"^arn:aws[a-z-]*:secretsmanager:[a-z0-9-]+:\d{12}:secret:[\w/+=.@-]+$")


def _database_name(v: str) -> str:
    if not DB_IDENT.match(v):
        raise ValidationError(
            "", f"{v!r} is not a database name", "use a letter then letters, digits or '_' (at most 63)"
        )
    return v


class ExistingDatabase(Section):
    """A PostgreSQL database that already exists, to adopt instead of creating one.

    Fields:
        endpoint (str, required): `host` or `host:port` (port 5432 when omitted), for example an RDS
            endpoint `mydb.abc123.eu-west-1.rds.amazonaws.com:5432`. Its security group must admit the
            cluster's nodes on that port.
        secret_arn (str, required): ARN of the Secrets Manager secret holding the credentials as JSON
            with `username` and `password` keys (the RDS-managed master secret has this shape). Read at
            deploy time into a Kubernetes Secret; the value stays a Pulumi secret.
        database_name (str, default "mlflow"): database MLflow uses; it must exist.
    """

    positional = ("endpoint", "secret_arn", "database_name")

    endpoint: str
    secret_arn: str
    database_name: str = "mlflow"

    @field_validator("secret_arn", mode="before")
    @classmethod
    def _secret(cls, v: Any) -> Any:
        if v is None or v == "":
            raise ValidationError(
                "",
                "required when adopting a database",
                "pass the ARN of the Secrets Manager secret holding its username and password "
                "(the RDS-managed master secret works)",
            )
        if isinstance(v, str) and not _SECRET_ARN.match(v):
            raise ValidationError(
                "",
                f"{v!r} is not a Secrets Manager secret ARN",
                "use arn:aws:secretsmanager:<region>:<account-id>:secret:<name>",
            )
        return v

    @field_validator("endpoint")
    @classmethod
    def _endpoint(cls, v: str) -> str:
        host, _, port = v.partition(":")
        if not HOST.match(host) or (port and not (port.isdigit() and 1 <= int(port) <= 65535)):
            raise ValidationError(
                "",
                f"{v!r} is not a host or host:port",
                "use for example mydb.abc123.eu-west-1.rds.amazonaws.com:5432 (no scheme, no path)",
            )
        return v

    @field_validator("database_name")
    @classmethod
    def _name(cls, v: str) -> str:
        return _database_name(v)


class DatabaseSettings(Section):
    """What a user chooses of the metadata database: the fields `MetadataStoreArgs` and the stack's
    `database:` section share (one definition of each bound and default).

    Fields:
        instance_class (str, default "db.t4g.micro"): RDS instance class, `db.<family>.<size>`, of a
            family in POSTGRES_FAMILIES.
        allocated_storage_gib (int, default 20): gp3 storage in GiB, 20..65536.
        multi_az (bool, default False): a synchronous standby in a second zone.
        backup_retention_days (int, default 7): days of automated backups (point-in-time recovery), 1..35
            (RDS keeps automated backups 1 to 35 days; 0 would turn backups off).
        performance_insights (bool, default False): Performance Insights (7 days, encrypted with the DB key).
        existing (ExistingDatabase | None, default None): adopt this database; the fields above are then
            unused (still checked) and nothing is created in AWS for it.
    """

    instance_class: str = "db.t4g.micro"
    allocated_storage_gib: int = Field(20, ge=20, le=65536)
    multi_az: bool = False
    backup_retention_days: int = Field(7, ge=1, le=35)
    performance_insights: bool = False
    existing: ExistingDatabase | None = None

    @field_validator("instance_class")
    @classmethod
    def _instance_class(cls, v: str) -> str:
        m = INSTANCE_CLASS.match(v)
        if not m:
            raise ValidationError(
                "",
                f"{v!r} is not an RDS instance class",
                'write it as db.<family>.<size>, for example "db.t4g.micro" or "db.m7g.large"',
            )
        if m.group(1) not in POSTGRES_FAMILIES:
            raise ValidationError(
                "",
                f"unknown instance class family {m.group(1)!r} for RDS for PostgreSQL",
                f"use one of {', '.join(POSTGRES_FAMILIES)}",
            )
        return v


class MlflowSettings(Section):
    """What a user chooses of the MLflow server that `MetadataStoreArgs` and the stack's `mlflow:`
    section share.

    Fields:
        replicas (int, default 1): MLflow server replicas, 1..10.
        ingress (bool, default False): expose MLflow through an Ingress (internal ALB: reachable from
            the VPC and peered networks / VPN, never from the internet; needs an ingress controller).
    """

    replicas: int = Field(1, ge=1, le=10)
    ingress: bool = False


class MetadataStoreArgs(DatabaseSettings, MlflowSettings, Args):
    """Inputs of `MetadataStore`: `DatabaseSettings` (instance_class, allocated_storage_gib, multi_az,
    backup_retention_days, performance_insights, existing) and `MlflowSettings` (replicas, ingress)
    plus the wiring below.

    Fields:
        registry (ArtifactRegistry, required): the registry whose bucket keeps MLflow artifacts under
            `mlflow/` and whose model repositories MLflow (and training jobs) push to.
        cluster (Cluster | ClusterRef | None, default None): the cluster MLflow runs on; its OIDC provider,
            issuer, Kubernetes provider and security group fill the four fields below.
        oidc_provider_arn (Input[str] | None, default None): the cluster's IAM OIDC provider
            (`Cluster.oidc_provider_arn`); required without `cluster` (kept for existing programs).
        oidc_issuer_url (Input[str] | None, default None): the cluster's OIDC issuer
            (`Cluster.oidc_issuer_url`); required without `cluster`.
        k8s_provider (ProviderResource | None, default None): Kubernetes provider of the cluster
            (`Cluster.provider`); None uses the ambient kubeconfig.
        vpc_id (Input[str] | None, default None): VPC of the database; required unless `existing`.
        private_subnet_ids (Input[list[str]] | None, default None): private subnets in two or more
            zones for the DB subnet group; required unless `existing`.
        client_security_group_id (Input[str] | None, default None): the one security group allowed to
            reach PostgreSQL on 5432: the EKS cluster security group (`Cluster.cluster_security_group_id`),
            which EKS puts on every managed node and so on every pod. Required unless `existing`.
        iam_auth (bool, default False): also allow IAM database authentication.
        apply_immediately (bool, default False): apply instance changes now (may restart the database)
            instead of in the next maintenance window.
        database_name (str, default "mlflow"): database created for MLflow.
        username (str, default "mlflow"): master user name; its password is generated (40 characters).
        model_repositories (list[str], default []): logical names of the registry's ECR repositories
            the MLflow server may push to; none by default (least privilege: the server never pushes,
            CI and the retraining jobs do with their own roles).
        namespace (str, default "mlflow"): Kubernetes namespace of MLflow (created).
        ingress_host (str | None, default None): host name of the Ingress; None: the ALB's own DNS name.
        ingress_class (str, default "alb"): IngressClass of the Ingress.
        ingress_controller (Resource | None, default None): the ingress controller's release
            (LoadBalancerController); MLflow installs after it, so its admission webhook answers.
        protect (bool, default True): protect the database and its KMS key against deletion.
        tags (dict[str, str], default {}): extra tags on every AWS resource.
        helm_values (dict | None, default None): your own mlflow chart values (extra env, auth...),
            deep-merged over the computed ones; keys the component owns (the database and its secret,
            the artifact bucket, the IRSA service account) are refused (components/helm_values.OWNED).
        metrics_labels (dict[str, str] | None, default None): switch on MLflow's Prometheus exporter
            (the chart passes `--expose-prometheus` with `serviceMonitor.enabled`) and label its
            ServiceMonitor with these (`Monitoring.scrape_labels`, so that release's Prometheus scrapes it);
            None: no exporter.
        metrics_after (Resource | None, default None): the release that installs the ServiceMonitor CRD
            (`Monitoring.stack_release`); the chart creates its ServiceMonitor only when the CRD exists.
    """

    registry: Any
    oidc_provider_arn: Any = None
    oidc_issuer_url: Any = None
    k8s_provider: Any = None
    vpc_id: Any = None
    private_subnet_ids: Any = None
    client_security_group_id: Any = None
    iam_auth: bool = False
    apply_immediately: bool = False
    database_name: str = "mlflow"
    username: str = "mlflow"
    model_repositories: list[str] = []
    namespace: str = "mlflow"
    ingress_host: str | None = None
    ingress_class: str = "alb"
    ingress_controller: Any = None
    protect: bool = True
    tags: dict[str, str] = {}
    helm_values: dict[str, Any] | None = None
    cluster: Any = None
    metrics_labels: dict[str, str] | None = None
    metrics_after: Any = None
