"""Every URN of every profile's plan and of the examples: the golden list and how to rebuild it.

A URN is the engine's identity of a resource. A changed URN is a resource the engine deletes and
creates anew (a database, a bucket, a cluster), unless the new resource names the old URN in
`aliases`. So the list is checked in (`tests/golden/urns.json`) and a test fails on any change.

Rebuild it after an intended change: `python tests/golden_urns.py` (writes the file; review the diff).
"""

from __future__ import annotations

import json
import runpy
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
GOLDEN = ROOT / "tests" / "golden" / "urns.json"
PROFILES = ("pragmatic", "growth", "full")


def example_plans() -> dict[str, Any]:
    """The examples' plans, run as a user runs them (their own stack config, region and project)."""
    import yaml

    from mlplatform.stacks.plan.offline import run_offline
    from mlplatform.stacks.program import main

    vpc = ROOT / "examples" / "existing-vpc"
    cfg = yaml.safe_load((vpc / "Pulumi.dev.yaml").read_text())["config"]
    project = yaml.safe_load((vpc / "Pulumi.yaml").read_text())["name"]
    custom = ROOT / "examples" / "custom-program"
    custom_project = yaml.safe_load((custom / "Pulumi.yaml").read_text())["name"]
    return {
        "examples/existing-vpc": run_offline(main, region=cfg["aws:region"], stack="dev", project=project,
                                             config=cfg),
        "examples/custom-program": run_offline(lambda: runpy.run_path(str(custom / "__main__.py")),
                                               region="eu-west-1", stack="dev", project=custom_project),
    }


def profile_plan(profile: str) -> Any:
    """A profile's plan as `mlplatform.stacks.program.main` builds it under stack config (stack dev)."""
    from mlplatform.stacks.plan.offline import run_offline
    from mlplatform.stacks.program import main

    return run_offline(main, region="us-east-1", stack="dev", project="mlplatform",
                       config={"mlplatform:profile": profile})


def urns(plan: Any) -> list[str]:
    return sorted(r.urn for r in plan.resources)


def current(plans: dict[str, Any]) -> dict[str, list[str]]:
    return {name: urns(p) for name, p in plans.items()}


def all_plans() -> dict[str, Any]:
    return {**{p: profile_plan(p) for p in PROFILES}, **example_plans()}


if __name__ == "__main__":
    GOLDEN.parent.mkdir(parents=True, exist_ok=True)
    GOLDEN.write_text(json.dumps(current(all_plans()), indent=1) + "\n")
    print(f"wrote {GOLDEN.relative_to(ROOT)}", file=sys.stderr)
