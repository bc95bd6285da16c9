"""Wall time of `verify` over a ledger of 10,000 records, against a real moto server process.

The ledger is filled with valid release sequences (provenance, evaluation, approval, deployment,
observation per model version) spread over `--models` models, signed by a KMS ECC_NIST_P256 key. Then
`verify` (ListObjectVersions, every record read, every signature checked locally with the public key,
chains and deployment rules checked) runs `--runs` times; the table shows the median and the rate.
moto answers each request in a few milliseconds on localhost: against S3 the reads cost the network
round trips instead, spread over the same 16 concurrent readers.

    python benchmarks/evidence_verify.py [--records 10000] [--models 10] [--runs 3]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from pathlib import Path

from rich.console import Console
from rich.table import Table

KINDS = ("provenance", "evaluation", "approval", "deployment", "observation")


def _moto() -> tuple[subprocess.Popen, str]:
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
    import moto_process

    try:
        return moto_process.start(timeout_s=60)
    except RuntimeError as e:
        raise SystemExit(str(e)) from None


def fill(ledger, model: str, n: int) -> None:
    """n records of valid releases for one model, written as `record` would (one chain, in order)."""
    from mlplatform.stacks.evidence import records as R

    previous_record, previous_digest = None, None
    start = R.now_utc() - timedelta(days=2)
    for i in range(n):
        release, kind = divmod(i, len(KINDS))
        digest = f"sha256:{release:064x}"
        kind = KINDS[kind]
        fields = {"provenance": [f"commit={release:040x}", "data=s3://data/train.parquet?versionId=v1"],
                  "evaluation": ["metric.val_loss=0.2", "passed=true"],
                  "approval": ["by=alice"],
                  "deployment": [f"from={previous_digest or 'none'}"],
                  "observation": ["cluster=bench"]}[kind]
        when = start + timedelta(seconds=i)
        pred = R.build_predicate(kind, digest, R.parse_fields(fields + [f"when={R.iso(when)}"]
                                                              if kind != "provenance" else fields))
        rec = ledger.write(model, i + 1, previous_record, kind, [digest], pred, recorded_at=when)
        previous_record = rec.digest
        if kind == "deployment":
            previous_digest = digest


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--records", type=int, default=10_000)
    ap.add_argument("--models", type=int, default=10)
    ap.add_argument("--runs", type=int, default=3)
    a = ap.parse_args()

    proc, url = _moto()
    os.environ.update(AWS_ACCESS_KEY_ID="bench", AWS_SECRET_ACCESS_KEY="bench", AWS_DEFAULT_REGION="us-east-1",
                      AWS_ENDPOINT_URL=url, AWS_CONFIG_FILE="/dev/null", AWS_SHARED_CREDENTIALS_FILE="/dev/null",
                      AWS_EC2_METADATA_DISABLED="true")
    try:
        import boto3

        from mlplatform.stacks.evidence.audit import verify
        from mlplatform.stacks.evidence.ledger import Ledger

        s3 = boto3.client("s3")
        s3.create_bucket(Bucket="bench-evidence", ObjectLockEnabledForBucket=True)
        s3.put_object_lock_configuration(Bucket="bench-evidence", ObjectLockConfiguration={
            "ObjectLockEnabled": "Enabled", "Rule": {"DefaultRetention": {"Mode": "GOVERNANCE", "Days": 1}}})
        key = boto3.client("kms").create_key(KeySpec="ECC_NIST_P256", KeyUsage="SIGN_VERIFY")["KeyMetadata"]["KeyId"]
        ledger = Ledger("s3://bench-evidence", key_id=key)
        per = a.records // a.models
        t0 = time.perf_counter()
        with ThreadPoolExecutor(a.models) as pool:
            list(pool.map(lambda m: fill(ledger, f"model-{m:02d}", per), range(a.models)))
        filled = time.perf_counter() - t0

        spent = {"list": 0.0, "read": 0.0}

        def timed(method, what):  # split verify's time: S3 calls vs. our own checks
            def wrapper(*args, **kw):
                t = time.perf_counter()
                try:
                    return method(*args, **kw)
                finally:
                    spent[what] += time.perf_counter() - t
            return wrapper

        Ledger.versions = timed(Ledger.versions, "list")
        Ledger.fetch = timed(Ledger.fetch, "read")
        times, report = [], None
        for _ in range(a.runs):
            t = time.perf_counter()
            report = verify(Ledger("s3://bench-evidence", key_id=key))
            times.append(time.perf_counter() - t)
        assert report is not None and report.ok, [b.line() for b in report.breaks][:5]
        median = statistics.median(times)
        table = Table(title=f"mlplatform evidence verify: {report.records} records, {len(report.models)} models (moto)")
        for col in ("step", "seconds", "records/s"):
            table.add_column(col, justify="right" if col != "step" else "left")
        table.add_row(f"fill (sign + put, {a.models} writers)", f"{filled:.1f}", f"{report.records / filled:.0f}")
        table.add_row(f"verify, median of {a.runs}", f"{median:.2f}", f"{report.records / median:.0f}")
        table.add_row("verify, fastest", f"{min(times):.2f}", f"{report.records / min(times):.0f}")
        n = a.runs
        table.add_row("  of which ListObjectVersions", f"{spent['list'] / n:.2f}", "")
        table.add_row("  of which GetObject (16 readers)", f"{spent['read'] / n:.2f}", "")
        checks = sum(times) / n - (spent["list"] + spent["read"]) / n
        table.add_row("  of which signatures + chain + rules", f"{checks:.2f}", f"{report.records / checks:.0f}")
        Console().print(table)
    finally:
        import moto_process

        moto_process.stop(proc, timeout_s=30)


if __name__ == "__main__":
    main()
