"""Provider metadata, read by Airflow through the ``apache_airflow_provider`` entry point."""

from __future__ import annotations

from typing import Any

from httsleep_airflow import __version__

#: The connection form's labels and placeholders of the standard fields.
UI_FIELD_BEHAVIOUR: dict[str, Any] = {
    "hidden-fields": [],
    "relabeling": {"host": "Base URL or host", "password": "Password or bearer token"},
    "placeholders": {
        "host": "https://api.example.com/v1",
        "schema": "https (when Host is a bare host name)",
        "login": "user (HTTP Basic or Digest)",
        "password": "password, or the token when Auth type is bearer",
        "extra": '{"headers": {"X-Api-Key": "..."}, "timeout": [3.05, 30]}',
    },
}

#: The connection form's own fields, stored in the connection's extra under these keys. Their
#: schemas are JSON Schema, which the web UI renders (Airflow 3.2 and later read them here;
#: Airflow 3.1 reads ``HttSleepHook.get_connection_form_widgets``, built from the same table,
#: where every field is a line of text). An empty field means the default: no ``null`` option.
CONN_FIELDS: dict[str, Any] = {
    "auth_type": {
        "label": "Auth type",
        "description": "How Login and Password are sent. Empty: basic. bearer: the Password "
        "field holds the token (sent as 'Authorization: Bearer <token>').",
        "schema": {
            "type": ["string", "null"],
            "enum": ["basic", "digest", "bearer"],
            "values_display": {
                "basic": "basic (the default)",
                "digest": "digest",
                "bearer": "bearer (the password is the token)",
            },
        },
    },
    "verify": {
        "label": "TLS verification",
        "description": "Empty or true: the server's certificate is checked against the system's "
        "CAs, or against the CA bundle below when one is given. false: no check at all "
        "(insecure; leave the CA bundle empty).",
        "schema": {
            "type": ["string", "null"],
            "enum": ["true", "false"],
            "values_display": {
                "true": "true: verify (the default)",
                "false": "false: do not verify",
            },
        },
    },
    "ca_bundle": {
        "label": "CA bundle path",
        "description": "A PEM file of the CAs to trust instead of the system's, e.g. "
        '/etc/ssl/certs/internal-ca.pem (the same as "verify": "<path>" in Extra).',
        "schema": {"type": ["string", "null"]},
    },
    "timeout": {
        "label": "Timeout (s)",
        "description": "Per request: seconds (30 when empty), or [connect, read] seconds "
        "such as [3.05, 30].",
        "schema": {
            "type": ["number", "array", "null"],
            "items": {"type": "number"},
            "minItems": 2,
            "maxItems": 2,
        },
    },
    "headers": {
        "label": "HTTP headers",
        "description": 'Sent with every request, a JSON object: {"X-Api-Key": "..."}. '
        "Values of secret-looking names (Authorization, *token*, *key*...) are masked in logs.",
        "schema": {"type": ["object", "null"]},
    },
    "cert": {
        "label": "Client certificate",
        "description": "For mutual TLS: the path of a PEM holding certificate and key, or "
        'a JSON pair of paths ["client.crt", "client.key"].',
        "schema": {"type": ["string", "null"]},
    },
    "proxies": {
        "label": "Proxies",
        "description": 'Proxy URL per scheme, a JSON object: {"https": "http://proxy:3128"}.',
        "schema": {"type": ["object", "null"]},
    },
    "test_endpoint": {
        "label": "Test endpoint",
        "description": "What the Test button GETs, e.g. /health; it must answer 2xx. Empty: "
        "the base URL, which may answer anything but 401/403, 407 or 5xx.",
        "schema": {"type": ["string", "null"]},
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
