"""Derive the per-region price files `stacks/data/prices-<region>.json` from the shared snapshot.

    python -m mlplatform.stacks.facts.prices --shared /work/shared

Reads `shared/pricing/aws-prices.json` and writes one file per region it already ships (or those given
with `--region`), each through `derive_region_prices` (values, sources, date and gaps unchanged, never
an invented price); stacks/analyses/cost.py reads the files. `tests/test_facts.py` compares the files with `../shared`.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from .charts import DATA, shared_dir

SNAPSHOT = Path("pricing") / "aws-prices.json"


def derive_region_prices(snapshot: dict[str, Any], region: str) -> dict[str, Any]:
    """One region's price file from the shared multi-region snapshot, keeping sources, date and gaps."""
    prefix = f"{region}."
    reg = snapshot["regions"][region]
    gaps = [g.removeprefix(prefix) for g in snapshot["gaps"] if g.startswith(prefix)]
    ec2 = reg.get("ec2") or {}
    spot = None
    if "us-east-1" in snapshot["spot_discount"].get("method", "") and region == "us-east-1":
        spot = snapshot["spot_discount"]
    return {
        "region": region,
        "currency": snapshot["currency"],
        "hours_per_month": snapshot["hours_per_month"],
        "snapshot_date": snapshot["snapshot_date"],
        "snapshot_date_note": snapshot.get("snapshot_date_note", ""),
        "derived_from": "shared/pricing/aws-prices.json (one file per region; values, sources and gaps unchanged)",
        "prices": reg,
        "sources": {k.removeprefix(prefix): v for k, v in snapshot["sources"].items() if k.startswith(prefix)},
        "gaps": gaps,
        "not_offered": sorted(t for t, v in ec2.items() if v is None and f"ec2.{t}" not in gaps),
        "spot_discount": spot,
        "notes": snapshot.get("notes", {}),
    }


def shipped_regions(data: Path = DATA) -> list[str]:
    return sorted(p.stem.removeprefix("prices-") for p in data.glob("prices-*.json"))


def render(prices: dict[str, Any]) -> str:
    return json.dumps(prices, indent=1) + "\n"


def derived_files(shared: Path, regions: list[str] | None = None, data: Path = DATA) -> dict[Path, str]:
    snapshot = json.loads((shared / SNAPSHOT).read_text())
    out = {}
    for region in regions or shipped_regions(data):
        if region not in snapshot["regions"]:
            raise KeyError(f"{region} is not in {shared / SNAPSHOT} (it has {', '.join(sorted(snapshot['regions']))})")
        out[data / f"prices-{region}.json"] = render(derive_region_prices(snapshot, region))
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m mlplatform.stacks.facts.prices", description=(__doc__ or "").split("\n")[0]
    )
    parser.add_argument("--shared", help="the shared/ folder (default: $MLPLATFORM_SHARED, else ../shared)")
    parser.add_argument("--region", action="append", help="a region to write (repeatable; default: those shipped)")
    args = parser.parse_args(argv)
    shared = shared_dir(args.shared)
    if shared is None or not (shared / SNAPSHOT).is_file():
        print(f"no {SNAPSHOT} under {shared or '../shared'}: pass --shared DIR", file=sys.stderr)
        return 2
    try:
        files = derived_files(shared, args.region)
    except KeyError as e:
        print(e.args[0], file=sys.stderr)
        return 1
    for path, text in files.items():
        tmp = path.with_suffix(".tmp")
        tmp.write_text(text)
        tmp.replace(path)
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
