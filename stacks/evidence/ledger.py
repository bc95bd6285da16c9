"""The ledger: signed, hash-chained, write-once records per model in an Object Lock S3 bucket.

Layout: `s3://BUCKET/[PREFIX/]ledger/<model>/<seq>-<hex>.json`, `seq` zero-padded (8 digits, from 1),
`hex` the SHA-256 of the object's bytes (a DSSE envelope, canonical JSON). Each record's predicate
carries `ledger.previous`: the `sha256:` of the record before it (null for seq 1). A record is written
once (`PutObject` with `If-None-Match: *`); the bucket's Object Lock keeps every version for the
retention period, so a second version of a key — an overwrite — stays visible and `verify` reports it.

Readers list with `ListObjectVersions` (every version and delete marker of every key), read each
key's versions concurrently, and check signatures locally with the public key (`cryptography`): KMS
is asked only for the public key, unless the auditor brings it (`public_key=`).
"""

from __future__ import annotations

import heapq
import json
import re
from collections import defaultdict
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from . import records as R
from .dsse import Envelope, KmsSigner, canonical_json, load_public_key, sha256_hex, sign_envelope
from .errors import EvidenceError, LedgerRefusal

LEDGER_DIR = "ledger"
KEY_RE = re.compile(r"^(?P<seq>\d{8})-(?P<hex>[0-9a-f]{64})\.json$")
FUTURE_SLACK = timedelta(minutes=5)  # a record may say it happened at most this long after it was recorded
DEFAULT_REVIEW_DAYS = 38  # a monthly review + a week
READ_THREADS = 16


_LOADER: Any = None


def aws_session(region: str | None = None) -> Any:
    """A boto3 session reading the standard settings (env, profile, AWS_ENDPOINT_URL) afresh, sharing
    one loader of the service models per process (loading them is most of a client's start-up)."""
    import boto3
    import botocore.loaders
    import botocore.session

    global _LOADER
    if _LOADER is None:
        _LOADER = botocore.loaders.create_loader()
    core = botocore.session.Session()
    core.register_component("data_loader", _LOADER)
    return boto3.session.Session(botocore_session=core, region_name=region)


@dataclass(frozen=True)
class Location:
    bucket: str
    prefix: str = ""  # "" or "path/" (always ends in "/")

    @property
    def url(self) -> str:
        return f"s3://{self.bucket}/{self.prefix}".rstrip("/")

    def model_prefix(self, model: str) -> str:
        return f"{self.prefix}{LEDGER_DIR}/{model}/"


_BUCKET = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")


def parse_location(url: str | None) -> Location:
    if not url:
        raise EvidenceError(
            "--ledger",
            "no ledger given",
            "pass --ledger s3://BUCKET[/PREFIX] or set MLPLATFORM_LEDGER (the stack output "
            "evidence_bucket, `mlplatform outputs`)",
        )
    m = re.match(r"^s3://([^/]+)(?:/(.*))?$", url)
    if not m or not _BUCKET.match(m[1]):
        raise EvidenceError(
            "--ledger", f"{url!r} is not an S3 location", "write it as s3://BUCKET or s3://BUCKET/PREFIX"
        )
    prefix = (m[2] or "").strip("/")
    return Location(m[1], f"{prefix}/" if prefix else "")


@dataclass
class Record:
    """One stored record (the latest version of its key) and what it says."""

    key: str
    model: str
    seq: int
    hex: str  # the key's digest of the object bytes
    body: bytes
    version_id: str | None = None
    last_modified: datetime | None = None
    envelope: Envelope | None = None
    statement: dict[str, Any] = field(default_factory=dict)
    problem: str | None = None  # why it could not be parsed

    @property
    def digest(self) -> str:
        return f"sha256:{self.hex}"

    @property
    def predicate(self) -> dict[str, Any]:
        p = self.statement.get("predicate")
        return p if isinstance(p, dict) else {}

    @property
    def kind(self) -> str:
        return R.KIND_OF.get(self.statement.get("predicateType", ""), "unknown")

    @property
    def link(self) -> dict[str, Any]:
        link = self.predicate.get("ledger")
        return link if isinstance(link, dict) else {}

    @property
    def subjects(self) -> list[str]:
        out = []
        for s in self.statement.get("subject") or []:
            d = R.digest_of(s.get("digest")) if isinstance(s, dict) else None
            if d:
                out.append(d)
        return out

    @property
    def subject(self) -> str | None:
        return self.subjects[0] if self.subjects else None

    @property
    def recorded_at(self) -> datetime | None:
        return _time(self.link.get("recordedAt"))

    @property
    def when(self) -> datetime | None:
        """When the thing it records happened: the predicate's own time, else when it was recorded."""
        p = self.predicate
        if self.kind == "provenance":
            t = _time((p.get("runDetails") or {}).get("metadata", {}).get("finishedOn"))
        else:
            t = _time(p.get(R.WHEN_FIELD.get(self.kind, "")))
        return t or self.recorded_at

    @property
    def environment(self) -> str:
        return self.predicate.get("environment") or R.DEFAULT_ENVIRONMENT

    def to_dict(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "seq": self.seq,
            "digest": self.digest,
            "kind": self.kind,
            "subject": self.subjects,
            "when": R.iso(self.when) if self.when else None,
            "recorded_at": self.link.get("recordedAt"),
            "recorded_by": self.link.get("recordedBy"),
            "statement": self.statement,
        }


def _time(value: Any) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        return R.parse_time(value)
    except EvidenceError:
        return None


def parse_record(
    key: str, model: str, body: bytes, version_id: str | None = None, last_modified: datetime | None = None
) -> Record:
    name = key.rsplit("/", 1)[-1]
    m = KEY_RE.match(name)
    rec = Record(key, model, int(m["seq"]) if m else -1, m["hex"] if m else "", body, version_id, last_modified)
    if not m:
        rec.problem = f"key {name!r} is not <seq>-<sha256>.json"
        return rec
    try:
        rec.envelope = Envelope.from_dict(json.loads(body))
        st = json.loads(rec.envelope.payload)
        if not isinstance(st, dict):
            raise ValueError("the payload is not a JSON object")
        rec.statement = st
    except (ValueError, UnicodeDecodeError, TypeError) as e:
        rec.problem = f"not a DSSE envelope of an in-toto statement ({e})"
    return rec


# -- the ledger -----------------------------------------------------------------------------------
class Ledger:
    """One ledger (bucket + prefix) and, for writing, its KMS signing key."""

    def __init__(
        self,
        location: Location | str | None,
        key_id: str | None = None,
        session: Any = None,
        region: str | None = None,
    ):
        from botocore.config import Config

        self.location = location if isinstance(location, Location) else parse_location(location)
        self.key_id = key_id
        self.source = ""  # where the location came from, for the first line (the CLI sets it)
        session = session or aws_session(region)
        cfg = Config(max_pool_connections=READ_THREADS + 4)
        self.s3 = session.client("s3", config=cfg)
        self._session = session
        self._kms: Any = None
        self._signer: KmsSigner | None = None
        self._public_key: tuple[Any, str | None] | None = None
        self._who: str | None = None
        self.region = session.region_name
        # Writing into a bucket that is not versioned with Object Lock is refused unless the caller accepts
        # it explicitly; then `warn` is told (loudly, by the CLI) before anything is written.
        self.allow_unprotected = False
        self.warn: Any = lambda message: None
        self._protection_checked = False

    @property
    def kms(self) -> Any:
        if self._kms is None:
            self._kms = self._session.client("kms")
        return self._kms

    def describe(self) -> str:
        """The first line of every evidence command: which ledger (and key, region) it acts on."""
        key = f", key {self.key_id}" if self.key_id else ""
        return f"Ledger {self.location.url} (region {self.region or 'default'}{key})"

    # -- reading -----------------------------------------------------------------------------------
    def check_exists(self) -> None:
        from botocore.exceptions import ClientError

        try:
            self.s3.head_bucket(Bucket=self.location.bucket)
        except ClientError as e:
            code = e.response.get("Error", {}).get("Code", "")
            if code in ("403", "AccessDenied"):
                return  # it exists; the writer policy lists only under ledger/ (HeadBucket has no prefix)
            if code in ("404", "NoSuchBucket", "NotFound"):
                raise EvidenceError(
                    "--ledger",
                    f"bucket {self.location.bucket} does not exist",
                    "check --ledger / MLPLATFORM_LEDGER (stack output evidence_bucket) and the region",
                ) from None
            raise

    def models(self) -> list[str]:
        self.check_exists()
        out: list[str] = []
        paginator = self.s3.get_paginator("list_objects_v2")
        root = f"{self.location.prefix}{LEDGER_DIR}/"
        for page in paginator.paginate(Bucket=self.location.bucket, Prefix=root, Delimiter="/"):
            out += [p["Prefix"][len(root) :].rstrip("/") for p in page.get("CommonPrefixes", [])]
        return sorted(out)

    def versions(self, model: str) -> dict[str, list[dict[str, Any]]]:
        """key -> its versions and delete markers, oldest first (from ListObjectVersions).

        S3 lists a key's versions newest first and `LastModified` has one-second resolution, so two
        writes in one second tie on it: the listing's own order decides (reversed), never a guess
        from `IsLatest`; delete markers are merged in by time."""
        out: dict[str, list[dict[str, Any]]] = defaultdict(list)
        paginator = self.s3.get_paginator("list_object_versions")
        for page in paginator.paginate(Bucket=self.location.bucket, Prefix=self.location.model_prefix(model)):
            for v in page.get("Versions", []):
                out[v["Key"]].append({**v, "DeleteMarker": False})
            for d in page.get("DeleteMarkers", []):
                out[d["Key"]].append({**d, "DeleteMarker": True})
        for k, vs in out.items():
            versions = [v for v in vs if not v["DeleteMarker"]][::-1]  # oldest first, in the listing's order
            markers = [v for v in vs if v["DeleteMarker"]][::-1]
            # interleaved by time, each list keeping its own order; on a tie a version comes first
            out[k] = list(heapq.merge(versions, markers, key=lambda v: v["LastModified"]))
        return dict(sorted(out.items()))

    def keys(self, model: str) -> list[str]:
        out: list[str] = []
        paginator = self.s3.get_paginator("list_objects_v2")
        for page in paginator.paginate(Bucket=self.location.bucket, Prefix=self.location.model_prefix(model)):
            out += [o["Key"] for o in page.get("Contents", [])]
        return sorted(out)

    def _get(self, key: str, version_id: str | None = None) -> tuple[bytes, str | None, datetime | None]:
        kw = {"VersionId": version_id} if version_id else {}
        r = self.s3.get_object(Bucket=self.location.bucket, Key=key, **kw)
        return r["Body"].read(), r.get("VersionId"), r.get("LastModified")

    def fetch(self, model: str, keys: Iterable[tuple[str, str | None]]) -> list[Record]:
        """Read (key, version id) pairs concurrently and parse them, in the order given."""
        items = list(keys)

        def one(item: tuple[str, str | None]) -> Record:
            body, vid, modified = self._get(*item)
            return parse_record(item[0], model, body, vid, modified)

        if len(items) <= 2:
            return [one(i) for i in items]
        with ThreadPoolExecutor(READ_THREADS) as pool:
            return list(pool.map(one, items))

    def read(self, model: str) -> list[Record]:
        """Every record of a model (the current object of each key), in chain order."""
        R.check_model(model)
        self.check_exists()
        keys = self.keys(model)
        if not keys:
            raise self._unknown(model)
        return self.fetch(model, ((k, None) for k in keys))

    def _unknown(self, model: str) -> EvidenceError:
        known = self.models()
        return EvidenceError(
            "--model",
            f"no records of model {model!r} in {self.location.url}",
            f"use one of {', '.join(known)}"
            if known
            else "record its provenance first (`mlplatform evidence record provenance`)",
        )

    # -- writing -----------------------------------------------------------------------------------
    @property
    def signer(self) -> KmsSigner:
        if self._signer is None:
            if not self.key_id:
                raise EvidenceError(
                    "--key",
                    "no signing key given",
                    "pass --key KEY_ID_OR_ARN or set MLPLATFORM_LEDGER_KEY (stack output evidence_key)",
                )
            self._signer = KmsSigner(self.kms, self.key_id)
        return self._signer

    def _whoami(self) -> str:
        if self._who is None:
            try:
                self._who = self._session.client("sts").get_caller_identity()["Arn"]
            except Exception:
                self._who = "unknown"
        return self._who

    def protection_problems(self) -> list[str]:
        """Why the bucket does not keep every record (empty: versioning on, Object Lock on with a default
        retention). Asked with GetBucketVersioning and GetObjectLockConfiguration (the writer policy's
        `CheckWriteOnce`)."""
        from botocore.exceptions import ClientError

        bucket, problems = self.location.bucket, []
        status = self.s3.get_bucket_versioning(Bucket=bucket).get("Status")
        if status != "Enabled":
            problems.append(f"versioning is {status or 'off'}, so an overwrite or a delete loses the record")
        try:
            lock = self.s3.get_object_lock_configuration(Bucket=bucket).get("ObjectLockConfiguration") or {}
        except ClientError as e:
            if e.response.get("Error", {}).get("Code") != "ObjectLockConfigurationNotFoundError":
                raise
            lock = {}
        if lock.get("ObjectLockEnabled") != "Enabled":
            problems.append("Object Lock is off, so anyone with s3:DeleteObjectVersion can erase a record")
        elif not (lock.get("Rule") or {}).get("DefaultRetention"):
            problems.append("Object Lock has no default retention, so the records written are not locked")
        return problems

    def check_write_once(self) -> None:
        """Refuse (exit 3) to write into a bucket that does not keep every record, unless `allow_unprotected`."""
        if self._protection_checked:
            return
        problems = self.protection_problems()
        if problems:
            what = f"ledger bucket {self.location.bucket}: {'; '.join(problems)}"
            if not self.allow_unprotected:
                raise LedgerRefusal(
                    "--ledger",
                    f"refused to write: {what}; `verify` could not see a deleted or replaced record",
                    "use the EvidenceLedger component's bucket (versioning + Object Lock with a default retention; "
                    "Object Lock can only be turned on for a versioned bucket), or pass --allow-unprotected-ledger "
                    "to write anyway",
                )
            self.warn(
                f"{what}. Writing anyway (--allow-unprotected-ledger): these records can be deleted or replaced "
                "without `verify` noticing; they are not evidence an auditor should rely on."
            )
        self._protection_checked = True

    def chain_state(self, model: str) -> tuple[str | None, int]:
        """(the key of the chain's last record, the next seq), from every version and delete marker.

        A record hidden by a delete marker still holds its seq: writing after it would fork the chain (a
        second record with that seq) or link past it, so that is refused with how to restore it."""
        tail: tuple[int, str] | None = None
        deleted = []
        for key, versions in self.versions(model).items():
            m = KEY_RE.match(key.rsplit("/", 1)[-1])
            if not m:
                continue
            seq = int(m["seq"])
            if versions and versions[-1]["DeleteMarker"]:
                deleted.append((seq, key, versions[-1]))
            if any(not v["DeleteMarker"] for v in versions) and (tail is None or seq > tail[0]):
                tail = (seq, key)
        if deleted:
            seq, key, marker = sorted(deleted)[0]
            when = marker.get("LastModified")
            more = f" (and {len(deleted) - 1} more)" if len(deleted) > 1 else ""
            raise LedgerRefusal(
                "record",
                f"record {seq} of {model} ({key}) was deleted{more}: a delete marker (version "
                f"{marker.get('VersionId')}{', ' + R.iso(when) if isinstance(when, datetime) else ''}) hides it; "
                f"writing now would fork the chain at {seq} or link past a hidden record; nothing was written",
                f"restore it by deleting the marker: aws s3api delete-object --bucket {self.location.bucket} "
                f"--key {key} --version-id {marker.get('VersionId')} (the record's own version is kept), "
                "find who deleted it (CloudTrail), then record again; `evidence verify` shows the chain",
            )
        return (tail[1] if tail else None), (tail[0] + 1 if tail else 1)

    def append(
        self, kind: str, model: str, digests: list[str], predicate: dict[str, Any], recorded_at: datetime | None = None
    ) -> Record:
        """Sign and write the next record of `model`; returns it (its key is what `record` prints)."""
        from botocore.exceptions import ClientError

        R.check_kind(kind)
        R.check_model(model)
        if not digests:
            raise EvidenceError(
                "--digest", "a record needs the digest of the model artifact it is about", "pass --digest sha256:..."
            )
        for d in digests:
            R.check_digest(d)
        self.check_exists()
        self.signer  # noqa: B018 - no key: refused before anything is read or written
        self.check_write_once()
        for _attempt in range(3):
            tail_key, seq = self.chain_state(model)
            last = KEY_RE.match(tail_key.rsplit("/", 1)[-1]) if tail_key else None
            try:
                rec = self.write(
                    model,
                    seq,
                    f"sha256:{last['hex']}" if last else None,
                    kind,
                    digests,
                    predicate,
                    recorded_at=recorded_at,
                )
            except ClientError as e:
                if e.response.get("Error", {}).get("Code") in ("PreconditionFailed", "ConditionalRequestConflict"):
                    continue  # the very same bytes exist already (or a concurrent write): look again
                raise
            rivals = [k for k in self.keys(model) if k != rec.key and k.rsplit("/", 1)[-1].startswith(f"{seq:08d}-")]
            if rivals:
                raise EvidenceError(
                    "record",
                    f"another writer recorded seq {seq} of {model} at the same time "
                    f"({rivals[0]}); both are kept and `verify` reports the fork",
                    "serialize the writers of one model (a workflow concurrency group)",
                )
            return rec
        raise EvidenceError(
            "record",
            f"could not append to {model}: the chain moved under three attempts",
            "retry; serialize the writers of one model",
        )

    def write(
        self,
        model: str,
        seq: int,
        previous: str | None,
        kind: str,
        digests: list[str],
        predicate: dict[str, Any],
        recorded_at: datetime | None = None,
    ) -> Record:
        """Sign record `seq` of `model` (linked to `previous`) and put it once (If-None-Match: *)."""
        link = {
            "model": model,
            "seq": seq,
            "previous": previous,
            "recordedAt": R.iso(recorded_at or R.now_utc()),
            "recordedBy": self._whoami(),
        }
        st = R.statement(model, digests, kind, {**predicate, "ledger": link})
        body = canonical_json(sign_envelope(st, self.signer).to_dict())
        key = f"{self.location.model_prefix(model)}{seq:08d}-{sha256_hex(body)}.json"
        r = self.s3.put_object(
            Bucket=self.location.bucket, Key=key, Body=body, IfNoneMatch="*", ContentType="application/json"
        )
        return parse_record(key, model, body, r.get("VersionId"))

    # -- the public key --------------------------------------------------------------------------
    def public_key(self, pem_or_der: bytes | None = None) -> tuple[Any, str | None]:
        """(the verifying key, the key ARN records must name or None): the auditor's file, else KMS."""
        if pem_or_der is not None:
            return load_public_key(pem_or_der), None
        if self._public_key is None:
            if not self.key_id:
                raise EvidenceError(
                    "--key",
                    "no key to verify with",
                    "pass --public-key FILE (PEM/DER), or --key KEY_ID_OR_ARN (MLPLATFORM_LEDGER_KEY)",
                )
            r = self.kms.get_public_key(KeyId=self.key_id)
            self._public_key = (load_public_key(r["PublicKey"]), r["KeyId"])
        return self._public_key
