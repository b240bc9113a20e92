"""Provider metadata, read by Airflow through the ``apache_airflow_provider`` entry point."""

from __future__ import annotations

from typing import Any

from httsleep_airflow import __version__

#: The connection form's labels and placeholders (Airflow 3.1 reads them from the hook).
UI_FIELD_BEHAVIOUR: dict[str, Any] = {
    "hidden-fields": [],
    "relabeling": {"host": "Base URL or host", "password": "Password or bearer token"},
    "placeholders": {
        "host": "https://api.example.com/v1",
        "schema": "https (when Host is a bare host name)",
        "login": "user (HTTP Basic or Digest)",
        "password": "password, or the token when auth_type is bearer",
        "extra": '{"headers": {"X-Api-Key": "..."}, "verify": true, "timeout": 30}',
    },
}

#: The connection form's own fields, stored in the connection's extra.
CONN_FIELDS: dict[str, Any] = {
    "auth_type": {
        "label": "Auth type",
        "description": "basic (default), digest, or bearer (the password is the token)",
        "schema": {"type": ["string", "null"], "enum": ["basic", "digest", "bearer", None]},
    },
    "timeout": {
        "label": "Request timeout (s)",
        "description": "Per-request timeout of hook calls; 30 when empty",
        "schema": {"type": ["number", "null"]},
    },
    "verify": {
        "label": "Verify TLS",
        "description": "Off to skip TLS verification; a CA bundle path goes in Extra",
        "schema": {"type": ["boolean", "null"]},
    },
}


def get_provider_info() -> dict[str, Any]:
    return {
        "package-name": "httsleep-airflow",
        "name": "HttSleep",
        "description": "Wait on HTTP job APIs with declarative until/alarm conditions.",
        "versions": [__version__],
        "integrations": [{"integration-name": "HttSleep", "tags": ["protocol"]}],
        "hooks": [
            {"integration-name": "HttSleep", "python-modules": ["httsleep_airflow.hooks.httsleep"]}
        ],
        "sensors": [
            {
                "integration-name": "HttSleep",
                "python-modules": ["httsleep_airflow.sensors.httsleep"],
            }
        ],
        "triggers": [
            {
                "integration-name": "HttSleep",
                "python-modules": ["httsleep_airflow.triggers.httsleep"],
            }
        ],
        "connection-types": [
            {
                "hook-class-name": "httsleep_airflow.hooks.httsleep.HttSleepHook",
                "hook-name": "HttSleep",
                "connection-type": "httsleep",
                "ui-field-behaviour": UI_FIELD_BEHAVIOUR,
                "conn-fields": CONN_FIELDS,
            }
        ],
    }
