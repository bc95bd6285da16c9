"""Which input changes make the engine replace a resource: a curated table of create-only properties.

`diff` predicts a replacement when a property listed here changes. The real engine asks each
provider at `preview` time and has the final word; this table lets the offline diff see the same
answer for the resource types mlplatform creates.

Sources, per entry:
- AWS (pulumi-aws v7 is a bridge of the Terraform AWS provider): the Pulumi Registry page of the
  resource, whose argument list is generated from the upstream schema; a create-only argument is
  `ForceNew: true` in `hashicorp/terraform-provider-aws` `internal/service/<service>/<file>.go`
  (shown as "forces new resource" in the docs). Paths are the Pulumi (camelCase) input names. Every
  regional AWS resource in v7 also takes `region`, and moving a resource to another region replaces
  it (IAM is global and has no `region`).
- random: every argument of the random provider's resources is marked "RequiresReplace" (the docs:
  "Changing ... will force a new resource").
- Kubernetes objects: `pulumi/pulumi-kubernetes` `provider/pkg/provider/diff.go`: `.metadata.name`
  and `.metadata.namespace` force a replacement for every kind, plus a short per-kind list (below).
  Helm releases: `provider/pkg/provider/helm_release.go` (`forceNewFields := {".name", ".namespace"}`).
- The Kubernetes provider resource: its `clusterIdentifier` argument ("the provider will _only_ be
  replaced when `clusterIdentifier` changes").

`physical` names the input that holds the resource's cloud name; None means the engine auto-names
it from the URN (a random suffix kept in state), so the name is stable while the URN is.

Components (custom=False) have no provider and no create-only inputs of their own: they never
appear in the table.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_REGISTRY = "https://www.pulumi.com/registry/packages/aws/api-docs/"
_TF = "hashicorp/terraform-provider-aws internal/service/"


@dataclass(frozen=True)
class CreateOnly:
    """The create-only inputs of one resource type.

    paths: input paths (dotted, camelCase) whose change replaces the resource; a path also covers
        everything under it. `removed` lists paths whose *removal* (not change) replaces it.
    physical: the input holding the cloud name, or None when the engine auto-names it.
    source: where the rule comes from (documentation page + upstream schema file).
    note: anything a reader of a diff should know about this type.
    """

    paths: tuple[str, ...]
    source: str
    physical: str | None = None
    removed: tuple[str, ...] = ()
    note: str = ""


def _aws(
    page: str,
    tf_file: str,
    *paths: str,
    physical: str | None = None,
    removed: tuple[str, ...] = (),
    note: str = "",
    regional: bool = True,
) -> CreateOnly:
    return CreateOnly(
        paths=(*paths, "region") if regional else paths,
        physical=physical,
        removed=removed,
        note=note,
        source=f"{_REGISTRY}{page}/ ; {_TF}{tf_file} (ForceNew)",
    )


AWS: dict[str, CreateOnly] = {
    # -- network --------------------------------------------------------------------------------
    "aws:ec2/vpc:Vpc": _aws("ec2/vpc", "ec2/vpc_.go", "cidrBlock", "ipv4IpamPoolId", "ipv4NetmaskLength"),
    "aws:ec2/defaultSecurityGroup:DefaultSecurityGroup": _aws(
        "ec2/defaultsecuritygroup",
        "ec2/vpc_default_security_group.go",
        "vpcId",
        note="adopts the VPC's default security group; it is never created or deleted in AWS",
    ),
    "aws:ec2/internetGateway:InternetGateway": _aws(
        "ec2/internetgateway", "ec2/vpc_internet_gateway.go", note="vpcId changes detach and re-attach the same gateway"
    ),
    "aws:ec2/subnet:Subnet": _aws(
        "ec2/subnet",
        "ec2/vpc_subnet.go",
        "availabilityZone",
        "availabilityZoneId",
        "cidrBlock",
        "vpcId",
        "ipv4IpamPoolId",
    ),
    "aws:ec2/eip:Eip": _aws(
        "ec2/eip",
        "ec2/ec2_eip.go",
        "address",
        "customerOwnedIpv4Pool",
        "domain",
        "ipamPoolId",
        "networkBorderGroup",
        "publicIpv4Pool",
    ),
    "aws:ec2/natGateway:NatGateway": _aws(
        "ec2/natgateway", "ec2/vpc_nat_gateway.go", "allocationId", "connectivityType", "privateIp", "subnetId"
    ),
    "aws:ec2/routeTable:RouteTable": _aws("ec2/routetable", "ec2/vpc_route_table.go", "vpcId"),
    "aws:ec2/routeTableAssociation:RouteTableAssociation": _aws(
        "ec2/routetableassociation",
        "ec2/vpc_route_table_association.go",
        "subnetId",
        "gatewayId",
        note="routeTableId changes are an in-place ReplaceRouteTableAssociation",
    ),
    "aws:ec2/route:Route": _aws(
        "ec2/route",
        "ec2/vpc_route.go",
        "routeTableId",
        "destinationCidrBlock",
        "destinationIpv6CidrBlock",
        "destinationPrefixListId",
    ),
    "aws:ec2/securityGroup:SecurityGroup": _aws(
        "ec2/securitygroup", "ec2/vpc_security_group.go", "name", "namePrefix", "description", "vpcId", physical="name"
    ),
    "aws:ec2/securityGroupRule:SecurityGroupRule": _aws(
        "ec2/securitygrouprule",
        "ec2/vpc_security_group_rule.go",
        "securityGroupId",
        "type",
        "fromPort",
        "toPort",
        "protocol",
        "cidrBlocks",
        "ipv6CidrBlocks",
        "prefixListIds",
        "self",
        "sourceSecurityGroupId",
    ),
    "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule": _aws(
        "vpc/securitygroupingressrule", "ec2/vpc_security_group_ingress_rule.go (RequiresReplace)", "securityGroupId"
    ),
    "aws:vpc/securityGroupEgressRule:SecurityGroupEgressRule": _aws(
        "vpc/securitygroupegressrule", "ec2/vpc_security_group_egress_rule.go (RequiresReplace)", "securityGroupId"
    ),
    "aws:ec2/vpcEndpoint:VpcEndpoint": _aws(
        "ec2/vpcendpoint",
        "ec2/vpc_endpoint.go",
        "serviceName",
        "vpcEndpointType",
        "vpcId",
        "serviceRegion",
        "resourceConfigurationArn",
        "serviceNetworkArn",
    ),
    "aws:ec2/flowLog:FlowLog": _aws(
        "ec2/flowlog",
        "ec2/vpc_flow_log.go",
        "vpcId",
        "subnetId",
        "eniId",
        "transitGatewayId",
        "transitGatewayAttachmentId",
        "trafficType",
        "logDestination",
        "logDestinationType",
        "iamRoleArn",
        "deliverCrossAccountRole",
        "logFormat",
        "maxAggregationInterval",
        "destinationOptions",
        note="a flow log is immutable: only its tags update in place",
    ),
    "aws:ec2/launchTemplate:LaunchTemplate": _aws(
        "ec2/launchtemplate",
        "ec2/ec2_launch_template.go",
        "name",
        "namePrefix",
        physical="name",
        note="other changes publish a new template version (node groups then roll their nodes)",
    ),
    # -- EKS --------------------------------------------------------------------------------------
    "aws:eks/cluster:Cluster": _aws(
        "eks/cluster",
        "eks/cluster.go",
        "name",
        "roleArn",
        "bootstrapSelfManagedAddons",
        "accessConfig.bootstrapClusterCreatorAdminPermissions",
        "kubernetesNetworkConfig.ipFamily",
        "kubernetesNetworkConfig.serviceIpv4Cidr",
        "outpostConfig",
        "remoteNetworkConfig",
        physical="name",
        removed=("encryptionConfig",),
        note="removing encryptionConfig forces a new cluster (envelope encryption cannot be disabled); "
        "subnets, endpoint access, logs and version update in place",
    ),
    "aws:eks/nodeGroup:NodeGroup": _aws(
        "eks/nodegroup",
        "eks/node_group.go",
        "amiType",
        "capacityType",
        "clusterName",
        "diskSize",
        "instanceTypes",
        "launchTemplate.id",
        "launchTemplate.name",
        "nodeGroupName",
        "nodeGroupNamePrefix",
        "nodeRoleArn",
        "remoteAccess",
        "subnetIds",
        physical="nodeGroupName",
        note="scaling, labels, taints and launch template version update in place (a version change rolls the nodes)",
    ),
    "aws:autoscaling/tag:Tag": _aws(
        "autoscaling/tag",
        "autoscaling/group_tag.go",
        "autoscalingGroupName",
        "tag.key",
        note="a tag's value and propagateAtLaunch update in place",
    ),
    "aws:eks/addon:Addon": _aws("eks/addon", "eks/addon.go", "addonName", "clusterName"),
    "aws:eks/accessEntry:AccessEntry": _aws(
        "eks/accessentry", "eks/access_entry.go", "clusterName", "principalArn", "type"
    ),
    "aws:eks/accessPolicyAssociation:AccessPolicyAssociation": _aws(
        "eks/accesspolicyassociation",
        "eks/access_policy_association.go",
        "clusterName",
        "principalArn",
        "policyArn",
        "accessScope",
    ),
    "aws:eks/podIdentityAssociation:PodIdentityAssociation": _aws(
        "eks/podidentityassociation",
        "eks/pod_identity_association.go (RequiresReplace)",
        "clusterName",
        "namespace",
        "serviceAccount",
    ),
    # -- IAM / KMS ------------------------------------------------------------------------------
    "aws:iam/role:Role": _aws("iam/role", "iam/role.go", "name", "namePrefix", "path", physical="name", regional=False),
    "aws:iam/rolePolicy:RolePolicy": _aws(
        "iam/rolepolicy", "iam/role_policy.go", "name", "namePrefix", "role", regional=False
    ),
    "aws:iam/rolePolicyAttachment:RolePolicyAttachment": _aws(
        "iam/rolepolicyattachment", "iam/role_policy_attachment.go", "role", "policyArn", regional=False
    ),
    "aws:iam/policy:Policy": _aws(
        "iam/policy", "iam/policy.go", "name", "namePrefix", "path", "description", physical="name", regional=False
    ),
    "aws:iam/instanceProfile:InstanceProfile": _aws(
        "iam/instanceprofile", "iam/instance_profile.go", "name", "namePrefix", "path", physical="name", regional=False
    ),
    "aws:iam/openIdConnectProvider:OpenIdConnectProvider": _aws(
        "iam/openidconnectprovider",
        "iam/openid_connect_provider.go",
        "url",
        note="client ids and thumbprints update in place",
        regional=False,
    ),
    "aws:kms/key:Key": _aws(
        "kms/key", "kms/key.go", "customerMasterKeySpec", "keyUsage", "multiRegion", "customKeyStoreId", "xksKeyId"
    ),
    "aws:kms/alias:Alias": _aws("kms/alias", "kms/alias.go", "name", "namePrefix", physical="name"),
    # -- registry / storage ---------------------------------------------------------------------
    "aws:ecr/repository:Repository": _aws(
        "ecr/repository", "ecr/repository.go", "name", "encryptionConfigurations", physical="name"
    ),
    "aws:ecr/lifecyclePolicy:LifecyclePolicy": _aws("ecr/lifecyclepolicy", "ecr/lifecycle_policy.go", "repository"),
    "aws:ecr/repositoryPolicy:RepositoryPolicy": _aws("ecr/repositorypolicy", "ecr/repository_policy.go", "repository"),
    "aws:s3/bucket:Bucket": _aws(
        "s3/bucket", "s3/bucket.go", "bucket", "bucketPrefix", "objectLockEnabled", physical="bucket"
    ),
    "aws:s3/bucketPolicy:BucketPolicy": _aws("s3/bucketpolicy", "s3/bucket_policy.go", "bucket"),
    "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock": _aws(
        "s3/bucketpublicaccessblock", "s3/bucket_public_access_block.go", "bucket"
    ),
    "aws:s3/bucketOwnershipControls:BucketOwnershipControls": _aws(
        "s3/bucketownershipcontrols", "s3/bucket_ownership_controls.go", "bucket"
    ),
    "aws:s3/bucketObjectLockConfiguration:BucketObjectLockConfiguration": _aws(
        "s3/bucketobjectlockconfiguration",
        "s3/bucket_object_lock_configuration.go",
        "bucket",
        "expectedBucketOwner",
        "objectLockEnabled",
    ),
    "aws:s3/bucketVersioning:BucketVersioning": _aws(
        "s3/bucketversioning", "s3/bucket_versioning.go", "bucket", "expectedBucketOwner", "mfa"
    ),
    "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration": _aws(
        "s3/bucketserversideencryptionconfiguration",
        "s3/bucket_server_side_encryption_configuration.go",
        "bucket",
        "expectedBucketOwner",
    ),
    "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration": _aws(
        "s3/bucketlifecycleconfiguration",
        "s3/bucket_lifecycle_configuration.go (RequiresReplace)",
        "bucket",
        "expectedBucketOwner",
    ),
    # -- database / secrets ---------------------------------------------------------------------
    "aws:rds/instance:Instance": _aws(
        "rds/instance",
        "rds/instance.go",
        "identifier",
        "identifierPrefix",
        "engine",
        "availabilityZone",
        "characterSetName",
        "customIamInstanceProfile",
        "dbName",
        "kmsKeyId",
        "ncharCharacterSetName",
        "restoreToPointInTime",
        "s3Import",
        "snapshotIdentifier",
        "storageEncrypted",
        "timezone",
        "username",
        physical="identifier",
        note="instanceClass, multiAz, storage and engineVersion update in place (a major engineVersion "
        "needs allowMajorVersionUpgrade); with applyImmediately=false they wait for the maintenance window",
    ),
    "aws:rds/subnetGroup:SubnetGroup": _aws(
        "rds/subnetgroup", "rds/subnet_group.go", "name", "namePrefix", physical="name"
    ),
    "aws:rds/parameterGroup:ParameterGroup": _aws(
        "rds/parametergroup", "rds/parameter_group.go", "name", "namePrefix", "family", "description", physical="name"
    ),
    "aws:secretsmanager/secret:Secret": _aws(
        "secretsmanager/secret", "secretsmanager/secret.go", "name", "namePrefix", physical="name"
    ),
    "aws:secretsmanager/secretVersion:SecretVersion": _aws(
        "secretsmanager/secretversion",
        "secretsmanager/secret_version.go",
        "secretId",
        "secretString",
        "secretBinary",
        "secretStringWoVersion",
        note="a new value is a new version of the same secret",
    ),
    # -- Karpenter's interruption handling ------------------------------------------------------
    "aws:sqs/queue:Queue": _aws("sqs/queue", "sqs/queue.go", "name", "namePrefix", "fifoQueue", physical="name"),
    "aws:sqs/queuePolicy:QueuePolicy": _aws("sqs/queuepolicy", "sqs/queue_policy.go", "queueUrl"),
    "aws:cloudwatch/eventRule:EventRule": _aws(
        "cloudwatch/eventrule", "events/rule.go", "name", "namePrefix", "eventBusName", physical="name"
    ),
    "aws:cloudwatch/eventTarget:EventTarget": _aws(
        "cloudwatch/eventtarget", "events/target.go", "rule", "targetId", "eventBusName"
    ),
    "aws:cloudwatch/logGroup:LogGroup": _aws(
        "cloudwatch/loggroup", "logs/group.go", "name", "namePrefix", "logGroupClass", physical="name"
    ),
    "aws:cloudwatch/metricAlarm:MetricAlarm": _aws(
        "cloudwatch/metricalarm", "cloudwatch/metric_alarm.go", "name", physical="name"
    ),
}

_RANDOM_SOURCE = (
    "https://www.pulumi.com/registry/packages/random/api-docs/ ; hashicorp/terraform-provider-random "
    "internal/provider (every argument RequiresReplace)"
)
_RANDOM_STRING = (
    "length",
    "lower",
    "minLower",
    "minNumeric",
    "minSpecial",
    "minUpper",
    "number",
    "numeric",
    "overrideSpecial",
    "special",
    "upper",
    "keepers",
)
RANDOM: dict[str, CreateOnly] = {
    "random:index/randomPassword:RandomPassword": CreateOnly(
        _RANDOM_STRING, _RANDOM_SOURCE, note="a new password is generated"
    ),
    "random:index/randomString:RandomString": CreateOnly(_RANDOM_STRING, _RANDOM_SOURCE),
    "random:index/randomId:RandomId": CreateOnly(("byteLength", "keepers", "prefix"), _RANDOM_SOURCE),
}

PROVIDERS: dict[str, CreateOnly] = {
    "pulumi:providers:kubernetes": CreateOnly(
        ("clusterIdentifier",),
        "https://www.pulumi.com/registry/packages/kubernetes/api-docs/provider/ (clusterIdentifier: 'the provider "
        "will _only_ be replaced when clusterIdentifier changes')",
        note="replacing the provider replaces every Kubernetes object it manages",
    ),
    "pulumi:providers:aws": CreateOnly(
        ("region",), "https://www.pulumi.com/registry/packages/aws/api-docs/provider/ (region)"
    ),
}

HELM_RELEASE = "kubernetes:helm.sh/v3:Release"
_K8S_SOURCE = "pulumi/pulumi-kubernetes provider/pkg/provider/diff.go (forceNew table)"
_SELECTOR = ("spec.selector",)
# Per kind (type token without the `kubernetes:` prefix), on top of metadata.name / metadata.namespace.
KUBERNETES_KINDS: dict[str, tuple[str, ...]] = {
    "core/v1:ConfigMap": ("data", "binaryData"),
    "core/v1:Secret": ("type", "data", "stringData"),
    "core/v1:PersistentVolumeClaim": ("spec",),
    "core/v1:PersistentVolume": ("spec.csi", "spec.hostPath", "spec.local", "spec.nfs", "spec.awsElasticBlockStore"),
    "core/v1:ResourceQuota": ("spec.scopes",),
    "core/v1:Service": ("spec.clusterIP",),
    "apps/v1:Deployment": _SELECTOR,
    "apps/v1:DaemonSet": _SELECTOR,
    "apps/v1:StatefulSet": (
        "spec.podManagementPolicy",
        "spec.revisionHistoryLimit",
        "spec.selector",
        "spec.serviceName",
        "spec.volumeClaimTemplates",
    ),
    "batch/v1:Job": ("spec.completions", "spec.parallelism", "spec.selector", "spec.template"),
    "policy/v1beta1:PodDisruptionBudget": ("spec",),
    "rbac.authorization.k8s.io/v1:RoleBinding": ("roleRef",),
    "rbac.authorization.k8s.io/v1:ClusterRoleBinding": ("roleRef",),
    "storage.k8s.io/v1:StorageClass": ("parameters", "provisioner"),
}
_K8S_NOTES = {
    "core/v1:ConfigMap": "data changes replace it unless the provider sets enableConfigMapMutable",
    "core/v1:Secret": "data changes replace it unless the provider sets enableSecretMutable",
}


def _kubernetes(type_: str) -> CreateOnly:
    kind = type_.removeprefix("kubernetes:")
    return CreateOnly(
        ("metadata.name", "metadata.namespace", *KUBERNETES_KINDS.get(kind, ())),
        _K8S_SOURCE,
        physical="metadata.name",
        note=_K8S_NOTES.get(kind, ""),
    )


_K8S_OBJECT = re.compile(r"^kubernetes:[a-z0-9.-]+/[a-z0-9]+:[A-Z][A-Za-z0-9]*$")


def rule_for(type_: str) -> CreateOnly | None:
    """The create-only rule for a resource type, or None when the table does not know it."""
    for table in (AWS, RANDOM, PROVIDERS):
        if type_ in table:
            return table[type_]
    if type_ == HELM_RELEASE:
        return CreateOnly(
            ("name", "namespace"),
            "pulumi/pulumi-kubernetes provider/pkg/provider/helm_release.go "
            '(forceNewFields := {".name", ".namespace"})',
            physical="name",
            note="values and version changes are a helm upgrade in place",
        )
    if _K8S_OBJECT.match(type_) and not type_.startswith("kubernetes:helm.sh/"):
        # Every Kubernetes kind, including custom resources (Karpenter NodePool, PrometheusRule, ...):
        # the provider looks the kind up in its forceNew table and falls back to the metadata rule.
        return _kubernetes(type_)
    return None


def known(type_: str) -> bool:
    return rule_for(type_) is not None
