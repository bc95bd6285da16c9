"""Derive `stacks/data/upstream-iam.json` from the controllers' own published IAM policies.

    python -m mlplatform.stacks.facts.upstream_iam --shared /work/shared

Reads `shared/upstream-iam/` (copied unchanged from the controllers' repositories; its README names
repository, path and commit of each file) and writes, per controller, every policy statement as
upstream publishes it: effect, actions, resources and conditions, with CloudFormation's `${...}`
placeholders left in (`${ClusterName}`, `${AWS::Region}`, `${KarpenterNodeRole.Arn}`, ...), plus the
interruption events Karpenter's template routes to its queue. `tests/test_upstream_iam.py` checks the
stack's policies against this file and compares the file with `../shared` (or $MLPLATFORM_SHARED).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
from pathlib import Path
from typing import Any

import yaml

DATA_FILE = Path(__file__).resolve().parents[1] / "data" / "upstream-iam.json"  # stacks/data/
REPO = Path(__file__).resolve().parents[2]  # the checkout (in a clone), whose sibling may be shared/
FOLDER = "upstream-iam"
KARPENTER_FILE = "karpenter-v1.14.1-cloudformation.yaml"
LB_CONTROLLER_FILE = "aws-load-balancer-controller-v3.5.0-iam_policy.json"


def shared_dir(given: str | None = None) -> Path | None:
    """The shared/ folder: `given`, else $MLPLATFORM_SHARED, else ../shared beside the repository."""
    for candidate in (given, os.environ.get("MLPLATFORM_SHARED"), REPO.parent / "shared"):
        if candidate and Path(candidate).is_dir():
            return Path(candidate)
    return None


class _CfnLoader(yaml.SafeLoader):
    """YAML with CloudFormation's short tags (!Sub, !Ref, !GetAtt): each becomes its plain value."""


def _cfn_tag(loader: yaml.SafeLoader, suffix: str, node: yaml.Node) -> Any:
    if isinstance(node, yaml.ScalarNode):
        return loader.construct_scalar(node)
    if isinstance(node, yaml.SequenceNode):
        return loader.construct_sequence(node)
    if isinstance(node, yaml.MappingNode):
        return loader.construct_mapping(node)
    raise yaml.constructor.ConstructorError(None, None, f"unexpected node for !{suffix}", node.start_mark)


_CfnLoader.add_multi_constructor("!", _cfn_tag)


def _list(value: Any) -> list[Any]:
    if value is None:
        return []
    return list(value) if isinstance(value, list) else [value]


def _conditions(raw: dict[str, Any] | None) -> dict[str, dict[str, list[str]]]:
    """Conditions with every value as a list of strings (IAM's own reading of a scalar)."""
    out: dict[str, dict[str, list[str]]] = {}
    for op, keys in (raw or {}).items():
        out[op] = {
            k: [str(v).lower() if isinstance(v, bool) else str(v) for v in _list(vals)] for k, vals in keys.items()
        }
    return out


def _statement(policy: str, s: dict[str, Any]) -> dict[str, Any]:
    out = {
        "policy": policy,
        "sid": s.get("Sid"),
        "effect": s["Effect"],
        "actions": _list(s["Action"]),
        "resources": _list(s.get("Resource")),
        "conditions": _conditions(s.get("Condition")),
    }
    if "Principal" in s:
        out["principal"] = s["Principal"]
    return out


def _sources(shared: Path) -> dict[str, dict[str, str]]:
    """file -> {repository, path, commit} from the README's table."""
    out = {}
    for line in (shared / FOLDER / "README.md").read_text().splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) == 3 and cells[0].endswith((".json", ".yaml")):
            m = re.match(r"^([\w.-]+/[\w.-]+), (\S+) @ ([0-9a-f]{40})", cells[2])
            if m:
                out[cells[0]] = {"repository": m[1], "path": m[2], "commit": m[3], "controller": cells[1]}
    return out


def karpenter(shared: Path) -> dict[str, Any]:
    template = yaml.load((shared / FOLDER / KARPENTER_FILE).read_text(), Loader=_CfnLoader)
    statements, events, node_policies = [], [], []
    for logical, res in template["Resources"].items():
        props = res.get("Properties") or {}
        if res["Type"] == "AWS::IAM::ManagedPolicy":
            doc = props["PolicyDocument"]
            doc = json.loads(doc) if isinstance(doc, str) else doc
            statements += [_statement(logical, s) for s in doc["Statement"]]
        elif res["Type"] == "AWS::Events::Rule":
            pattern = props["EventPattern"]
            events.append({"rule": logical, "source": pattern["source"], "detail-type": pattern["detail-type"]})
        elif res["Type"] == "AWS::IAM::Role" and logical == "KarpenterNodeRole":
            node_policies = [a.rsplit("/", 1)[1] for a in props.get("ManagedPolicyArns", [])]
    queue_policy = next(
        r["Properties"]["PolicyDocument"]
        for r in template["Resources"].values()
        if r["Type"] == "AWS::SQS::QueuePolicy"
    )
    return {
        "file": KARPENTER_FILE,
        "statements": statements,
        "queue_policy": [_statement("KarpenterInterruptionQueuePolicy", s) for s in queue_policy["Statement"]],
        "interruption_events": events,
        "node_role_managed_policies": node_policies,
    }


def lb_controller(shared: Path) -> dict[str, Any]:
    doc = json.loads((shared / FOLDER / LB_CONTROLLER_FILE).read_text())
    return {"file": LB_CONTROLLER_FILE, "statements": [_statement("iam_policy.json", s) for s in doc["Statement"]]}


def derive(shared: Path) -> dict[str, Any]:
    sources = _sources(shared)
    out = {"karpenter": karpenter(shared), "aws-load-balancer-controller": lb_controller(shared)}
    for facts in out.values():
        facts["source"] = sources.get(facts["file"], {})
    return {"generated_by": "python -m mlplatform.stacks.facts.upstream_iam --shared <shared>", **out}


def render(facts: dict[str, Any]) -> str:
    return json.dumps(facts, indent=1) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m mlplatform.stacks.facts.upstream_iam", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--shared", help="the shared/ folder (default: $MLPLATFORM_SHARED, else ../shared)")
    parser.add_argument("--out", default=str(DATA_FILE), help=f"file to write (default: {DATA_FILE})")
    args = parser.parse_args(argv)
    shared = shared_dir(args.shared)
    if shared is None or not (shared / FOLDER).is_dir():
        print(f"no {FOLDER}/ under {args.shared or shared or '../shared'}: pass --shared DIR", file=sys.stderr)
        return 2
    out = Path(args.out)
    tmp = out.with_suffix(".tmp")
    tmp.write_text(render(derive(shared)))
    tmp.replace(out)
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
