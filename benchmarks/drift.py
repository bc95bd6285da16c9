"""Wall time of the drift job over 1 million logged predictions with 20 features, against a moto S3 server.

The prediction log is written as the runtime's PredictionLogger writes it (JSON lines, `--rows` rows per
logged request, spread over 7 days); the reference is a 100,000-row CSV version in the same bucket. Timed
stages, one run each after the data is in place: reading and parsing the window from S3, reading the
reference, Evidently's data-drift preset, and the sum (the PostgreSQL insert and the Pushgateway push are
a few rows and one request: left out). moto answers from memory on localhost, so the S3 part is a floor.

    python benchmarks/drift.py [--predictions 1000000] [--features 20] [--rows 10]

Measured 2026-12-07 on the shared 2-core machine (8 other sessions running; the job got about a quarter
of a core), 999,999 predictions (before the remainder fix), 20 features, 10 rows/request: read + parse
97.2 s, reference 3.7 s, Evidently 243.1 s, total 344.0 s; writing the log (setup) 99.8 s.
"""

from __future__ import annotations

import argparse
import io
import os
import sys
import time
from datetime import UTC, date, datetime
from pathlib import Path

import boto3
import numpy as np
import pandas as pd
from rich.console import Console
from rich.table import Table

from mlplatform.components.serving.prediction_log import PredictionLogger
from mlplatform.stacks.monitoring import drift

BUCKET, MODEL, DIGEST = "bench-artifacts", "bench", "sha256:" + "ef" * 32
END = date(2026, 12, 7)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--predictions", type=int, default=1_000_000)
    ap.add_argument("--features", type=int, default=20)
    ap.add_argument("--rows", type=int, default=10, help="rows per logged request")
    args = ap.parse_args()

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
    import moto_process

    proc, url = moto_process.start(timeout_s=60)
    os.environ.update(AWS_ENDPOINT_URL=url, AWS_ACCESS_KEY_ID="x", AWS_SECRET_ACCESS_KEY="x", AWS_DEFAULT_REGION="us-east-1")
    try:
        s3 = boto3.client("s3")
        s3.create_bucket(Bucket=BUCKET)
        rng = np.random.default_rng(1)
        cols = [f"f{i}" for i in range(args.features)]
        ref = pd.DataFrame(rng.normal(0, 1, (100_000, args.features)), columns=cols)
        ref["prediction"] = rng.uniform(0, 1, 100_000)
        buf = io.StringIO()
        ref.to_csv(buf, index=False)
        s3.put_object(Bucket=BUCKET, Key="ref.csv", Body=buf.getvalue().encode())

        t0 = time.perf_counter()
        for d in range(7):
            per_day = args.predictions // 7 + (1 if d < args.predictions % 7 else 0)
            day = datetime(END.year, END.month, END.day - d, 12, tzinfo=UTC)
            log = PredictionLogger(BUCKET, MODEL, DIGEST, sample=1.0, s3=s3, clock=lambda day=day: day,
                                   batch_records=10_000, batch_seconds=1e9)
            data = rng.normal(0.3, 1, (per_day, args.features))
            preds = rng.uniform(0, 1, per_day)
            for i in range(0, per_day, args.rows):
                log.log({"dataframe_split": {"columns": cols, "data": data[i:i + args.rows].tolist()}},
                        {"predictions": preds[i:i + args.rows].tolist()})
            log.close()
        written = time.perf_counter() - t0

        t0 = time.perf_counter()
        current = drift.read_window(s3, BUCKET, MODEL, DIGEST, END, 7)
        t_read = time.perf_counter() - t0
        t0 = time.perf_counter()
        reference = drift.read_reference(s3, f"s3://{BUCKET}/ref.csv", None)
        t_ref = time.perf_counter() - t0
        t0 = time.perf_counter()
        score, columns = drift.compare(reference, current, 0.5)
        t_cmp = time.perf_counter() - t0
    finally:
        proc.terminate()
        proc.wait(timeout=10)

    table = Table(title=f"Drift job: {len(current):,} logged predictions x {args.features} features "
                        f"({args.rows} rows/request), reference {len(reference):,} rows, {os.cpu_count()} cores")
    for c in ("stage", "seconds"):
        table.add_column(c, justify="right" if c == "seconds" else "left")
    table.add_row("read + parse the 7-day window from S3", f"{t_read:.1f}")
    table.add_row("read the reference CSV", f"{t_ref:.1f}")
    table.add_row("Evidently DataDriftPreset (21 columns)", f"{t_cmp:.1f}")
    table.add_row("drift job total (without DB insert and push)", f"{t_read + t_ref + t_cmp:.1f}")
    table.add_row("(setup: writing the log through PredictionLogger)", f"{written:.1f}")
    Console().print(table)
    print(f"score {score:.2f} (share of drifted columns), {sum(c.drifted for c in columns)} drifted")


if __name__ == "__main__":
    main()
