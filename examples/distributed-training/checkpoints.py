"""Checkpoints of a training run under the team's S3 prefix, so a restarted run resumes.

    CHECKPOINT_URI=s3://<artifact bucket>/teams/<team>/checkpoints/<run>/

Each checkpoint is one object `step-<NNNNNNNNNN>.pt` (the zero-padded step orders them by name); the
latest is the one with the highest step. Only rank 0 writes. The team's IRSA role (service account
`<team>-ml`) may read and write exactly this prefix.
"""

from __future__ import annotations

import re
from urllib.parse import urlparse

import boto3

_STEP = re.compile(r"step-(\d{10})\.pt$")


def _split(uri: str) -> tuple[str, str]:
    u = urlparse(uri)
    if u.scheme != "s3" or not u.netloc:
        raise ValueError(f"CHECKPOINT_URI {uri!r} is not s3://bucket/prefix/")
    return u.netloc, u.path.lstrip("/").rstrip("/") + "/"


def key_for(uri: str, step: int) -> tuple[str, str]:
    bucket, prefix = _split(uri)
    return bucket, f"{prefix}step-{step:010d}.pt"


def latest(uri: str, s3=None) -> tuple[int, str] | None:
    """(step, key) of the newest checkpoint under the prefix, or None for a fresh run."""
    s3 = s3 or boto3.client("s3")
    bucket, prefix = _split(uri)
    best: tuple[int, str] | None = None
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        for obj in page.get("Contents", []):
            m = _STEP.search(obj["Key"])
            if m and (best is None or int(m[1]) > best[0]):
                best = (int(m[1]), obj["Key"])
    return best


def save(uri: str, step: int, data: bytes, s3=None) -> str:
    s3 = s3 or boto3.client("s3")
    bucket, key = key_for(uri, step)
    s3.put_object(Bucket=bucket, Key=key, Body=data)
    return key


def load(uri: str, key: str, s3=None) -> bytes:
    s3 = s3 or boto3.client("s3")
    bucket, _ = _split(uri)
    return s3.get_object(Bucket=bucket, Key=key)["Body"].read()
