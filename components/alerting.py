"""Where alerts go: Alertmanager receivers and the route tree, as one typed Args (Pulumi-free).

`AlertsArgs` is the `alerts` sub-model of `Monitoring`'s inputs and the stack spec's `monitoring.alerts`
section. Four receiver kinds, each with ONE secret that never enters Helm values or a plan input:

| kind | secret (Pulumi config `mlplatform:alert_<name>`, `--secret`) | Alertmanager field reading it |
|---|---|---|
| slack | the incoming-webhook URL | `slack_configs[].api_url_file` |
| pagerduty | the Events API v2 routing (integration) key | `pagerduty_configs[].routing_key_file` |
| email | the SMTP password (only with `username`) | `email_configs[].auth_password_file` |
| webhook | a bearer token (only with `bearer_token: true`) | `webhook_configs[].http_config.authorization.credentials_file` |

`Monitoring` puts the secrets in one Kubernetes Secret (`RECEIVER_SECRET`), lists it in
`alertmanager.alertmanagerSpec.secrets` (mounted at `/etc/alertmanager/secrets/<secret>/<key>`) and the
configuration below names only those file paths. (Alertmanager reads a webhook URL from `url_file` since
v0.26.0, and the pinned one -- kube-prometheus-stack 88.5.3's v0.34.0, notify/webhook/config.go `URLFile` --
does; the `amtool` the tests check the configuration with is Debian's 0.25, which refuses the key, and
building a newer one needs a Go newer than Debian's 1.19, so the URL stays plain and the token is secret.)

Routes: a test alert (`mlplatform alerts test`) reaches only the receiver it names; each receiver gets the alerts whose `severity` label is in its `severities` (defaults: chat and
webhooks get critical and warning, PagerDuty and e-mail get critical), every matching receiver is
notified (`continue: true`); anything else (Watchdog, `info`, no receiver) goes to the `null` receiver.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

Severity = Literal["critical", "warning", "info"]
SEVERITIES: tuple[str, ...] = ("critical", "warning", "info")
# A Prometheus duration (Alertmanager's model.Duration): 30s, 5m, 4h, 1d ...
DURATION = r"^(\d+y)?(\d+w)?(\d+d)?(\d+h)?(\d+m)?(\d+s)?(\d+ms)?$"
RECEIVER_NAME = r"^[a-z0-9]([-a-z0-9]{0,38}[a-z0-9])?$"
EMAIL = r"^[^@\s,]+@[^@\s,]+\.[^@\s,]+$"
# The Kubernetes Secret holding every receiver's secret, one key per receiver name.
RECEIVER_SECRET = "mlplatform-alert-receivers"
SECRETS_MOUNT = "/etc/alertmanager/secrets"  # where the operator mounts alertmanagerSpec.secrets
NULL_RECEIVER = "null"
# `mlplatform alerts test` sends this alert, labelled with the one receiver it is for.
TEST_ALERTNAME = "MlplatformTestAlert"
TEST_RECEIVER_LABEL = "mlplatform_test_receiver"
CONFIG_KEY_PREFIX = "alert_"  # Pulumi config key of a receiver's secret: mlplatform:alert_<name>


class _Receiver(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(pattern=RECEIVER_NAME, description="receiver name; its secret is mlplatform:alert_<name>")
    send_resolved: bool = True

    def needs_secret(self) -> bool:
        return True

    def secret_path(self) -> str:
        return f"{SECRETS_MOUNT}/{RECEIVER_SECRET}/{self.name}"


class SlackReceiver(_Receiver):
    """Slack (or a Slack-compatible chat) through an incoming webhook; the webhook URL is the secret."""

    kind: Literal["slack"]
    channel: str | None = Field(None, pattern=r"^[#@]?[\w.-]{1,80}$")  # None: the webhook's own channel
    severities: list[Severity] = Field(["critical", "warning"], min_length=1)

    def config(self) -> dict[str, Any]:
        c: dict[str, Any] = {"api_url_file": self.secret_path(), "send_resolved": self.send_resolved}
        if self.channel:
            c["channel"] = self.channel
        return {"slack_configs": [c]}


class PagerDutyReceiver(_Receiver):
    """PagerDuty Events API v2; the integration's routing key is the secret."""

    kind: Literal["pagerduty"]
    severities: list[Severity] = Field(["critical"], min_length=1)

    def config(self) -> dict[str, Any]:
        return {"pagerduty_configs": [{"routing_key_file": self.secret_path(), "send_resolved": self.send_resolved}]}


class EmailReceiver(_Receiver):
    """E-mail through an SMTP relay; with `username`, the SMTP password is the secret."""

    kind: Literal["email"]
    to: list[Annotated[str, Field(pattern=EMAIL)]] = Field(min_length=1)
    sender: str = Field(pattern=EMAIL)  # the From: address
    smarthost: str = Field(pattern=r"^[A-Za-z0-9.-]+:\d{1,5}$")  # host:port of the SMTP relay
    username: str | None = None  # None: the relay takes mail without authentication (no secret)
    require_tls: bool = True
    severities: list[Severity] = Field(["critical"], min_length=1)

    def needs_secret(self) -> bool:
        return self.username is not None

    def config(self) -> dict[str, Any]:
        c: dict[str, Any] = {
            "to": ", ".join(self.to),
            "from": self.sender,
            "smarthost": self.smarthost,
            "require_tls": self.require_tls,
            "send_resolved": self.send_resolved,
        }
        if self.username is not None:
            c["auth_username"] = self.username
            c["auth_password_file"] = self.secret_path()
        return {"email_configs": [c]}


class WebhookReceiver(_Receiver):
    """Any HTTPS endpoint taking Alertmanager's webhook JSON; with `bearer_token`, the token is the secret."""

    kind: Literal["webhook"]
    url: str = Field(pattern=r"^https://[^\s/]+")
    bearer_token: bool = False
    severities: list[Severity] = Field(["critical", "warning"], min_length=1)

    def needs_secret(self) -> bool:
        return self.bearer_token

    def config(self) -> dict[str, Any]:
        c: dict[str, Any] = {"url": self.url, "send_resolved": self.send_resolved}
        if self.bearer_token:
            c["http_config"] = {"authorization": {"type": "Bearer", "credentials_file": self.secret_path()}}
        return {"webhook_configs": [c]}


Receiver = Annotated[SlackReceiver | PagerDutyReceiver | EmailReceiver | WebhookReceiver, Field(discriminator="kind")]


class AlertsArgs(BaseModel):
    """Receivers and routing of the stack's one Alertmanager (`monitoring.alerts`).

    Fields:
        receivers (list, default []): slack / pagerduty / email / webhook receivers (see the module doc);
            [] routes every alert to `null`, which `mlplatform check` reports and `plan` warns about.
        group_by (list[str], default [alertname, namespace]): labels that batch alerts into one notification.
        group_wait (duration, default 30s): wait before the first notification of a new group.
        group_interval (duration, default 5m): wait before notifying about new alerts in a group.
        repeat_interval (duration, default 4h): re-send a still-firing warning this often.
        critical_repeat_interval (duration, default 1h): re-send a still-firing critical alert this often.
    """

    model_config = ConfigDict(extra="forbid")

    receivers: list[Receiver] = []
    group_by: list[str] = Field(["alertname", "namespace"], min_length=1)
    group_wait: str = Field("30s", pattern=DURATION, min_length=2)
    group_interval: str = Field("5m", pattern=DURATION, min_length=2)
    repeat_interval: str = Field("4h", pattern=DURATION, min_length=2)
    critical_repeat_interval: str = Field("1h", pattern=DURATION, min_length=2)

    def secret_names(self) -> list[str]:
        """The receivers whose secret must be given (Pulumi config mlplatform:alert_<name>)."""
        return [r.name for r in self.receivers if r.needs_secret()]

    def duplicate_names(self) -> list[str]:
        names = [r.name for r in self.receivers]
        return sorted({n for n in names if names.count(n) > 1 or n == NULL_RECEIVER})

    def routes_to(self, severity: str) -> list[str]:
        """The receivers an alert of this severity reaches (none: the `null` receiver)."""
        return [r.name for r in self.receivers if severity in r.severities]


def config_key(receiver: str) -> str:
    """The Pulumi config key (in the `mlplatform` namespace) holding a receiver's secret."""
    return f"{CONFIG_KEY_PREFIX}{receiver.replace('-', '_')}"


def alertmanager_config(alerts: AlertsArgs) -> dict[str, Any]:
    """The `alertmanager.config` Helm value: routes and receivers, secrets only as file paths.

    Helm deep-merges it over the chart's default config (its `global`, `inhibit_rules` and `templates`
    stay; `route` is merged key by key, its `routes` list and `receivers` are replaced).
    """
    routes: list[dict[str, Any]] = [
        {"receiver": NULL_RECEIVER, "matchers": ['alertname = "Watchdog"']},
        {"receiver": NULL_RECEIVER, "matchers": ['alertname = "InfoInhibitor"']},
    ]
    # `mlplatform alerts test`: a test alert reaches exactly the receiver it names.
    routes += [
        {"receiver": r.name, "matchers": [f'alertname = "{TEST_ALERTNAME}"', f'{TEST_RECEIVER_LABEL} = "{r.name}"']}
        for r in alerts.receivers
    ]
    for r in alerts.receivers:
        route: dict[str, Any] = {
            "receiver": r.name,
            "matchers": [f'severity =~ "{"|".join(s for s in SEVERITIES if s in r.severities)}"'],
            "continue": True,
        }
        if r.severities == ["critical"]:
            route["repeat_interval"] = alerts.critical_repeat_interval
        routes.append(route)
        if "critical" in r.severities and r.severities != ["critical"]:
            # critical alerts re-notify on the shorter interval on this receiver too
            routes.insert(
                len(routes) - 1,
                {
                    "receiver": r.name,
                    "matchers": ['severity = "critical"'],
                    "repeat_interval": alerts.critical_repeat_interval,
                    "continue": True,
                },
            )
            route["matchers"] = [
                f'severity =~ "{"|".join(s for s in SEVERITIES if s in r.severities and s != "critical")}"'
            ]
    return {
        "route": {
            "receiver": NULL_RECEIVER,
            "group_by": list(alerts.group_by),
            "group_wait": alerts.group_wait,
            "group_interval": alerts.group_interval,
            "repeat_interval": alerts.repeat_interval,
            "routes": routes,
        },
        "receivers": [{"name": NULL_RECEIVER}] + [{"name": r.name, **r.config()} for r in alerts.receivers],
    }


__all__ = [
    "RECEIVER_SECRET",
    "AlertsArgs",
    "EmailReceiver",
    "PagerDutyReceiver",
    "Receiver",
    "SlackReceiver",
    "WebhookReceiver",
    "alertmanager_config",
    "config_key",
]
