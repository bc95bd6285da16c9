"""What a stack needs in its config before the engine may deploy it: the CI runners' GitHub App.

Runners register with GitHub through a GitHub App whose credentials live in the stack's Pulumi
config as secrets (`pulumi config set --secret mlplatform:github_app_id ...`). The offline `plan`
works without them (it warns once and shows the secret as unset); `preview` and `up` call
`check_deployable` first and refuse with one line naming what is missing and how to set it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from mlplatform.components.alerting import config_key
from mlplatform.components.ci_runners import CONFIG_NAMESPACE

from ..config.spec import SpecError, StackSpec
from ..program import GITHUB_APP_CONFIG_KEYS, github_app_fix

# Must be stored encrypted (`secure:`): the App's private key mints tokens for the whole installation.
MUST_BE_ENCRYPTED = (f"{CONFIG_NAMESPACE}:github_app_private_key",)


def _is_set(value: Any) -> bool:
    if isinstance(value, Mapping):  # `{secure: <ciphertext>}` as Pulumi stores a secret
        return bool(value.get("secure"))
    return value is not None and str(value).strip() != ""


def missing_secrets(spec: StackSpec, config: Mapping[str, Any]) -> list[str]:
    """The GitHub App config keys a stack with runners needs but lacks ([] when runners are off).

    `config` is the stack file's `config:` map (Pulumi.<stack>.yaml), where a secret appears as
    `{"secure": "<ciphertext>"}`.
    """
    if not spec.runners.enabled:
        return []
    return [key for key in GITHUB_APP_CONFIG_KEYS if not _is_set(config.get(key))]


def stored_in_clear(spec: StackSpec, config: Mapping[str, Any]) -> list[str]:
    """Keys that must be secrets but sit in the stack file in clear text."""
    if not spec.runners.enabled:
        return []
    return [key for key in MUST_BE_ENCRYPTED if _is_set(config.get(key)) and not isinstance(config.get(key), Mapping)]


def require_runner_settings(spec: StackSpec, github_app_set: bool) -> None:
    """Refuse (SpecError) a stack with runners on whose App credentials or GitHub URL are unset."""
    if not spec.runners.enabled:
        return
    if not github_app_set:
        raise SpecError(
            ", ".join(GITHUB_APP_CONFIG_KEYS),
            "not set while runners are enabled (the runners could not register with GitHub)",
            github_app_fix(),
        )
    if not spec.runners.github_config_url:
        raise SpecError(
            "runners.github_config_url",
            "not set while runners are enabled",
            "set it to https://github.com/<org> (or .../<org>/<repo>) in the stack config "
            "(`mlplatform init --github-org`), or set runners.enabled: false",
        )


def check_deployable(spec: StackSpec, config: Mapping[str, Any]) -> None:
    """What `preview`/`up` call before the engine runs: one SpecError naming the first problem.

    Missing GitHub App secret config, its private key in clear text, or no runners.github_config_url,
    while runners are enabled; an alert receiver's secret missing or in clear text.
    """
    missing = missing_secrets(spec, config)
    if missing:
        raise SpecError(
            ", ".join(missing),
            "not set while runners are enabled (the runners could not register with GitHub)",
            github_app_fix(),
        )
    clear = stored_in_clear(spec, config)
    if clear:
        raise SpecError(
            ", ".join(clear),
            "is stored in clear text in the stack file",
            f"remove it and set it again with `pulumi config set --secret {clear[0]} ...`",
        )
    require_runner_settings(spec, github_app_set=True)
    alert_keys = alert_secret_keys(spec)
    unset = [k for k in alert_keys if not _is_set(config.get(k))]
    if unset:
        raise SpecError(", ".join(unset), "not set: an alert receiver needs its secret", alert_secret_fix(unset[0]))
    clear = [k for k in alert_keys if not isinstance(config.get(k), Mapping)]
    if clear:
        raise SpecError(
            ", ".join(clear),
            "is stored in clear text in the stack file",
            f"remove it and set it again with `pulumi config set --secret {clear[0]} ...`",
        )


def alert_secret_keys(spec: StackSpec) -> list[str]:
    """The Pulumi config keys of the alert receivers' secrets (webhook URL, routing key, password, token)."""
    return [f"{CONFIG_NAMESPACE}:{config_key(n)}" for n in spec.monitoring.alerts.secret_names()]


def alert_secret_fix(key: str) -> str:
    return (
        f"run `pulumi config set --secret {key} <webhook URL | routing key | SMTP password | token>` in the "
        "project folder, or remove that receiver from monitoring.alerts.receivers"
    )
