"""AWS commercial regions mlplatform knows offline, with how many availability zones each has.

The offline plan and the config validation need this without credentials. The counts are the zones
a new account can use (AWS "Regions and Availability Zones" page, read 2026-11); `doctor` checks
the real account with `describe_availability_zones`. A region missing here is refused with a
message listing the known ones: add it here when AWS opens it.
"""

from __future__ import annotations

AZ_COUNT: dict[str, int] = {
    "us-east-1": 6,
    "us-east-2": 3,
    "us-west-1": 2,
    "us-west-2": 4,
    "ca-central-1": 3,
    "ca-west-1": 3,
    "sa-east-1": 3,
    "eu-west-1": 3,
    "eu-west-2": 3,
    "eu-west-3": 3,
    "eu-central-1": 3,
    "eu-central-2": 3,
    "eu-north-1": 3,
    "eu-south-1": 3,
    "eu-south-2": 3,
    "ap-south-1": 3,
    "ap-south-2": 3,
    "ap-northeast-1": 3,
    "ap-northeast-2": 4,
    "ap-northeast-3": 3,
    "ap-southeast-1": 3,
    "ap-southeast-2": 3,
    "ap-southeast-3": 3,
    "ap-southeast-4": 3,
    "ap-east-1": 3,
    "me-south-1": 3,
    "me-central-1": 3,
    "il-central-1": 3,
    "af-south-1": 3,
}


def availability_zones(region: str) -> list[str]:
    """Zone names of a region in order (`us-east-1a`, `us-east-1b`, ...)."""
    return [f"{region}{chr(ord('a') + i)}" for i in range(AZ_COUNT[region])]
