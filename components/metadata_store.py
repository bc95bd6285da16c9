"""MetadataStore: the one ML metadata store — PostgreSQL (RDS) behind an MLflow tracking server.

Experiments, runs and the model registry live in PostgreSQL; artifacts (model files, plots) live in
the artifact bucket under `s3://<bucket>/mlflow/`, and models are pushed as OCI artifacts to the
`models` ECR repository. Nothing here is a separate model-registry product.

Created database: RDS for PostgreSQL (major `versions.POSTGRES_MAJOR`) in the private subnets, its own
DB subnet group and security group (port 5432 from the cluster's security group only), not publicly
accessible, KMS-encrypted gp3 storage, TLS forced by its parameter group, deletion protection, a final
snapshot, automated backups, a generated master password kept as a Pulumi secret. Adopted database
(`existing=ExistingDatabase(...)`): an existing PostgreSQL endpoint plus the Secrets Manager secret
holding its credentials; nothing is created in AWS for it.

MLflow: the community chart (`versions.HELM_CHARTS["mlflow"]`) on the system nodes. The database
credentials reach it through a Kubernetes Secret that the chart reads (`existingDatabaseSecret`), never
through Helm values; S3 and ECR access come from an IRSA role bound to its service account, allowed
only the `mlflow/` prefix of the bucket and the model repositories.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

import pulumi
import pulumi_aws as aws
import pulumi_kubernetes as k8s
import pulumi_random as random

from . import versions
from ._common import ValidationError, child, helm_release, kms_key, namespace, tags
from .artifact_registry import ArtifactRegistry
from .cluster_ref import ClusterLike, resolve_cluster
from .conventions import DNS_LABEL, MLFLOW_CHART, SYSTEM_NODE_SELECTOR
from .helm_values import check_user_values, with_user_values
from .irsa import irsa_role

POSTGRES_PORT = 5432
MLFLOW_PREFIX = "mlflow"  # S3 prefix of MLflow artifacts (and of the IRSA policy)
MLFLOW_SERVICE = "mlflow"  # the chart's fullnameOverride: Service, Deployment and Ingress name
MLFLOW_PORT = 80
SERVICE_ACCOUNT = "mlflow"
DB_SECRET = "mlflow-db"  # Kubernetes Secret with `username` and `password`
LOG_RETENTION_DAYS = 90
DB_LOG_EXPORTS = ("postgresql", "upgrade")  # PostgreSQL logs sent to CloudWatch
MLFLOW_RESOURCES = {"requests": {"cpu": "250m", "memory": "1Gi"}, "limits": {"memory": "2Gi"}}
IRSA_ANNOTATION = "eks.amazonaws.com/role-arn"

# RDS DB instance class families that run RDS for PostgreSQL 17 (RDS user guide, "Supported DB engines
# for DB instance classes"). Older families (t2, m4, r4) no longer run current PostgreSQL majors.
POSTGRES_FAMILIES = (
    "t3",
    "t4g",
    "m5",
    "m5d",
    "m6g",
    "m6gd",
    "m6i",
    "m6id",
    "m6idn",
    "m6in",
    "m7g",
    "m7gd",
    "m7i",
    "m8g",
    "m8gd",
    "r5",
    "r5b",
    "r5d",
    "r6g",
    "r6gd",
    "r6i",
    "r6id",
    "r6idn",
    "r6in",
    "r7g",
    "r7gd",
    "r7i",
    "r8g",
    "r8gd",
    "x2g",
    "x2idn",
    "x2iedn",
)
_INSTANCE_CLASS = re.compile(r"^db\.([a-z0-9]+)\.(micro|small|medium|large|\d{0,2}xlarge|metal(-\d+xl)?)$")
_NAME = re.compile(r"^[a-z](-?[a-z0-9])*$")  # RDS identifiers: lowercase, no '--', no trailing '-'
_DB_IDENT = re.compile(r"^[A-Za-z][A-Za-z0-9_]{0,62}$")
_HOST = re.compile(
    r"^(?=.{1,253}$)[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$"
)
_SECRET_ARN = re.compile(r"^arn:aws[a-z-]*:secretsmanager:[a-z0-9-]+:\d{12}:secret:[\w/+=.@-]+$")
# Host headers MLflow's DNS-rebinding guard lets through besides the Service names: loopback and the
# private ranges (kubelet probes and `kubectl port-forward` use the pod IP or localhost).
_PRIVATE_HOSTS = [
    "localhost",
    "localhost:*",
    "127.0.0.1",
    "127.0.0.1:*",
    "10.*",
    "192.168.*",
    *[f"172.{n}.*" for n in range(16, 32)],
]


@dataclass
class ExistingDatabase:
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

    endpoint: str
    secret_arn: str | None
    database_name: str = "mlflow"


@dataclass
class MetadataStoreArgs:
    """Inputs of `MetadataStore`.

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
        instance_class (str, default "db.t4g.micro"): RDS instance class, `db.<family>.<size>`, of a
            family in POSTGRES_FAMILIES.
        allocated_storage_gib (int, default 20): gp3 storage in GiB, 20..65536.
        multi_az (bool, default False): a synchronous standby in a second zone.
        backup_retention_days (int, default 7): days of automated backups (point-in-time recovery), 1..35.
        performance_insights (bool, default False): Performance Insights (7 days, encrypted with the DB key).
        iam_auth (bool, default False): also allow IAM database authentication.
        apply_immediately (bool, default False): apply instance changes now (may restart the database)
            instead of in the next maintenance window.
        database_name (str, default "mlflow"): database created for MLflow.
        username (str, default "mlflow"): master user name; its password is generated (40 characters).
        existing (ExistingDatabase | None, default None): adopt this database; the database fields
            above (vpc_id .. username) are then ignored and nothing is created in AWS for it.
        model_repositories (list[str], default ["models"]): logical names of the registry's ECR
            repositories MLflow may push models to (OCI artifacts); [] for none.
        namespace (str, default "mlflow"): Kubernetes namespace of MLflow (created).
        replicas (int, default 1): MLflow server replicas, 1..10.
        ingress (bool, default False): expose MLflow through an Ingress (internal ALB: reachable from
            the VPC and peered networks / VPN, never from the internet; needs an ingress controller).
        ingress_host (str | None, default None): host name of the Ingress; None: the ALB's own DNS name.
        ingress_class (str, default "alb"): IngressClass of the Ingress.
        ingress_controller (Resource | None, default None): the ingress controller's release
            (LoadBalancerController); MLflow installs after it, so its admission webhook answers.
        protect (bool, default True): protect the database and its KMS key against deletion.
        tags (dict[str, str], default {}): extra tags on every AWS resource.
        helm_values (dict | None, default None): your own mlflow chart values (extra env, auth...),
            deep-merged over the computed ones; keys the component owns (the database and its secret,
            the artifact bucket, the IRSA service account) are refused (components/helm_values.OWNED).
    """

    registry: ArtifactRegistry
    oidc_provider_arn: pulumi.Input[str] | None = None
    oidc_issuer_url: pulumi.Input[str] | None = None
    k8s_provider: pulumi.ProviderResource | None = None
    vpc_id: pulumi.Input[str] | None = None
    private_subnet_ids: pulumi.Input[list[str]] | None = None
    client_security_group_id: pulumi.Input[str] | None = None
    instance_class: str = "db.t4g.micro"
    allocated_storage_gib: int = 20
    multi_az: bool = False
    backup_retention_days: int = 7
    performance_insights: bool = False
    iam_auth: bool = False
    apply_immediately: bool = False
    database_name: str = "mlflow"
    username: str = "mlflow"
    existing: ExistingDatabase | None = None
    model_repositories: list[str] = field(default_factory=lambda: ["models"])
    namespace: str = "mlflow"
    replicas: int = 1
    ingress: bool = False
    ingress_host: str | None = None
    ingress_class: str = "alb"
    ingress_controller: pulumi.Resource | None = None
    protect: bool = True
    tags: dict[str, str] = field(default_factory=dict)
    helm_values: dict[str, Any] | None = None
    cluster: ClusterLike | None = None


def _int_in(field_name: str, value: object, low: int, high: int, why: str) -> None:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValidationError(field_name, f"must be a whole number, got {value!r}", f"use {low} to {high}")
    if not low <= value <= high:
        raise ValidationError(field_name, f"{value} is out of range", f"use {low} to {high} ({why})")


def _split_endpoint(endpoint: str) -> tuple[str, int]:
    host, _, port = endpoint.partition(":")
    return host, int(port) if port else POSTGRES_PORT


def _validate_existing(existing: ExistingDatabase) -> None:
    if not existing.secret_arn:
        raise ValidationError(
            "existing.secret_arn",
            "required when adopting a database",
            "pass the ARN of the Secrets Manager secret holding its username and password "
            "(the RDS-managed master secret works)",
        )
    if not isinstance(existing.secret_arn, str) or not _SECRET_ARN.match(existing.secret_arn):
        raise ValidationError(
            "existing.secret_arn",
            f"{existing.secret_arn!r} is not a Secrets Manager secret ARN",
            "use arn:aws:secretsmanager:<region>:<account-id>:secret:<name>",
        )
    endpoint = existing.endpoint if isinstance(existing.endpoint, str) else ""
    host, _, port = endpoint.partition(":")
    if not _HOST.match(host) or (port and not (port.isdigit() and 1 <= int(port) <= 65535)):
        raise ValidationError(
            "existing.endpoint",
            f"{existing.endpoint!r} is not a host or host:port",
            "use for example mydb.abc123.eu-west-1.rds.amazonaws.com:5432 (no scheme, no path)",
        )
    if not isinstance(existing.database_name, str) or not _DB_IDENT.match(existing.database_name):
        raise ValidationError(
            "existing.database_name",
            f"{existing.database_name!r} is not a database name",
            "use a letter then letters, digits or '_' (at most 63)",
        )


def _validate_database(args: MetadataStoreArgs) -> None:
    for fname, fix in (
        ("vpc_id", "pass the Network's vpc_id"),
        ("private_subnet_ids", "pass the Network's private_subnet_ids"),
        ("client_security_group_id", "pass the Cluster's cluster_security_group_id"),
    ):
        if getattr(args, fname) is None:
            raise ValidationError(
                fname,
                "required when creating the database",
                f"{fix}, or set existing=ExistingDatabase(...) to adopt a database",
            )
    if isinstance(args.private_subnet_ids, (list, tuple)) and len(args.private_subnet_ids) < 2:
        raise ValidationError(
            "private_subnet_ids",
            f"{len(args.private_subnet_ids)} subnet(s) given",
            "an RDS subnet group needs subnets in at least two availability zones",
        )
    m = _INSTANCE_CLASS.match(args.instance_class) if isinstance(args.instance_class, str) else None
    if not m:
        raise ValidationError(
            "instance_class",
            f"{args.instance_class!r} is not an RDS instance class",
            'write it as db.<family>.<size>, for example "db.t4g.micro" or "db.m7g.large"',
        )
    if m.group(1) not in POSTGRES_FAMILIES:
        raise ValidationError(
            "instance_class",
            f"unknown instance class family {m.group(1)!r} for RDS for PostgreSQL",
            f"use one of {', '.join(POSTGRES_FAMILIES)}",
        )
    _int_in(
        "backup_retention_days",
        args.backup_retention_days,
        1,
        35,
        "RDS keeps automated backups 1 to 35 days; 0 would turn backups off",
    )
    _int_in("allocated_storage_gib", args.allocated_storage_gib, 20, 65536, "gp3 storage limits for PostgreSQL")
    if not isinstance(args.database_name, str) or not _DB_IDENT.match(args.database_name):
        raise ValidationError(
            "database_name",
            f"{args.database_name!r} is not a database name",
            "use a letter then letters, digits or '_' (at most 63)",
        )
    reserved = ("rdsadmin", "rds_superuser")
    if not isinstance(args.username, str) or not _DB_IDENT.match(args.username) or args.username.lower() in reserved:
        raise ValidationError(
            "username",
            f"{args.username!r} is not a usable master user name",
            "use a letter then letters, digits or '_' (at most 63), not an RDS reserved name",
        )


def _validate(name: str, args: MetadataStoreArgs) -> None:
    if not isinstance(name, str) or not _NAME.match(name) or len(name) > 40:
        raise ValidationError(
            "name",
            f"{name!r} cannot name RDS resources",
            "use lowercase letters, digits and single '-', starting with a letter, at most 40 characters",
        )
    if not isinstance(args.registry, ArtifactRegistry):
        raise ValidationError(
            "registry",
            f"must be an ArtifactRegistry, got {type(args.registry).__name__}",
            "pass the ArtifactRegistry whose bucket keeps the MLflow artifacts",
        )
    check_user_values(MLFLOW_CHART, args.helm_values)
    for fname in ("oidc_provider_arn", "oidc_issuer_url"):
        if getattr(args, fname) is None:
            raise ValidationError(
                fname,
                "required for the MLflow service account's IAM role",
                f"pass cluster=<the Cluster> (or the Cluster's {fname})",
            )
    if args.existing is not None:
        _validate_existing(args.existing)
    else:
        _validate_database(args)
    args.registry.check_repositories("model_repositories", args.model_repositories)
    if not isinstance(args.namespace, str) or not DNS_LABEL.match(args.namespace):
        raise ValidationError(
            "namespace",
            f"{args.namespace!r} is not a Kubernetes namespace name",
            "use lowercase letters, digits and '-', at most 63 characters",
        )
    _int_in("replicas", args.replicas, 1, 10, "MLflow server replicas")
    if args.ingress_host is not None:
        if not args.ingress:
            raise ValidationError(
                "ingress_host", "is set while ingress is off", "set ingress=True, or drop ingress_host"
            )
        if not isinstance(args.ingress_host, str) or not _HOST.match(args.ingress_host) or "." not in args.ingress_host:
            raise ValidationError(
                "ingress_host", f"{args.ingress_host!r} is not a DNS name", "use for example mlflow.example.com"
            )


def in_cluster_url(namespace: str = "mlflow") -> str:
    """The MLflow tracking URI inside the cluster."""
    return f"http://{MLFLOW_SERVICE}.{namespace}.svc.cluster.local:{MLFLOW_PORT}"


def allowed_hosts(namespace: str, ingress: bool, ingress_host: str | None) -> list[str]:
    """Host headers MLflow accepts: its Service names, loopback and private IPs, and the Ingress host.

    MLflow's DNS-rebinding guard rejects any other Host header, the in-cluster Service name included.
    Without an ingress host, requests through the ALB carry the ALB's own DNS name.
    """
    svc = [
        MLFLOW_SERVICE,
        f"{MLFLOW_SERVICE}.{namespace}",
        f"{MLFLOW_SERVICE}.{namespace}.svc",
        f"{MLFLOW_SERVICE}.{namespace}.svc.cluster.local",
    ]
    hosts = [h for s in svc for h in (s, f"{s}:*")] + _PRIVATE_HOSTS
    if ingress:
        hosts.append(ingress_host or "*.elb.amazonaws.com")
    return hosts


class MetadataStore(pulumi.ComponentResource):
    """PostgreSQL (RDS, created or adopted) + the MLflow tracking server with S3 artifacts via IRSA.

    Outputs: tracking_url (in-cluster MLflow URI), external_url ("http://<ingress_host>", or None
    without ingress or host), db_endpoint ("host:port"), db_security_group_id (None when adopting),
    role_arn (IAM role of MLflow's service account). Attribute `namespace`: MLflow's namespace.
    """

    tracking_url: pulumi.Output[str]
    external_url: pulumi.Output[str] | None
    db_endpoint: pulumi.Output[str]
    db_security_group_id: pulumi.Output[str] | None
    role_arn: pulumi.Output[str]
    namespace: str

    def __init__(self, name: str, args: MetadataStoreArgs, opts: pulumi.ResourceOptions | None = None):
        args = resolve_cluster(args)
        _validate(name, args)
        super().__init__("mlplatform:data:MetadataStore", name, None, opts)
        t = tags(name, args.tags)
        self.namespace = args.namespace

        if args.existing is not None:
            host, port, username, password = self._adopt(args.existing)
            database = args.existing.database_name
            self.db_security_group_id = None
        else:
            host, port, username, password = self._create(name, args, t)
            database = args.database_name
        self.db_endpoint = pulumi.Output.concat(host, ":", pulumi.Output.from_input(port).apply(str))

        kube = pulumi.ResourceOptions(parent=self, provider=args.k8s_provider)
        ns = namespace(self, f"{name}-mlflow", args.namespace, args.k8s_provider, enforce="baseline")
        # The chart reads the credentials from this Secret (backendStore.existingDatabaseSecret), so the
        # password never appears in the Helm release's values.
        secret = k8s.core.v1.Secret(
            f"{name}-mlflow-db",
            metadata={"name": DB_SECRET, "namespace": args.namespace},
            type="kubernetes.io/basic-auth",
            string_data={"username": username, "password": password},
            opts=pulumi.ResourceOptions.merge(kube, pulumi.ResourceOptions(depends_on=[ns])),
        )

        policies = {f"{name}-mlflow-artifacts": args.registry.prefix_policy(MLFLOW_PREFIX)}
        if args.model_repositories:
            policies[f"{name}-mlflow-models"] = args.registry.ecr_push_policy(list(args.model_repositories))
        irsa = irsa_role(
            self,
            f"{name}-mlflow",
            args.oidc_provider_arn,
            args.oidc_issuer_url,
            [(args.namespace, SERVICE_ACCOUNT)],
            policies=policies,
            tags=t,
            description=f"MLflow tracking server of {name} (IRSA: {args.namespace}/{SERVICE_ACCOUNT})",
        )
        role = irsa.role
        self.role_arn = role.arn

        values = {
            "fullnameOverride": MLFLOW_SERVICE,
            "replicaCount": args.replicas,
            "telemetry": {"enabled": False},
            "serviceAccount": {
                "create": True,
                "name": SERVICE_ACCOUNT,
                "automount": False,
                "annotations": {IRSA_ANNOTATION: role.arn},
            },
            "service": {"type": "ClusterIP", "port": MLFLOW_PORT},
            "backendStore": {
                "databaseMigration": True,
                "databaseConnectionCheck": True,
                "postgres": {"enabled": True, "host": host, "port": port, "database": database},
                "existingDatabaseSecret": {"name": DB_SECRET, "usernameKey": "username", "passwordKey": "password"},
            },
            "artifactRoot": {
                "proxiedArtifactStorage": False,
                "s3": {"enabled": True, "bucket": args.registry.bucket_name, "path": MLFLOW_PREFIX},
            },
            # libpq: refuse an unencrypted connection (the created database forces TLS too).
            "extraEnvVars": {"PGSSLMODE": "require"},
            "serverAllowedHosts": allowed_hosts(args.namespace, args.ingress, args.ingress_host),
            "resources": MLFLOW_RESOURCES,
            "nodeSelector": dict(SYSTEM_NODE_SELECTOR),
            "ingress": self._ingress(args),
        }
        helm_release(
            self,
            f"{name}-mlflow",
            MLFLOW_CHART,
            args.namespace,
            with_user_values(MLFLOW_CHART, values, args.helm_values),
            args.k8s_provider,
            create_namespace=False,
            depends_on=[ns, secret, *irsa.policies, *([args.ingress_controller] if args.ingress_controller else [])],
        )

        self.tracking_url = pulumi.Output.from_input(in_cluster_url(args.namespace))
        self.external_url = pulumi.Output.from_input(f"http://{args.ingress_host}") if args.ingress_host else None
        self.register_outputs(
            {
                "tracking_url": self.tracking_url,
                "external_url": self.external_url,
                "db_endpoint": self.db_endpoint,
                "db_security_group_id": self.db_security_group_id,
                "role_arn": self.role_arn,
            }
        )

    @staticmethod
    def _ingress(args: MetadataStoreArgs) -> dict:
        if not args.ingress:
            return {"enabled": False}
        return {
            "enabled": True,
            "className": args.ingress_class,
            "annotations": {
                "alb.ingress.kubernetes.io/scheme": "internal",
                "alb.ingress.kubernetes.io/target-type": "ip",
                "alb.ingress.kubernetes.io/healthcheck-path": "/health",
            },
            "hosts": [{"host": args.ingress_host or "", "paths": [{"path": "/", "pathType": "Prefix"}]}],
        }

    # -- adopt -------------------------------------------------------------------------------------
    def _adopt(self, existing: ExistingDatabase):
        host, port = _split_endpoint(existing.endpoint)
        version = aws.secretsmanager.get_secret_version_output(
            secret_id=existing.secret_arn, opts=pulumi.InvokeOutputOptions(parent=self)
        )
        creds = pulumi.Output.secret(version.secret_string).apply(json.loads)
        return (
            host,
            port,
            pulumi.Output.secret(creds.apply(lambda c: c["username"])),
            pulumi.Output.secret(creds.apply(lambda c: c["password"])),
        )

    # -- create ------------------------------------------------------------------------------------
    def _create(self, name: str, args: MetadataStoreArgs, t: dict[str, str]):
        identifier = f"{name}-metadata"
        major = versions.POSTGRES_MAJOR

        key = kms_key(
            self,
            f"{name}-metadata-db",
            f"{name}-metadata-db",
            f"mlplatform {name}: metadata database storage and Performance Insights",
            t,
            args.protect,
        )

        subnet_group = aws.rds.SubnetGroup(
            f"{name}-metadata",
            name=identifier,
            description=f"Private subnets of the {name} metadata database",
            subnet_ids=args.private_subnet_ids,
            tags=t,
            opts=child(self),
        )
        security_group = aws.ec2.SecurityGroup(
            f"{name}-metadata-db",
            name=f"{identifier}-db",
            description=f"PostgreSQL of the {name} metadata store: port {POSTGRES_PORT} from the cluster only",
            vpc_id=args.vpc_id,
            egress=[],  # a database opens no connections
            tags=t,
            opts=child(self),
        )
        aws.vpc.SecurityGroupIngressRule(
            f"{name}-metadata-db-from-cluster",
            security_group_id=security_group.id,
            referenced_security_group_id=args.client_security_group_id,
            ip_protocol="tcp",
            from_port=POSTGRES_PORT,
            to_port=POSTGRES_PORT,
            description="PostgreSQL from the EKS cluster security group (nodes and pods)",
            tags=t,
            opts=child(self),
        )
        parameters = aws.rds.ParameterGroup(
            f"{name}-metadata",
            name=f"{identifier}-postgres{major}",
            family=f"postgres{major}",
            description=f"{name} metadata database: TLS only",
            parameters=[{"name": "rds.force_ssl", "value": "1", "apply_method": "immediate"}],
            tags=t,
            opts=child(self),
        )
        password = random.RandomPassword(f"{name}-metadata-db", length=40, special=False, opts=child(self))
        # RDS exports its logs here; made first so the retention is ours, not "never expire".
        log_groups = [
            aws.cloudwatch.LogGroup(
                f"{name}-metadata-db-{log}",
                name=f"/aws/rds/instance/{identifier}/{log}",
                retention_in_days=LOG_RETENTION_DAYS,
                tags=t,
                opts=child(self),
            )
            for log in DB_LOG_EXPORTS
        ]
        # A final snapshot name unique per creation of the database: a stack destroyed, re-created
        # and destroyed again would otherwise collide with its first final snapshot (which we keep).
        snapshot_suffix = random.RandomId(
            f"{name}-metadata-final-snapshot", byte_length=4, keepers={"identifier": identifier}, opts=child(self)
        )
        db = aws.rds.Instance(
            f"{name}-metadata",
            identifier=identifier,
            engine="postgres",
            engine_version=major,
            auto_minor_version_upgrade=True,
            allow_major_version_upgrade=False,
            instance_class=args.instance_class,
            allocated_storage=args.allocated_storage_gib,
            storage_type="gp3",
            storage_encrypted=True,
            kms_key_id=key.arn,
            db_name=args.database_name,
            username=args.username,
            password=password.result,
            iam_database_authentication_enabled=args.iam_auth,
            port=POSTGRES_PORT,
            db_subnet_group_name=subnet_group.name,
            vpc_security_group_ids=[security_group.id],
            parameter_group_name=parameters.name,
            publicly_accessible=False,
            multi_az=args.multi_az,
            backup_retention_period=args.backup_retention_days,
            copy_tags_to_snapshot=True,
            delete_automated_backups=False,
            deletion_protection=True,
            skip_final_snapshot=False,
            final_snapshot_identifier=pulumi.Output.concat(identifier, "-final-", snapshot_suffix.hex),
            apply_immediately=args.apply_immediately,
            enabled_cloudwatch_logs_exports=list(DB_LOG_EXPORTS),
            performance_insights_enabled=args.performance_insights,
            performance_insights_kms_key_id=key.arn if args.performance_insights else None,
            performance_insights_retention_period=7 if args.performance_insights else None,
            tags=t,
            opts=child(self, protect=args.protect, depends_on=log_groups),
        )
        self.db_security_group_id = security_group.id
        return db.address, db.port, args.username, password.result
