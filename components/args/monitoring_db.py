"""The inputs of `MonitoringDatabase` (components/monitoring_db.py), Pulumi-free."""

from __future__ import annotations

from typing import Any

from pydantic import Field

from ..conventions import DNS_LABEL
from ..monitoring_role import ROLE
from . import Args


class MonitoringDatabaseArgs(Args):
    """Inputs of `MonitoringDatabase`.

    Fields:
        metadata (MetadataStore, required): the metadata store whose database gets the `monitoring` schema;
            its Job runs in that store's namespace with the store's administrator Secret (`admin_secret`).
        namespace (str, required): where the drift jobs run (`Monitoring.namespace`); the Secret they read,
            `mlplatform-monitoring-db`, is made there.
        cluster (Cluster | ClusterRef | None, default None): the cluster; its Kubernetes provider is used.
        k8s_provider (ProviderResource | None, default None): the Kubernetes provider; None: the cluster's,
            or the ambient kubeconfig.
        role (str, default "mlplatform_monitoring"): the role's name, a plain lowercase SQL identifier.
        after (list[Resource], default []): what the drift jobs' Secret waits for besides the setup Job
            (the monitoring namespace).
    """

    metadata: Any
    namespace: str = Field(pattern=DNS_LABEL.pattern)
    cluster: Any = None
    k8s_provider: Any = None
    role: str = Field(ROLE, pattern=r"^[a-z_][a-z0-9_]{0,62}$")
    after: list[Any] = []
