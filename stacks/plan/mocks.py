"""Plausible cloud answers for the offline plan.

The offline plan runs the real program against the Pulumi SDK's mock monitor. Later code reads ids,
ARNs, endpoints and URLs from resources (an IAM policy names a bucket ARN, a Helm value names the RDS
endpoint), so every resource gets outputs shaped like the ones AWS returns. Values are derived from
the resource's name with a hash, so two plans of the same stack are identical.
"""

from __future__ import annotations

import hashlib
from typing import Any

import pulumi

from ..config.regions import availability_zones

ACCOUNT_ID = "123456789012"

# EC2-style id prefixes for the types whose ids users see in the console.
_ID_PREFIX = {
    "aws:ec2/vpc:Vpc": "vpc-",
    "aws:ec2/subnet:Subnet": "subnet-",
    "aws:ec2/internetGateway:InternetGateway": "igw-",
    "aws:ec2/natGateway:NatGateway": "nat-",
    "aws:ec2/eip:Eip": "eipalloc-",
    "aws:ec2/routeTable:RouteTable": "rtb-",
    "aws:ec2/securityGroup:SecurityGroup": "sg-",
    "aws:ec2/launchTemplate:LaunchTemplate": "lt-",
    "aws:ec2/vpcEndpoint:VpcEndpoint": "vpce-",
    "aws:ec2/flowLog:FlowLog": "fl-",
    "aws:ec2/routeTableAssociation:RouteTableAssociation": "rtbassoc-",
    "aws:ec2/route:Route": "r-",
    "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule": "sgr-",
    "aws:vpc/securityGroupEgressRule:SecurityGroupEgressRule": "sgr-",
}


def _hex(seed: str, n: int = 17) -> str:
    return hashlib.sha256(seed.encode()).hexdigest()[:n]


def _uuid(seed: str) -> str:
    h = hashlib.sha256(seed.encode()).hexdigest()
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:32]}"


class PlanMocks(pulumi.runtime.Mocks):
    """Mocks that answer like AWS in one region of one account."""

    def __init__(self, region: str):
        self.region = region

    # -- resources ---------------------------------------------------------------------------
    def new_resource(self, args: pulumi.runtime.MockResourceArgs) -> tuple[str, dict]:
        typ, name, inputs = args.typ, args.name, dict(args.inputs)
        if not args.custom:
            return "", {}
        if args.resource_id:  # read or import of an existing resource: keep its id
            rid = args.resource_id
        else:
            rid = _ID_PREFIX.get(typ, "") + _hex(typ + name)
        state: dict[str, Any] = dict(inputs)
        if typ.startswith("pulumi:providers:"):
            return rid, state
        pkg, mod, _cls = (typ.split(":") + ["", ""])[:3]
        if pkg == "aws":
            rid, state = self._aws(typ, mod.split("/")[0], name, rid, state)
        elif pkg == "random":
            state = self._random(typ, name, state)
        return rid, state

    def _aws(self, typ: str, service: str, name: str, rid: str, s: dict) -> tuple[str, dict]:
        region, acct = self.region, ACCOUNT_ID
        physical = s.get("name") or f"{name}-{_hex(name, 7)}"
        arn = f"arn:aws:{service}:{region}:{acct}:{typ.rsplit(':', 1)[1].lower()}/{rid}"
        s.setdefault("tagsAll", s.get("tags") or {})
        if typ == "aws:eks/cluster:Cluster":
            rid = physical
            oidc = _hex(physical, 32).upper()
            s.update(
                name=physical,
                arn=f"arn:aws:eks:{region}:{acct}:cluster/{physical}",
                endpoint=f"https://{oidc}.gr7.{region}.eks.amazonaws.com",
                certificateAuthority={"data": "LS0tLS1CRUdJTiBDRVJUSUZJQ0FURS0tLS0tCg=="},
                identities=[{"oidcs": [{"issuer": f"https://oidc.eks.{region}.amazonaws.com/id/{oidc}"}]}],
                status="ACTIVE",
                platformVersion="eks.1",
                vpcConfig={**(s.get("vpcConfig") or {}), "clusterSecurityGroupId": "sg-" + _hex(physical)},
            )
            return rid, s
        if typ == "aws:iam/openIdConnectProvider:OpenIdConnectProvider":
            host = str(s.get("url", "")).removeprefix("https://")
            s["arn"] = f"arn:aws:iam::{acct}:oidc-provider/{host}"
            return s["arn"], s
        if typ == "aws:iam/role:Role":
            s.update(
                name=physical, arn=f"arn:aws:iam::{acct}:role/{physical}", uniqueId="AROA" + _hex(physical).upper()
            )
            return physical, s
        if typ == "aws:iam/policy:Policy":
            s.update(name=physical, arn=f"arn:aws:iam::{acct}:policy/{physical}")
            return s["arn"], s
        if typ == "aws:iam/instanceProfile:InstanceProfile":
            s.update(name=physical, arn=f"arn:aws:iam::{acct}:instance-profile/{physical}")
            return physical, s
        if typ == "aws:kms/key:Key":
            key_id = _uuid(name)
            s.update(keyId=key_id, arn=f"arn:aws:kms:{region}:{acct}:key/{key_id}")
            return key_id, s
        if typ == "aws:kms/alias:Alias":
            s["arn"] = f"arn:aws:kms:{region}:{acct}:{s.get('name', name)}"
            return str(s.get("name", name)), s
        if typ in ("aws:s3/bucket:Bucket", "aws:s3/bucketV2:BucketV2"):
            bucket = s.get("bucket") or f"{name}-{_hex(name, 7)}"
            s.update(
                bucket=bucket,
                arn=f"arn:aws:s3:::{bucket}",
                bucketDomainName=f"{bucket}.s3.amazonaws.com",
                bucketRegionalDomainName=f"{bucket}.s3.{region}.amazonaws.com",
                region=region,
            )
            return bucket, s
        if typ == "aws:ecr/repository:Repository":
            s.update(
                arn=f"arn:aws:ecr:{region}:{acct}:repository/{physical}",
                repositoryUrl=f"{acct}.dkr.ecr.{region}.amazonaws.com/{physical}",
                registryId=acct,
            )
            return physical, s
        if typ == "aws:rds/instance:Instance":
            ident = s.get("identifier") or physical
            host = f"{ident}.c{_hex(ident, 11)}.{region}.rds.amazonaws.com"
            port = s.get("port") or 5432
            s.update(
                identifier=ident,
                address=host,
                port=port,
                endpoint=f"{host}:{port}",
                arn=f"arn:aws:rds:{region}:{acct}:db:{ident}",
            )
            return ident, s
        if typ == "aws:ec2/launchTemplate:LaunchTemplate":
            s.update(latestVersion=1, defaultVersion=1, arn=f"arn:aws:ec2:{region}:{acct}:launch-template/{rid}")
            return rid, s
        if typ == "aws:eks/nodeGroup:NodeGroup":
            ng = s.get("nodeGroupName") or physical
            s.update(
                nodeGroupName=ng,
                arn=f"arn:aws:eks:{region}:{acct}:nodegroup/{s.get('clusterName')}/{ng}/{_uuid(ng)}",
                resources=[{"autoscalingGroups": [{"name": f"eks-{ng}-{_uuid(ng)}"}]}],
                status="ACTIVE",
            )
            return f"{s.get('clusterName')}:{ng}", s
        if typ == "aws:sqs/queue:Queue":
            q = s.get("name") or physical
            s.update(
                name=q, arn=f"arn:aws:sqs:{region}:{acct}:{q}", url=f"https://sqs.{region}.amazonaws.com/{acct}/{q}"
            )
            return s["url"], s
        if typ == "aws:cloudwatch/logGroup:LogGroup":
            s.update(name=physical, arn=f"arn:aws:logs:{region}:{acct}:log-group:{physical}")
            return physical, s
        if typ == "aws:cloudwatch/eventRule:EventRule":
            s.update(name=physical, arn=f"arn:aws:events:{region}:{acct}:rule/{physical}")
            return physical, s
        s.setdefault("arn", arn)
        return rid, s

    @staticmethod
    def _random(typ: str, name: str, s: dict) -> dict:
        if typ == "random:index/randomPassword:RandomPassword":
            length = int(s.get("length", 32))
            s["result"] = (_hex("pw" + name, 64) * 2)[:length]
        elif typ == "random:index/randomId:RandomId":
            s["hex"] = _hex(name, 2 * int(s.get("byteLength", 4)))
        elif typ == "random:index/randomString:RandomString":
            s["result"] = _hex(name, int(s.get("length", 8)))
        return s

    # -- invokes -----------------------------------------------------------------------------
    def call(self, args: pulumi.runtime.MockCallArgs) -> tuple[dict, list]:
        tok, a = args.token, args.args
        if tok == "aws:index/getAvailabilityZones:getAvailabilityZones":
            names = availability_zones(self.region)
            return {"names": names, "zoneIds": [f"use1-az{i + 1}" for i in range(len(names))], "id": self.region}, []
        if tok == "aws:index/getCallerIdentity:getCallerIdentity":
            return {
                "accountId": ACCOUNT_ID,
                "arn": f"arn:aws:iam::{ACCOUNT_ID}:user/plan",
                "userId": "AIDAPLAN",
                "id": ACCOUNT_ID,
            }, []
        if tok in ("aws:index/getRegion:getRegion",):
            return {
                "name": self.region,
                "region": self.region,
                "id": self.region,
                "endpoint": f"ec2.{self.region}.amazonaws.com",
            }, []
        if tok == "aws:index/getPartition:getPartition":
            return {"partition": "aws", "dnsSuffix": "amazonaws.com", "id": "aws"}, []
        if tok == "aws:eks/getAddonVersion:getAddonVersion":
            # The real call answers EKS's default add-on build for the pinned Kubernetes version.
            return {
                "version": f"(EKS default for Kubernetes {a.get('kubernetesVersion')})",
                "id": a.get("addonName"),
            }, []
        if tok == "aws:eks/getCluster:getCluster":  # an adopted EKS cluster
            cname, oidc = a.get("name"), _hex(str(a.get("name")), 32).upper()
            return {
                "id": cname,
                "name": cname,
                "arn": f"arn:aws:eks:{self.region}:{ACCOUNT_ID}:cluster/{cname}",
                "endpoint": f"https://{oidc}.gr7.{self.region}.eks.amazonaws.com",
                "certificateAuthorities": [{"data": "LS0tLS1CRUdJTiBDRVJUSUZJQ0FURS0tLS0tCg=="}],
                "identities": [{"oidcs": [{"issuer": f"https://oidc.eks.{self.region}.amazonaws.com/id/{oidc}"}]}],
                "version": "1.34",
                "platformVersion": "eks.1",
                "status": "ACTIVE",
                "region": self.region,
                "roleArn": f"arn:aws:iam::{ACCOUNT_ID}:role/{cname}-cluster",
                "enabledClusterLogTypes": ["api", "audit"],
                "accessConfigs": [{"authenticationMode": "API_AND_CONFIG_MAP"}],
                "tags": {},
                "vpcConfig": {
                    "clusterSecurityGroupId": "sg-" + _hex(str(cname)),
                    "vpcId": "vpc-" + _hex("adopted"),
                    "subnetIds": ["subnet-" + _hex(f"adopted-{i}") for i in range(2)],
                    "securityGroupIds": [],
                    "endpointPrivateAccess": True,
                    "endpointPublicAccess": True,
                    "publicAccessCidrs": ["0.0.0.0/0"],
                    "controlPlaneEgressMode": "AWS_MANAGED",
                },
            }, []
        if tok == "aws:ec2/getVpc:getVpc":  # an adopted VPC
            vid = a.get("id") or "vpc-" + _hex("default")
            return {
                "id": vid,
                "cidrBlock": "10.0.0.0/16",
                "state": "available",
                "ownerId": ACCOUNT_ID,
                "arn": f"arn:aws:ec2:{self.region}:{ACCOUNT_ID}:vpc/{vid}",
            }, []
        if tok == "aws:secretsmanager/getSecretVersion:getSecretVersion":  # credentials of an adopted database
            sid = str(a.get("secretId"))
            return {
                "id": f"{sid}|AWSCURRENT",
                "arn": sid,
                "versionId": _uuid(sid),
                "versionStage": "AWSCURRENT",
                "secretString": f'{{"username": "mlflow", "password": "{_hex("pw" + sid, 32)}"}}',
            }, []
        if tok == "aws:ec2/getSubnet:getSubnet":  # an adopted subnet: zone picked from its id, stably
            sid = a.get("id") or "subnet-" + _hex("default")
            zones = availability_zones(self.region)
            return {
                "id": sid,
                "availabilityZone": zones[int(_hex(sid, 8), 16) % len(zones)],
                "arn": f"arn:aws:ec2:{self.region}:{ACCOUNT_ID}:subnet/{sid}",
            }, []
        return {}, []
