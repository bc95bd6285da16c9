"""Derive the per-region price files `stacks/data/prices-<region>.json` from the shared snapshot.

    python -m mlplatform.stacks.facts.prices --shared /work/shared

Reads `shared/pricing/aws-prices.json` and writes one file per region it already ships (or those given
with `--region`), each through `stacks.cost.derive_region_prices` (values, sources, date and gaps
unchanged, never an invented price). `tests/test_facts.py` compares the files with `../shared`.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from mlplatform.stacks.analyses.cost import DATA, derive_region_prices

from .charts import shared_dir

SNAPSHOT = Path("pricing") / "aws-prices.json"


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
