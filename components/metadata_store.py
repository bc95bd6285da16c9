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
through Helm values; S3 access comes from an IRSA role bound to its service account, allowed only the
`mlflow/` prefix of the bucket (the server never pushes models: CI and the retraining jobs do).

TLS to PostgreSQL is `sslmode=verify-full` against the Amazon RDS CA bundle: an init container (the MLflow
image, Python's HTTPS client verifying the download with the image's public CAs) fetches
`RDS_CA_BUNDLE_URL` into an in-memory emptyDir when the pod starts, and libpq reads it from `PGSSLROOTCERT`
(read-only mount); the pod therefore needs egress to truststore.pki.rds.amazonaws.com (the NAT gateway).

The schema migration runs once, in a Job (`<name>-mlflow-migrate`) the release waits for, never in each
replica (the chart's `databaseMigration` init container would race on a first install with replicas > 1).
Through an ingress, MLflow's CORS guard accepts state-changing requests only from the ingress host's origin
(`corsAllowedOrigins`), else the UI's own POSTs are refused with 403.
"""

from __future__ import annotations

import json
import re
from typing import Any

import pulumi
import pulumi_aws as aws
import pulumi_kubernetes as k8s
import pulumi_random as random

from . import versions
from ._common import ValidationError, child, helm_release, kms_key, namespace, tags
from .args.metadata_store import DB_IDENT, HOST
from .args.metadata_store import POSTGRES_FAMILIES as POSTGRES_FAMILIES
from .args.metadata_store import POSTGRES_PORT as POSTGRES_PORT
from .args.metadata_store import DatabaseSettings as DatabaseSettings
from .args.metadata_store import ExistingDatabase as ExistingDatabase
from .args.metadata_store import MetadataStoreArgs as MetadataStoreArgs
from .args.metadata_store import MlflowSettings as MlflowSettings
from .artifact_registry import ArtifactRegistry
from .cluster_ref import resolve_cluster
from .conventions import DNS_LABEL, MLFLOW_CHART, RESTRICTED_CONTAINER, SYSTEM_NODE_SELECTOR
from .helm_values import check_user_values, with_user_values
from .irsa import irsa_role

MLFLOW_PREFIX = "mlflow"  # S3 prefix of MLflow artifacts (and of the IRSA policy)
MLFLOW_NAMESPACE = "mlflow"  # default namespace of the MLflow server
MLFLOW_SERVICE = "mlflow"  # the chart's fullnameOverride: Service, Deployment and Ingress name
MLFLOW_PORT = 80
SERVICE_ACCOUNT = "mlflow"
DB_SECRET = "mlflow-db"  # Kubernetes Secret with `username` and `password`
LOG_RETENTION_DAYS = 90
DB_LOG_EXPORTS = ("postgresql", "upgrade")  # PostgreSQL logs sent to CloudWatch
MLFLOW_RESOURCES = {"requests": {"cpu": "250m", "memory": "1Gi"}, "limits": {"memory": "2Gi"}}
IRSA_ANNOTATION = "eks.amazonaws.com/role-arn"
# Amazon RDS's certificate bundle for every commercial region (RDS user guide, "Using SSL/TLS to encrypt a
# connection to a DB instance": certificate bundles for all AWS Regions).
RDS_CA_BUNDLE_URL = "https://truststore.pki.rds.amazonaws.com/global/global-bundle.pem"
RDS_CA_DIR = "/etc/rds-ca"
RDS_CA_FILE = f"{RDS_CA_DIR}/global-bundle.pem"
RDS_CA_VOLUME = "rds-ca"
# libpq (psycopg2 under SQLAlchemy) reads these: encrypted, certificate chained to the RDS CA, host name checked.
PG_TLS_ENV = {"PGSSLMODE": "verify-full", "PGSSLROOTCERT": RDS_CA_FILE}
# Fetch the bundle over verified HTTPS; refuse anything that is not PEM certificates; write it atomically.
_FETCH_CA = (
    "import os, sys, urllib.request\n"
    "url, path = sys.argv[1], sys.argv[2]\n"
    "pem = urllib.request.urlopen(url, timeout=30).read()\n"
    "if not pem.lstrip().startswith(b'-----BEGIN CERTIFICATE-----'):\n"
    "    sys.exit(f'{url} did not answer with PEM certificates')\n"
    "open(path + '.tmp', 'wb').write(pem)\n"
    "os.replace(path + '.tmp', path)\n"
    "print(f'{path}: {pem.count(b\"BEGIN CERTIFICATE\")} certificates from {url}')\n"
)
# The chart's migration script (templates/configmap.yaml `migrations.py`): create the tables if absent,
# then upgrade the schema to this MLflow's head. The libpq PG* variables name the host, port and database;
# the credentials are read from the Secret mounted as files (never environment variables).
DB_SECRET_DIR = "/etc/mlflow-db"
_MIGRATE = (
    "import pathlib\n"
    "from sqlalchemy.engine import URL\n"
    "from mlflow.store.db import utils\n"
    f"creds = pathlib.Path('{DB_SECRET_DIR}')\n"
    "url = URL.create('postgresql', username=(creds / 'username').read_text(),\n"
    "                 password=(creds / 'password').read_text())\n"
    "utils._initialize_tables(utils.create_sqlalchemy_engine_with_retry(url.render_as_string(hide_password=False)))\n"
)
MIGRATION_UID = 10001  # any non-root uid: the image's Python is world-readable
MIGRATION_JOB = "mlflow-db-migrate"

_NAME = re.compile(r"^[a-z](-?[a-z0-9])*$")  # RDS identifiers: lowercase, no '--', no trailing '-'
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


def _split_endpoint(endpoint: str) -> tuple[str, int]:
    host, _, port = endpoint.partition(":")
    return host, int(port) if port else POSTGRES_PORT


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
    if not isinstance(args.database_name, str) or not DB_IDENT.match(args.database_name):
        raise ValidationError(
            "database_name",
            f"{args.database_name!r} is not a database name",
            "use a letter then letters, digits or '_' (at most 63)",
        )
    reserved = ("rdsadmin", "rds_superuser")
    if not isinstance(args.username, str) or not DB_IDENT.match(args.username) or args.username.lower() in reserved:
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
    if args.existing is None:
        _validate_database(args)
    args.registry.check_repositories("model_repositories", args.model_repositories)
    if not isinstance(args.namespace, str) or not DNS_LABEL.match(args.namespace):
        raise ValidationError(
            "namespace",
            f"{args.namespace!r} is not a Kubernetes namespace name",
            "use lowercase letters, digits and '-', at most 63 characters",
        )
    if args.ingress_host is not None:
        if not args.ingress:
            raise ValidationError(
                "ingress_host", "is set while ingress is off", "set ingress=True, or drop ingress_host"
            )
        if not isinstance(args.ingress_host, str) or not HOST.match(args.ingress_host) or "." not in args.ingress_host:
            raise ValidationError(
                "ingress_host", f"{args.ingress_host!r} is not a DNS name", "use for example mlflow.example.com"
            )


def allowed_origins(ingress: bool, ingress_host: str | None) -> list[str]:
    """Origins whose state-changing requests MLflow's CORS guard (3.15: `should_block_cors_request`) lets
    through: the UI as the browser reaches it through the ingress (HTTP on the internal ALB; without a
    host, the ALB's own DNS name, which the guard matches as an fnmatch pattern). Loopback is always allowed
    (port-forward); without an ingress there is no other origin to allow."""
    if not ingress:
        return []
    return [f"http://{ingress_host}" if ingress_host else "http://*.elb.amazonaws.com"]


def ca_bundle_init_container() -> dict[str, Any]:
    """The init container that puts the RDS CA bundle into the pod (`RDS_CA_VOLUME`, an emptyDir)."""
    return {
        "name": "rds-ca-bundle",
        "image": versions.MLFLOW_IMAGE,
        "command": ["python", "-c", _FETCH_CA, RDS_CA_BUNDLE_URL, RDS_CA_FILE],
        "volumeMounts": [{"name": RDS_CA_VOLUME, "mountPath": RDS_CA_DIR}],
        "imagePullPolicy": "Always",
        "securityContext": dict(RESTRICTED_CONTAINER),
        "resources": {"requests": {"cpu": "10m", "memory": "32Mi"}, "limits": {"cpu": "200m", "memory": "64Mi"}},
    }


CA_VOLUME = {"name": RDS_CA_VOLUME, "emptyDir": {"medium": "Memory", "sizeLimit": "1Mi"}}
CA_MOUNT = {"name": RDS_CA_VOLUME, "mountPath": RDS_CA_DIR, "readOnly": True}


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
    role_arn (IAM role of MLflow's service account). Attributes: `namespace` (MLflow's namespace),
    `db_host`, `db_port`, `database` (the database MLflow uses), `admin_secret` (the Kubernetes Secret
    `DB_SECRET` in `namespace` with the master user's -- or the adopted secret's -- `username` and
    `password`: what a Job in that namespace that administers the database mounts, like MonitoringDatabase's).
    """

    tracking_url: pulumi.Output[str]
    external_url: pulumi.Output[str] | None
    db_endpoint: pulumi.Output[str]
    db_security_group_id: pulumi.Output[str] | None
    role_arn: pulumi.Output[str]
    namespace: str
    db_host: pulumi.Output[str]
    db_port: pulumi.Output[int]
    database: str
    admin_secret: k8s.core.v1.Secret

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
        self.db_host, self.db_port, self.database = (
            pulumi.Output.from_input(host),
            pulumi.Output.from_input(port),
            database,
        )

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
        self.admin_secret = secret

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
                # not in each replica's init container: the migration Job below runs it once
                "databaseMigration": False,
                "databaseConnectionCheck": True,
                "postgres": {"enabled": True, "host": host, "port": port, "database": database},
                "existingDatabaseSecret": {"name": DB_SECRET, "usernameKey": "username", "passwordKey": "password"},
            },
            "artifactRoot": {
                "proxiedArtifactStorage": False,
                "s3": {"enabled": True, "bucket": args.registry.bucket_name, "path": MLFLOW_PREFIX},
            },
            # libpq: TLS with the server's certificate checked against the RDS CA and its host name.
            "extraEnvVars": dict(PG_TLS_ENV),
            "initContainers": [ca_bundle_init_container()],
            "extraVolumes": [CA_VOLUME],
            "extraVolumeMounts": [CA_MOUNT],
            "serverAllowedHosts": allowed_hosts(args.namespace, args.ingress, args.ingress_host),
            "corsAllowedOrigins": allowed_origins(args.ingress, args.ingress_host),
            "resources": MLFLOW_RESOURCES,
            "nodeSelector": dict(SYSTEM_NODE_SELECTOR),
            "ingress": self._ingress(args),
        }
        if args.metrics_labels:
            # mlflow chart 1.11.5: serviceMonitor.enabled adds `--expose-prometheus=/mlflow/metrics` (the
            # exporter's multiprocess directory; metrics served on /metrics) and a ServiceMonitor in the
            # release namespace. useServicePort: the endpoint names the Service port (`http`); the default
            # targetPort would name a container port called `http`, which the pod does not have (`mlflow`).
            values["serviceMonitor"] = {
                "enabled": True,
                "useServicePort": True,
                "namespace": args.namespace,
                "interval": "30s",
                "telemetryPath": "/metrics",
                "labels": dict(args.metrics_labels),
            }
        migrate = self._migration_job(name, args, host, port, database, kube, [ns, secret])
        helm_release(
            self,
            f"{name}-mlflow",
            MLFLOW_CHART,
            args.namespace,
            with_user_values(MLFLOW_CHART, values, args.helm_values),
            args.k8s_provider,
            create_namespace=False,
            depends_on=[
                ns,
                secret,
                migrate,
                *irsa.policies,
                *([args.ingress_controller] if args.ingress_controller else []),
                *([args.metrics_after] if args.metrics_after else []),
            ],
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

    def _migration_job(
        self,
        name: str,
        args: MetadataStoreArgs,
        host: Any,
        port: Any,
        database: str,
        kube: pulumi.ResourceOptions,
        after: list[pulumi.Resource],
    ) -> k8s.batch.v1.Job:
        """The schema migration, once per change of MLflow version (the Job is replaced with its image), before
        the release: Pulumi waits for a Job to complete, and the release depends on it, so no replica starts
        on an old schema and two replicas never migrate at once."""
        env = [
            {"name": "PGHOST", "value": host},
            {"name": "PGPORT", "value": pulumi.Output.from_input(port).apply(str)},
            {"name": "PGDATABASE", "value": database},
            {"name": "HOME", "value": "/tmp"},  # the root file system is read-only
            *({"name": k, "value": v} for k, v in PG_TLS_ENV.items()),
        ]
        # Egress only: DNS, PostgreSQL, HTTPS (the CA bundle); nothing may connect to it.
        k8s.networking.v1.NetworkPolicy(
            f"{name}-mlflow-migrate",
            metadata={"name": MIGRATION_JOB, "namespace": args.namespace},
            spec={
                "podSelector": {"matchLabels": {"app.kubernetes.io/name": MIGRATION_JOB}},
                "policyTypes": ["Ingress", "Egress"],
                "ingress": [],
                "egress": [
                    {"ports": [{"protocol": "UDP", "port": 53}, {"protocol": "TCP", "port": 53}]},
                    {"ports": [{"protocol": "TCP", "port": POSTGRES_PORT}, {"protocol": "TCP", "port": 443}]},
                ],
            },
            opts=pulumi.ResourceOptions.merge(kube, pulumi.ResourceOptions(depends_on=after)),
        )
        return k8s.batch.v1.Job(
            f"{name}-mlflow-migrate",
            metadata={"name": MIGRATION_JOB, "namespace": args.namespace},
            spec={
                "backoffLimit": 4,
                "completions": 1,
                "parallelism": 1,
                "template": {
                    "metadata": {"labels": {"app.kubernetes.io/name": MIGRATION_JOB}},
                    "spec": {
                        "restartPolicy": "Never",
                        "automountServiceAccountToken": False,
                        "nodeSelector": dict(SYSTEM_NODE_SELECTOR),
                        "securityContext": {
                            "runAsNonRoot": True,
                            "runAsUser": MIGRATION_UID,
                            "runAsGroup": MIGRATION_UID,
                            "fsGroup": MIGRATION_UID,  # the Secret's files (0440) are readable through it
                            "seccompProfile": {"type": "RuntimeDefault"},
                        },
                        "initContainers": [ca_bundle_init_container()],
                        "containers": [
                            {
                                "name": "migrate",
                                "image": versions.MLFLOW_IMAGE,
                                "imagePullPolicy": "Always",
                                "command": ["python", "-c", _MIGRATE],
                                "env": env,
                                "volumeMounts": [
                                    CA_MOUNT,
                                    {"name": "db", "mountPath": DB_SECRET_DIR, "readOnly": True},
                                    {"name": "tmp", "mountPath": "/tmp"},
                                ],
                                "securityContext": dict(RESTRICTED_CONTAINER),
                                "resources": {
                                    "requests": {"cpu": "100m", "memory": "256Mi"},
                                    "limits": {"cpu": "1", "memory": "512Mi"},
                                },
                            }
                        ],
                        "volumes": [
                            CA_VOLUME,
                            {"name": "db", "secret": {"secretName": DB_SECRET, "defaultMode": 0o440}},
                            {"name": "tmp", "emptyDir": {}},
                        ],
                    },
                },
            },
            opts=pulumi.ResourceOptions.merge(
                kube, pulumi.ResourceOptions(depends_on=after, delete_before_replace=True)
            ),
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
