"""The few Kubernetes API calls `serve apply | status | rollback` make: server-side apply of the rendered
objects, reading a Rollout, waiting for it to finish. Plain HTTPS (urllib, like the observer), no kubectl
and no client library on the runner (the `kubernetes` client 37 needs python-dateutil 3, which botocore
refuses).

Credentials: on EKS, a token made the way `aws eks get-token` makes it (a presigned STS
GetCallerIdentity URL carrying the `x-k8s-aws-id` header, base64url, prefix `k8s-aws-v1.`) and the cluster's
endpoint and CA from `eks:DescribeCluster`; in a pod, its service account.
"""

from __future__ import annotations

import base64
import json
import os
import ssl
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import MlplatformError

FIELD_MANAGER = "mlplatform"
SA_DIR = Path("/var/run/secrets/kubernetes.io/serviceaccount")
# (apiVersion, kind) -> resource path under a namespace: the objects `serve render` writes.
PATHS: dict[tuple[str, str], str] = {
    ("v1", "Service"): "/api/v1/namespaces/{ns}/services/{name}",
    ("networking.k8s.io/v1", "Ingress"): "/apis/networking.k8s.io/v1/namespaces/{ns}/ingresses/{name}",
    ("monitoring.coreos.com/v1", "PodMonitor"): "/apis/monitoring.coreos.com/v1/namespaces/{ns}/podmonitors/{name}",
    ("policy/v1", "PodDisruptionBudget"): "/apis/policy/v1/namespaces/{ns}/poddisruptionbudgets/{name}",
    ("argoproj.io/v1alpha1", "Rollout"): "/apis/argoproj.io/v1alpha1/namespaces/{ns}/rollouts/{name}",
}


@dataclass(frozen=True)
class Kube:
    server: str  # https://... (http:// only for a local test server)
    token: str
    ca_file: str | None = None
    timeout: float = 20.0

    def _context(self) -> ssl.SSLContext | None:
        if not self.server.startswith("https://"):
            return None
        return ssl.create_default_context(cafile=self.ca_file)

    def request(self, method: str, path: str, body: bytes | None = None, content_type: str | None = None) -> Any:
        headers = {"Authorization": f"Bearer {self.token}", "Accept": "application/json"}
        if content_type:
            headers["Content-Type"] = content_type
        req = urllib.request.Request(f"{self.server}{path}", data=body, method=method, headers=headers)
        try:
            with urllib.request.urlopen(req, context=self._context(), timeout=self.timeout) as r:
                return json.load(r)
        except urllib.error.HTTPError as e:
            if e.code == 404 and method == "GET":
                return None
            detail = e.read().decode(errors="replace")
            try:
                detail = json.loads(detail).get("message") or detail
            except ValueError:
                pass
            raise MlplatformError(
                f"kubernetes {method} {path}", f"{e.code}: {detail}", "check the cluster access of this identity"
            ) from None
        except (urllib.error.URLError, OSError) as e:
            raise MlplatformError(
                "kubernetes", f"{self.server} is not reachable ({getattr(e, 'reason', e)})", "check the network path"
            ) from None


def object_path(obj: dict[str, Any]) -> str:
    key = (obj.get("apiVersion"), obj.get("kind"))
    if key not in PATHS:
        raise MlplatformError(f"{key[1]}", f"{key[0]}/{key[1]} is not an object serve applies", "render it again")
    meta = obj.get("metadata") or {}
    return PATHS[key].format(ns=meta["namespace"], name=meta["name"])


def apply(kube: Kube, obj: dict[str, Any]) -> dict[str, Any]:
    """Server-side apply of one object (field manager `mlplatform`, taking over fields on conflict)."""
    path = object_path(obj) + f"?fieldManager={FIELD_MANAGER}&force=true"
    result: dict[str, Any] = kube.request(
        "PATCH", path, json.dumps(obj).encode(), content_type="application/apply-patch+yaml"
    )
    return result


def get(kube: Kube, api_version: str, kind: str, namespace: str, name: str) -> dict[str, Any] | None:
    found: dict[str, Any] | None = kube.request("GET", PATHS[(api_version, kind)].format(ns=namespace, name=name))
    return found


def list_pods(kube: Kube, namespace: str, selector: str) -> dict[str, Any]:
    """The PodList of `namespace`'s pods matching the label `selector` (`kubectl get pods -l ... -o json`)."""
    query = urllib.parse.urlencode({"labelSelector": selector})
    found: dict[str, Any] | None = kube.request("GET", f"/api/v1/namespaces/{namespace}/pods?{query}")
    return found if found is not None else {"kind": "PodList", "items": []}


def wait_rollout(
    read: Callable[[], dict[str, Any] | None],
    settled: Callable[[dict[str, Any]], bool],
    timeout_s: float,
    interval_s: float = 10.0,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
) -> dict[str, Any] | None:
    """Read the Rollout until `settled(rollout)` (finished, or paused for a person: evidence.rollouts) or
    `timeout_s` passed; the last read."""
    deadline = clock() + timeout_s
    while True:
        rollout = read()
        if rollout is not None and settled(rollout):
            return rollout
        if clock() >= deadline:
            return rollout
        sleep(interval_s)


def eks_token(cluster_name: str, session: Any) -> str:
    """A bearer token for an EKS cluster from this session's credentials (what `aws eks get-token` prints)."""
    sts = session.client("sts")

    def add_cluster_header(request: Any, **_: Any) -> None:
        request.headers["x-k8s-aws-id"] = cluster_name

    sts.meta.events.register("before-sign.sts.GetCallerIdentity", add_cluster_header)
    url = sts.generate_presigned_url("get_caller_identity", Params={}, ExpiresIn=60, HttpMethod="GET")
    return "k8s-aws-v1." + base64.urlsafe_b64encode(url.encode()).decode().rstrip("=")


def eks(cluster_name: str, region: str | None = None, session: Any = None) -> Kube:
    """The EKS cluster's API with this identity (its access entry decides what it may do)."""
    import boto3

    session = session or boto3.session.Session(region_name=region)
    cluster = session.client("eks").describe_cluster(name=cluster_name)["cluster"]
    ca = base64.b64decode(cluster["certificateAuthority"]["data"])
    fd, ca_file = tempfile.mkstemp(prefix="eks-ca-", suffix=".crt")
    with os.fdopen(fd, "wb") as f:
        f.write(ca)
    return Kube(cluster["endpoint"], eks_token(cluster_name, session), ca_file)


def in_cluster() -> Kube | None:
    """This pod's service account, or None outside a cluster."""
    host, port = os.environ.get("KUBERNETES_SERVICE_HOST"), os.environ.get("KUBERNETES_SERVICE_PORT", "443")
    token = SA_DIR / "token"
    if not host or not token.is_file():
        return None
    return Kube(f"https://{host}:{port}", token.read_text().strip(), str(SA_DIR / "ca.crt"))
