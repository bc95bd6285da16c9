"""The ids of `mlplatform check`'s own rules, in the order they run and report.

The stack config's waivers name them (config/spec.py `Waiver`), so the list sits here, below the analyses
that implement the rules: stacks/analyses/rules.py refuses to register a rule that is not listed, and
stacks/analyses/policy.py refuses to load while a listed rule has no implementation.
"""

from __future__ import annotations

RULE_IDS = (
    "s3-public-access-block",
    "s3-encryption",
    "s3-versioning",
    "s3-tls-only",
    "rds-encrypted",
    "rds-private",
    "rds-deletion-protection",
    "rds-backups",
    "rds-tls",
    "ecr-scan-on-push",
    "ecr-immutable-tags",
    "eks-secrets-encryption",
    "eks-control-plane-logs",
    "eks-public-endpoint",
    "nodes-imdsv2",
    "nodes-imds-hop-limit",
    "nodes-no-ssh-key",
    "nodes-encrypted-volumes",
    "iam-no-wildcard-admin",
    "irsa-pinned",
    "k8s-privileged",
    "k8s-run-as-root",
    "stateful-protected",
    "node-group-desired-size",
    "pod-requests",
    "system-nodes-fit",
    "secret-in-clear",
    "alerts-route-nowhere",
    "helm-values",
    "custom-resource-schema",
    "queue-capacity",
)
# Rules over what the stack's config renders outside the Plan: the pods `serve render` would run for the
# served models (stacks/project/serving_check.py). Waivers may name them too.
SPEC_RULE_IDS = ("serving-pods",)
