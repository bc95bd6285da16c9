"""What the stack leaves out of each controller's own published IAM policy, and why: the one list.

Upstream is the reference (`stacks/data/upstream-iam.json`, derived from the controllers' repositories
by `python -m mlplatform.stacks.facts.upstream_iam`). `tests/test_upstream_iam.py` fails when an
upstream action is neither granted, with upstream's conditions, nor listed here with its reason.
Narrower resources or extra conditions on a granted action need no entry: the test checks that ours
stay inside upstream's.
"""

from __future__ import annotations

_OWN_INSTANCE_PROFILE = (
    "GpuNodePool creates the nodes' instance profile itself and every EC2NodeClass names it "
    "(spec.instanceProfile), so Karpenter never creates, tags, fills or deletes one "
    "(aws/karpenter-provider-aws pkg/controllers/nodeclass/instanceprofile.go creates one only when spec.role is set)"
)

LEFT_OUT: dict[str, dict[str, str]] = {
    "karpenter": {
        "iam:CreateInstanceProfile": _OWN_INSTANCE_PROFILE,
        "iam:TagInstanceProfile": _OWN_INSTANCE_PROFILE,
        "iam:AddRoleToInstanceProfile": _OWN_INSTANCE_PROFILE,
        "iam:RemoveRoleFromInstanceProfile": _OWN_INSTANCE_PROFILE,
        "iam:DeleteInstanceProfile": _OWN_INSTANCE_PROFILE,
    },
    "aws-load-balancer-controller": {},
}

# The interruption queue's policy: upstream lets events.amazonaws.com and sqs.amazonaws.com send with
# no condition; the stack lets only EventBridge send, and only from its own rules (aws:SourceArn).
QUEUE_SENDERS_LEFT_OUT = {"sqs.amazonaws.com": "nothing but the stack's EventBridge rules feeds the queue"}
