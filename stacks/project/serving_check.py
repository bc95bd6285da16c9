"""`check` over the pods `serve render` would run: every served model of the stack, in every environment.

The Rollouts are not Pulumi resources (the publish workflow applies them), so the Plan does not hold
them: `serving_findings(spec, stack, plan)` renders each `serving.models` entry with a placeholder
release (digest `sha256:0…`, the stack's models repository) and checks what it would run:

* `serving-pods` (high): every container, init containers too, requests CPU and memory and limits
  memory; the pod satisfies the restricted Pod Security Standard the serving namespaces enforce
  (runAsNonRoot, no privilege escalation, all capabilities dropped, RuntimeDefault seccomp, no host
  namespaces, no hostPath, no privileged container) — the admission controller would refuse it;
* `custom-resource-schema` (high): the Rollout and PodMonitor against the pinned CRDs.

Findings are reported against the stack's ModelServing component, named `<environment>/<model>`.
"""

from __future__ import annotations

from typing import Any

from ..analyses.policy import Finding
from ..config.spec import StackSpec
from ..plan.offline import Plan

SERVING_TYPE = "mlplatform:serving:ModelServing"
PLACEHOLDER_DIGEST = "sha256:" + "0" * 64


def pod_problems(pod: dict[str, Any]) -> list[tuple[str, str]]:
    """(problem, fix) of a pod spec against requests/limits and the restricted Pod Security Standard."""
    out: list[tuple[str, str]] = []
    pod_sc = pod.get("securityContext") or {}
    for key in ("hostNetwork", "hostPID", "hostIPC"):
        if pod.get(key):
            out.append((f"{key} is set", f"remove {key}"))
    for v in pod.get("volumes") or []:
        if "hostPath" in v:
            out.append((f"volume {v.get('name')} is a hostPath", "use an emptyDir or a PVC"))
    for kind in ("initContainers", "containers"):
        for c in pod.get(kind) or []:
            name, sc = c.get("name"), c.get("securityContext") or {}
            res = c.get("resources") or {}
            if not {"cpu", "memory"} <= set(res.get("requests") or {}):
                out.append((f"container {name} does not request CPU and memory", "set resources.requests"))
            if "memory" not in (res.get("limits") or {}):
                out.append((f"container {name} has no memory limit", "set resources.limits.memory"))
            if sc.get("runAsNonRoot", pod_sc.get("runAsNonRoot")) is not True:
                out.append((f"container {name} may run as root", "set runAsNonRoot: true"))
            if sc.get("runAsUser", pod_sc.get("runAsUser")) == 0:
                out.append((f"container {name} runs as uid 0", "run as a non-zero uid"))
            if sc.get("privileged"):
                out.append((f"container {name} is privileged", "remove privileged"))
            if sc.get("allowPrivilegeEscalation") is not False:
                out.append((f"container {name} allows privilege escalation", "set allowPrivilegeEscalation: false"))
            if "ALL" not in ((sc.get("capabilities") or {}).get("drop") or []):
                out.append((f"container {name} keeps Linux capabilities", "drop ALL capabilities"))
            seccomp = (sc.get("seccompProfile") or pod_sc.get("seccompProfile") or {}).get("type")
            if seccomp not in ("RuntimeDefault", "Localhost"):
                out.append((f"container {name} has no RuntimeDefault seccomp profile", "set seccompProfile"))
    return out


def rendered(spec: StackSpec, stack: str) -> dict[str, list[dict[str, Any]]]:
    """`<environment>/<model>` -> the objects `serve render` would apply for it (placeholder release)."""
    from .ci import models_repository
    from .serving import Release, render

    if not spec.serving.enabled:
        return {}
    try:
        repository = models_repository(spec, stack)
    except Exception:  # no models repository: the placeholder names one anyway
        repository = "models"
    out: dict[str, list[dict[str, Any]]] = {}
    for model in sorted(spec.serving.models):
        release = Release(model, "0", PLACEHOLDER_DIGEST, f"{repository}@{PLACEHOLDER_DIGEST}")
        for env, objects in render(spec, stack, release).items():
            out[f"{env}/{model}"] = objects
    return out


def serving_findings(spec: StackSpec, stack: str, plan: Plan) -> list[Finding]:
    """The serving-pods and custom-resource-schema findings of every served model."""
    from ..config.chart_facts import custom_resource_errors

    owner = next((r for r in plan.resources if r.type == SERVING_TYPE), None)
    urn = owner.urn if owner else SERVING_TYPE
    out: list[Finding] = []
    for where, objects in rendered(spec, stack).items():
        for o in objects:
            if o["kind"] == "Rollout":
                for problem, fix in pod_problems(o["spec"]["template"]["spec"]):
                    out.append(
                        Finding(
                            "serving-pods",
                            "high",
                            urn,
                            where,
                            problem,
                            fix,
                            title="Served models' pods request resources and meet the restricted Pod Security level",
                        )
                    )
            for problem in custom_resource_errors(o) or []:
                out.append(
                    Finding(
                        "custom-resource-schema",
                        "high",
                        urn,
                        where,
                        f"{o['kind']} {o['metadata']['name']}: {problem}",
                        "fix the field to what the CRD defines",
                        title="Every custom resource validates against its chart's CRD schema",
                    )
                )
    return out
