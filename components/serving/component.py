"""`ModelServing` (`mlplatform:serving:ModelServing`): the Argo Rollouts controller (or an adopted one),
the ClusterAnalysisTemplates every canary runs (analysis.py), and the namespace of each environment.

Each environment's namespace (`serving-<environment>`) enforces the restricted Pod Security level and,
when models are configured, holds a ResourceQuota sized for its models at the rollout peak (stable +
full-size canary), annotated with what it is sized for (the capacity check and `cost` read it).
"""

from __future__ import annotations

import json
from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from .._common import ValidationError, helm_release, namespace, policy_json
from ..conventions import (
    MODEL_LABEL,
    PART_OF,
    PREDICTION_LOG_CONFIG,
    ROLLOUTS_CHART,
    SERVING_POOL_ANNOTATION,
    model_service_account,
    serving_namespace,
)
from ..helm_values import check_user_values, with_user_values
from .args import ModelServingArgs
from .controller import NAMESPACE, controller_values
from .placement import effective, quota, sized_for

TYPE = "mlplatform:serving:ModelServing"
DEPLOYERS_GROUP = "mlplatform:serving-deployers"
DEPLOYER_ROLE = "mlplatform-serving-deployer"
# What `serve apply` needs in a serving namespace: the objects `serve render` writes, read access to
# what the Rollout makes (ReplicaSets, pods, analysis runs), nothing else (no Secrets, no exec).
DEPLOYER_RULES = [
    {"apiGroups": [""], "resources": ["services"], "verbs": ["get", "list", "watch", "create", "update", "patch"]},
    {
        "apiGroups": ["networking.k8s.io"],
        "resources": ["ingresses"],
        "verbs": ["get", "list", "watch", "create", "update", "patch"],
    },
    {
        "apiGroups": ["policy"],
        "resources": ["poddisruptionbudgets"],
        "verbs": ["get", "list", "watch", "create", "update", "patch"],
    },
    {
        "apiGroups": ["monitoring.coreos.com"],
        "resources": ["podmonitors"],
        "verbs": ["get", "list", "watch", "create", "update", "patch"],
    },
    {
        "apiGroups": ["argoproj.io"],
        "resources": ["rollouts"],
        "verbs": ["get", "list", "watch", "create", "update", "patch"],
    },
    {"apiGroups": ["argoproj.io"], "resources": ["analysisruns"], "verbs": ["get", "list", "watch"]},
    {"apiGroups": ["apps"], "resources": ["replicasets"], "verbs": ["get", "list", "watch"]},
    {"apiGroups": [""], "resources": ["pods", "events"], "verbs": ["get", "list", "watch"]},
]
READINESS_GATE_LABEL = {"elbv2.k8s.aws/pod-readiness-gate-inject": "enabled"}


class ModelServing(pulumi.ComponentResource):
    """Argo Rollouts + analysis templates + serving namespaces.

    Attributes: `namespaces` (environment -> namespace), `controller_namespace`, `template_names`
    (the ClusterAnalysisTemplates created), `release` (the Helm release, None when adopted).
    """

    namespaces: dict[str, str]
    controller_namespace: str
    template_names: list[str]
    release: Any

    def __init__(self, name: str, args: ModelServingArgs, opts: pulumi.ResourceOptions | None = None):
        if not isinstance(args, ModelServingArgs):
            raise ValidationError(
                "args", f"must be ModelServingArgs, got {type(args).__name__}", "pass ModelServingArgs(...)"
            )
        check_user_values(ROLLOUTS_CHART, args.helm_values)
        if args.helm_values and args.existing is not None:
            raise ValidationError(
                "helm_values",
                "the adopted Argo Rollouts controller is not installed by this component",
                "set its values where that controller is managed, or drop helm_values",
            )
        if not args.enabled:
            raise ValidationError("enabled", "is false", "leave ModelServing out of the program instead")
        logged = logged_models(args)
        if logged and (
            getattr(args.cluster, "oidc_provider_arn", None) is None
            or getattr(args.cluster, "oidc_issuer_url", None) is None
        ):
            raise ValidationError(
                "cluster",
                f"the prediction logs of {', '.join(logged)} need the cluster's OIDC provider (IRSA)",
                "pass the stack's Cluster (or a ClusterRef with oidc_provider_arn and oidc_issuer_url)",
            )
        from .analysis import cluster_analysis_templates

        templates = cluster_analysis_templates(args.prometheus_address)
        super().__init__(TYPE, name, None, opts)
        provider = getattr(args.cluster, "provider", None) if args.cluster is not None else None
        kube = pulumi.ResourceOptions(parent=self, provider=provider)

        self.namespaces = {env: serving_namespace(env) for env in args.environments}
        namespaces: dict[str, pulumi.Resource] = {}
        ready: list[pulumi.Resource] = []
        if args.existing is None:
            self.controller_namespace = NAMESPACE
            values = with_user_values(
                ROLLOUTS_CHART, controller_values(args.controller_replicas, args.monitoring_release), args.helm_values
            )
            self.release = helm_release(self, f"{name}-argo-rollouts", ROLLOUTS_CHART, NAMESPACE, values, provider)
            ready.append(self.release)
        else:
            self.controller_namespace = args.existing.namespace
            self.release = None

        self.template_names = []
        for t in templates:
            meta = t.get("metadata") or {}
            self.template_names.append(meta["name"])
            k8s.apiextensions.CustomResource(
                f"{name}-analysis-{meta['name']}",
                api_version=t["apiVersion"],
                kind=t["kind"],
                metadata={**meta, "labels": {**PART_OF, **(meta.get("labels") or {})}},
                spec=t["spec"],
                opts=pulumi.ResourceOptions.merge(kube, pulumi.ResourceOptions(depends_on=list(ready))),
            )

        for env, ns_name in self.namespaces.items():
            # The AWS Load Balancer Controller injects its readiness gate into pods behind an ALB target group
            # here: a pod counts as ready once the ALB sends it traffic. The ping/pong Services never change
            # their selectors, so the gate is injected into every canary pod (argo-rollouts#2864).
            ns = namespace(
                self, f"{name}-serving-{env}", ns_name, provider, enforce="restricted", labels=READINESS_GATE_LABEL
            )
            namespaces[env] = ns
            if args.models:
                k8s.core.v1.ResourceQuota(
                    f"{name}-serving-{env}",
                    metadata={
                        "name": "serving",
                        "namespace": ns_name,
                        "labels": dict(PART_OF),
                        "annotations": {
                            SERVING_POOL_ANNOTATION: json.dumps(
                                sized_for(args.models, effective(args.placement, args.cpu_batch_pool), args.gpu_pool),
                                sort_keys=True,
                            )
                        },
                    },
                    spec={"hard": quota(args.models)},
                    opts=pulumi.ResourceOptions.merge(kube, pulumi.ResourceOptions(depends_on=[ns])),
                )
            if args.deployer_role_arn is not None:
                in_ns = pulumi.ResourceOptions.merge(kube, pulumi.ResourceOptions(depends_on=[ns]))
                role = k8s.rbac.v1.Role(
                    f"{name}-serving-{env}-deployer",
                    metadata={"name": DEPLOYER_ROLE, "namespace": ns_name, "labels": dict(PART_OF)},
                    rules=DEPLOYER_RULES,
                    opts=in_ns,
                )
                k8s.rbac.v1.RoleBinding(
                    f"{name}-serving-{env}-deployer",
                    metadata={"name": DEPLOYER_ROLE, "namespace": ns_name, "labels": dict(PART_OF)},
                    subjects=[{"kind": "Group", "name": DEPLOYERS_GROUP, "apiGroup": "rbac.authorization.k8s.io"}],
                    role_ref={"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": DEPLOYER_ROLE},
                    opts=pulumi.ResourceOptions.merge(in_ns, pulumi.ResourceOptions(depends_on=[role])),
                )

        if args.deployer_role_arn is not None:
            cluster_name = getattr(args.cluster, "cluster_name", None)
            if cluster_name is None:
                raise ValidationError(
                    "deployer_role_arn", "needs the cluster's name", "pass cluster=<the stack's Cluster or ClusterRef>"
                )
            import pulumi_aws as aws

            from .._common import tags

            if args.deployer_role_name is not None:
                invoke = pulumi.InvokeOutputOptions(parent=self)
                cluster_arn = pulumi.Output.concat(
                    "arn:",
                    aws.get_partition_output(opts=invoke).partition,
                    ":eks:",
                    aws.get_region_output(opts=invoke).region,
                    ":",
                    aws.get_caller_identity_output(opts=invoke).account_id,
                    ":cluster/",
                    cluster_name,
                )
                aws.iam.RolePolicy(
                    f"{name}-serving-deployers",
                    role=args.deployer_role_name,
                    policy=cluster_arn.apply(
                        lambda arn: policy_json([{"Effect": "Allow", "Action": "eks:DescribeCluster", "Resource": arn}])
                    ),
                    opts=pulumi.ResourceOptions(parent=self),
                )
            aws.eks.AccessEntry(
                f"{name}-serving-deployers",
                cluster_name=cluster_name,
                principal_arn=args.deployer_role_arn,
                type="STANDARD",
                kubernetes_groups=[DEPLOYERS_GROUP],
                tags=tags(name, args.tags),
                opts=pulumi.ResourceOptions(parent=self),
            )

        if logged:
            self._prediction_logs(name, args, logged, namespaces, kube)

        self.register_outputs(
            {
                "namespaces": self.namespaces,
                "controller_namespace": self.controller_namespace,
                "template_names": self.template_names,
            }
        )

    def _prediction_logs(
        self,
        name: str,
        args: ModelServingArgs,
        models: list[str],
        namespaces: dict[str, pulumi.Resource],
        kube: pulumi.ResourceOptions,
    ) -> None:
        """Per namespace the bucket and region the pods read; per model an IRSA role (put under
        predictions/<model>/ only) and its service account in every serving namespace."""
        import pulumi_aws as aws

        from .._common import tags
        from ..helm_values import IRSA_ANNOTATION
        from ..irsa import irsa_role

        region = aws.get_region_output(opts=pulumi.InvokeOutputOptions(parent=self)).region
        for env, ns in namespaces.items():
            k8s.core.v1.ConfigMap(
                f"{name}-serving-{env}-prediction-log",
                metadata={"name": PREDICTION_LOG_CONFIG, "namespace": self.namespaces[env], "labels": dict(PART_OF)},
                data={"bucket": args.registry.bucket_name, "region": region},
                opts=pulumi.ResourceOptions.merge(kube, pulumi.ResourceOptions(depends_on=[ns])),
            )
        for model in models:
            account = model_service_account(model)
            role = irsa_role(
                self,
                f"{name}-model-{model}",
                args.cluster.oidc_provider_arn,
                args.cluster.oidc_issuer_url,
                [(self.namespaces[env], account) for env in namespaces],
                policies={f"{name}-model-{model}-predictions": args.registry.prediction_log_policy(model)},
                tags=tags(name, args.tags),
                description=f"Served model {model}: writes its prediction log under predictions/{model}/ only",
            )
            for env, ns in namespaces.items():
                k8s.core.v1.ServiceAccount(
                    f"{name}-serving-{env}-{model}",
                    metadata={
                        "name": account,
                        "namespace": self.namespaces[env],
                        "labels": {**PART_OF, MODEL_LABEL: model},
                        "annotations": {IRSA_ANNOTATION: role.arn},
                    },
                    automount_service_account_token=False,  # IRSA projects its own token
                    opts=pulumi.ResourceOptions.merge(kube, pulumi.ResourceOptions(depends_on=[ns, *role.policies])),
                )


def logged_models(args: ModelServingArgs) -> list[str]:
    """The models whose runtime writes a prediction log (the `mlflow` runtime's hook), when a registry is given."""
    if args.registry is None:
        return []
    return sorted(m for m, s in args.models.items() if s.runtime == "mlflow" and s.log_sample > 0)
