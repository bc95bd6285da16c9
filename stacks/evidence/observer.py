"""The observer: records what the cluster actually runs, so the ledger knows more than what CI meant.

It lists the pods labelled `mlplatform.io/model=<name>` (environment: their `mlplatform.io/environment`
label, default production), resolves each running pod's model digest, and records an observation for a
model and environment when the set of digests running there differs from the last observation
(including "nothing runs any more"). The model digest of a pod, first found wins:

1. the annotation `mlplatform.io/model-digest: sha256:...` (the serving stack states what it loaded);
2. an image volume (`spec.volumes[].image.reference`, Kubernetes 1.33+) pinned `...@sha256:...`: the
   model's OCI artifact mounted into the pod;
3. the image digest the kubelet reports (`status.containerStatuses[].imageID`) of the container named
   by the annotation `mlplatform.io/model-container`, else of the first container: a model baked into
   its serving image.

A pod whose model cannot be resolved to a digest is listed as unresolved in the observation, never
guessed. Pods come from the Kubernetes API (in cluster: the service account's token) or from a
recorded `kubectl get pods -A -l mlplatform.io/model -o json` file.
"""

from __future__ import annotations

import json
import os
import re
import ssl
import urllib.parse
import urllib.request
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from mlplatform.components.conventions import ENVIRONMENT_LABEL, MODEL_DIGEST_ANNOTATION, MODEL_LABEL

from . import records as R
from .errors import EvidenceError
from .ledger import Ledger, Record

MODEL_CONTAINER_ANNOTATION = "mlplatform.io/model-container"
MAX_PODS_LISTED = 16  # per observation: the record must stay under KMS's 4096-byte signing limit
SA_DIR = Path("/var/run/secrets/kubernetes.io/serviceaccount")
_PINNED = re.compile(r"@(sha256:[0-9a-f]{64})$")


@dataclass(frozen=True)
class SeenPod:
    model: str
    environment: str
    namespace: str
    name: str
    digest: str | None  # the model's sha256 digest, None when unresolved
    source: str  # annotation | image-volume | image | unresolved
    reference: str  # what it was resolved from


def _resolve(pod: dict[str, Any]) -> tuple[str | None, str, str]:
    meta, spec, status = pod.get("metadata") or {}, pod.get("spec") or {}, pod.get("status") or {}
    ann = meta.get("annotations") or {}
    stated = ann.get(MODEL_DIGEST_ANNOTATION)
    if stated:
        return (
            (stated if R.DIGEST.match(stated) else None),
            "annotation" if R.DIGEST.match(stated) else "unresolved",
            stated,
        )
    for vol in spec.get("volumes") or []:
        ref = (vol.get("image") or {}).get("reference")
        if ref:
            m = _PINNED.search(ref)
            return (m[1] if m else None), "image-volume" if m else "unresolved", ref
    containers = [c.get("name") for c in spec.get("containers") or []]
    wanted = ann.get(MODEL_CONTAINER_ANNOTATION) or (containers[0] if containers else None)
    for cs in status.get("containerStatuses") or []:
        if cs.get("name") == wanted:
            m = _PINNED.search(cs.get("imageID") or "")
            return (m[1] if m else None), "image" if m else "unresolved", cs.get("imageID") or cs.get("image") or ""
    return None, "unresolved", str(wanted or "")


def seen_pods(pod_list: dict[str, Any]) -> list[SeenPod]:
    """The running, labelled pods of a PodList (Kubernetes API or `kubectl get pods -o json`)."""
    if not isinstance(pod_list, dict) or not isinstance(pod_list.get("items"), list):
        raise EvidenceError(
            "--pods", "is not a Kubernetes PodList", f"record it with `kubectl get pods -A -l {MODEL_LABEL} -o json`"
        )
    out = []
    for pod in pod_list["items"]:
        meta = pod.get("metadata") or {}
        labels = meta.get("labels") or {}
        model = labels.get(MODEL_LABEL)
        if not model or not R.MODEL_NAME.match(model) or meta.get("deletionTimestamp"):
            continue
        if (pod.get("status") or {}).get("phase") != "Running":
            continue
        digest, source, ref = _resolve(pod)
        out.append(
            SeenPod(
                model,
                labels.get(ENVIRONMENT_LABEL) or R.DEFAULT_ENVIRONMENT,
                meta.get("namespace", ""),
                meta.get("name", ""),
                digest,
                source,
                ref,
            )
        )
    return sorted(out, key=lambda p: (p.model, p.environment, p.namespace, p.name))


def _running(rec: Record) -> set[str]:
    return {d for d in (R.digest_of(x) for x in rec.predicate.get("running") or []) if d}


def last_observations(ledger: Ledger, model: str, want: set[str] | None) -> dict[str, Record]:
    """environment -> the model's latest observation there, reading the chain from its tail back
    (until every environment in `want` is found; all of it when `want` is None)."""
    found: dict[str, Record] = {}
    keys = ledger.keys(model)
    batch = 32
    for end in range(len(keys), 0, -batch):
        recs = ledger.fetch(model, ((k, None) for k in keys[max(0, end - batch) : end]))
        for rec in reversed(recs):
            if rec.kind == "observation" and rec.environment not in found:
                found[rec.environment] = rec
        if want is not None and want <= set(found):
            break
    return found


@dataclass
class Observed:
    recorded: list[Record]
    unresolved: list[SeenPod]  # running pods whose model has no digest (also listed in their observation)

    def warnings(self) -> list[str]:
        return [
            f"{p.namespace}/{p.name} ({p.model}, {p.environment}): cannot resolve {p.reference or 'its model'} "
            f"to a digest; pin the model by digest (annotation {MODEL_DIGEST_ANNOTATION} or an image volume "
            "REPOSITORY@sha256:...)"
            for p in self.unresolved
        ]


def observe(
    ledger: Ledger, pod_list: dict[str, Any], cluster: str | None = None, now: datetime | None = None
) -> Observed:
    """Record an observation for each (model, environment) whose running digests changed."""
    pods = seen_pods(pod_list)
    groups: dict[tuple[str, str], list[SeenPod]] = {}
    for p in pods:
        groups.setdefault((p.model, p.environment), []).append(p)
    known = set(ledger.models())
    by_model: dict[str, set[str]] = {}
    for model, env in groups:
        by_model.setdefault(model, set()).add(env)
    written: list[Record] = []
    for model in sorted(known | set(by_model)):
        envs = by_model.get(model, set())
        last = last_observations(ledger, model, None if model in known and not envs else envs) if model in known else {}
        for env in sorted(envs | {e for e, r in last.items() if _running(r)}):
            here = groups.get((model, env), [])
            running = sorted({p.digest for p in here if p.digest})
            unresolved = [p for p in here if not p.digest]
            before = last.get(env)
            if (
                before is not None
                and _running(before) == set(running)
                and len(before.predicate.get("unresolved") or []) == len(unresolved)
            ):
                continue
            if before is None and not here:
                continue
            # The subject is what runs now; when nothing does any more, what ran before.
            subjects = running or (sorted(_running(before)) if before is not None else [])
            if not subjects:  # only unresolved pods, and nothing resolvable before: no artifact to name
                continue
            predicate = {
                "environment": env,
                "cluster": cluster,
                "observedAt": R.iso(now or R.now_utc()),
                "running": [R.sha(d) for d in running],
                "podCount": len(here),
                "pods": [
                    {"namespace": p.namespace, "name": p.name, "model": p.digest, "source": p.source}
                    for p in here[:MAX_PODS_LISTED]
                ],
                "unresolved": [
                    {"namespace": p.namespace, "name": p.name, "reference": p.reference[:200]}
                    for p in unresolved[:MAX_PODS_LISTED]
                ],
            }
            written.append(
                ledger.append("observation", model, subjects, {k: v for k, v in predicate.items() if v is not None})
            )
    return Observed(written, [p for p in pods if not p.digest])


# -- pods from the Kubernetes API ---------------------------------------------------------------
def list_pods_in_cluster(timeout: float = 20.0) -> dict[str, Any]:
    """PodList of every pod labelled mlplatform.io/model, through the in-cluster service account."""
    host, port = os.environ.get("KUBERNETES_SERVICE_HOST"), os.environ.get("KUBERNETES_SERVICE_PORT", "443")
    token_file = SA_DIR / "token"
    if not host or not token_file.is_file():
        raise EvidenceError(
            "--pods",
            "not running in a cluster (no service account token)",
            f"pass --pods FILE from `kubectl get pods -A -l {MODEL_LABEL} -o json`",
        )
    ctx = ssl.create_default_context(cafile=str(SA_DIR / "ca.crt"))
    items: list[dict[str, Any]] = []
    cont = ""
    while True:
        query = urllib.parse.urlencode(
            {"labelSelector": MODEL_LABEL, "limit": 500, **({"continue": cont} if cont else {})}
        )
        req = urllib.request.Request(
            f"https://{host}:{port}/api/v1/pods?{query}",
            headers={"Authorization": f"Bearer {token_file.read_text().strip()}", "Accept": "application/json"},
        )
        with urllib.request.urlopen(req, context=ctx, timeout=timeout) as r:
            page = json.load(r)
        items += page.get("items") or []
        cont = (page.get("metadata") or {}).get("continue") or ""
        if not cont:
            return {"kind": "PodList", "apiVersion": "v1", "items": items}


def read_pods(path: str) -> dict[str, Any]:
    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except OSError as e:
        raise EvidenceError("--pods", f"cannot read {path}: {e.strerror or e}", "check the path") from None
    except ValueError as e:
        raise EvidenceError(
            "--pods", f"{path} is not JSON ({e})", "record it with `kubectl get pods -o json`"
        ) from None
