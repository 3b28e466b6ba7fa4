"""Secret redaction: catches real secret shapes, leaves ordinary code alone."""

from __future__ import annotations

import pytest

from cofounder.redaction import REDACTED, redact, redact_value


def test_known_token_shapes_are_redacted() -> None:
    text = (
        "anthropic sk-ant-api03-abcdefghijklmnop, aws AKIAABCDEFGHIJKLMNOP, "
        "github ghp_" + "a" * 36 + ", header Authorization: Bearer abcdefghijklmnopqrstuv"
    )
    out = redact(text, environ={})
    assert "sk-ant-" not in out and "AKIA" not in out and "ghp_" not in out
    assert out.count(REDACTED) == 4 and "Bearer [REDACTED]" in out


def test_values_of_secret_named_env_vars_are_redacted() -> None:
    env = {"MY_SERVICE_API_KEY": "zx9-very-long-value-42", "HOME": "/home/someone-long-path"}
    out = redact("key=zx9-very-long-value-42 home=/home/someone-long-path", environ=env)
    assert out == f"key={REDACTED} home=/home/someone-long-path"


def test_short_or_spaced_env_values_are_not_treated_as_secrets() -> None:
    env = {"POSTGRES_PASSWORD": "postgres", "SOME_KEY": "import json and more"}
    code = "import json\nDATABASE = 'postgres'\n"
    assert redact(code, environ=env) == code


def test_ordinary_code_with_password_words_is_untouched() -> None:
    code = 'password = "hunter22hunter22"\nAPI_KEY = os.environ["API_KEY"]\n'
    assert redact(code, environ={}) == code


def test_redact_value_walks_nested_json() -> None:
    value = {"a": ["sk-ant-" + "q" * 20, {"b": "fine"}], "n": 3}
    assert redact_value(value) == {"a": [REDACTED, {"b": "fine"}], "n": 3}


# --- the common credential shapes, one row each (all values are fake) ---------------------

R = REDACTED
PEM_RSA = (
    "-----BEGIN RSA PRIVATE KEY-----\n"
    "MIIEowIBAAKCAQEA0Z3VS5JJcds3xfn/ygWyF8PbnGy0AHB7MhgHcTz6sE2I2yPB\n"
    "aFDrBz9vFqU4yE5Pf0mAZEJ5aUQd3qT3TSSb6FWZqMFkC2Ul9mH0xXqM8wIDAQAB\n"
    "-----END RSA PRIVATE KEY-----"
)
PEM_OPENSSH = (
    "-----BEGIN OPENSSH PRIVATE KEY-----\n"
    "b3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQAAAAAAAAABAAAAMwAAAAtzc2gtZW\n"
    "-----END OPENSSH PRIVATE KEY-----\n"
)
JWT = (
    "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIiwibmFtZSI6IkpvaG4gRG9lIiwi"
    "aWF0IjoxNTE2MjM5MDIyfQ.SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c"
)
PNG_DATA_URL = (
    "data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAC"
    "hwGA60e6kgAAAABJRU5ErkJggg0xAIzaSyDaGmWKa4JsXZ0HjGw7ISLn03namBGewQe9eyJhbGciOiJIUzI1NiJ9"
)

REDACTED_ROWS = [
    ("aws access key id", "id=AKIAIOSFODNN7EXAMPLE", f"id={R}"),
    ("aws session key id", "ASIAY34FZKBOKMUTVV7A", R),
    (
        "aws secret in credentials file",
        "aws_secret_access_key = wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
        f"aws_secret_access_key = {R}",
    ),
    (
        "aws secret in env",
        'AWS_SECRET_ACCESS_KEY="wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"',
        f'AWS_SECRET_ACCESS_KEY="{R}"',
    ),
    ("github classic token", "token: ghp_16C7e42F292c6912E7710c838347Ae178B4a", f"token: {R}"),
    (
        "github fine-grained token",
        "github_pat_11ABCDEFG0abcdefghijkl_mnopqrstuvwxyz0123456789ABCDEFGHIJKLMNOPQRSTUV",
        R,
    ),
    ("google api key", "key=AIzaSyDaGmWKa4JsXZ-HjGw7ISLn_3namBGewQe&q=x", f"key={R}&q=x"),
    ("stripe live secret", "STRIPE_KEY=sk_live_4eC39HqLyjWDarjtT1zdp7dc", f"STRIPE_KEY={R}"),
    ("stripe restricted", "rk_live_51H8a2bC3dE4fG5hI6jK7lM8n", R),
    ("stripe test secret", "'sk_test_51H8a2bC3dE4fG5hI6jK7lM8n'", f"'{R}'"),
    ("stripe webhook secret", "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", R),
    ("slack bot token", "xoxb-123456789012-1234567890123-AbCdEfGhIjKlMnOpQrStUvWx", R),
    ("slack user token", "xoxp-123456789012-123456789012-123456789012-abcdef0123456789", R),
    (
        "slack webhook url",
        "POST https://hooks.slack.com/services/T00000000/B00000000/XXXXXXXXXXXXXXXXXXXXXXXX ok",
        f"POST https://hooks.slack.com/services/{R} ok",
    ),
    ("openai project key", "sk-proj-AbCdEf0123456789GhIjKlMnOpQrStUvWx_yz", R),
    (
        "openai legacy key",
        "OPENAI_API_KEY=sk-AbCdEf0123456789GhIjKlMnOpQrStUvWxyz",
        f"OPENAI_API_KEY={R}",
    ),
    ("anthropic key", "x-api-key: sk-ant-api03-AbCdEf0123456789-GhIjKl_MnOp", f"x-api-key: {R}"),
    (
        "npm token",
        "//registry.npmjs.org/:_authToken=npm_AbCdEf0123456789GhIjKlMnOpQrStUvWxYz",
        "//registry.npmjs.org/:_authToken=" + R,
    ),
    ("pem rsa key, whole block", f"key:\n{PEM_RSA}\ndone", f"key:\n{R}\ndone"),
    ("pem openssh key", PEM_OPENSSH, R + "\n"),
    (
        "pem key with escaped newlines (service-account json)",
        '"private_key": "-----BEGIN PRIVATE KEY-----\\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASC\\n'
        '-----END PRIVATE KEY-----\\n",',
        f'"private_key": "{R}\\n",',
    ),
    (
        "pem key cut off by truncated output",
        "-----BEGIN EC PRIVATE KEY-----\nMHcCAQEEIBkg4LVWM9nuwNSk3yByxZpYRTBnVJk5oB/zWUjP1Dy1\n"
        "…(truncated)",
        f"{R}\n…(truncated)",
    ),
    ("jwt", f"token={JWT}; path=/", f"token={R}; path=/"),
    (
        "authorization bearer",
        "Authorization: Bearer ya29.a0AfH6SMBx3kLq9vZr0123456789abcdef",
        f"Authorization: Bearer {R}",
    ),
    (
        "authorization basic",
        "Authorization: Basic YWxhZGRpbjpvcGVuc2VzYW1l",
        f"Authorization: Basic {R}",
    ),
    (
        "postgres url with password",
        "DATABASE_URL=postgres://app:s3cr3t-Pa55@db.internal:5432/app",
        f"DATABASE_URL=postgres://app:{R}@db.internal:5432/app",
    ),
    (
        "redis url with password only",
        "redis://:hunter2hunter2@cache:6379/0",
        f"redis://:{R}@cache:6379/0",
    ),
    ("short url password", "postgres://u:pw@h/db", f"postgres://u:{R}@h/db"),
]

UNTOUCHED_ROWS = [
    ("git sha", "commit 3f786850e387550fdab836ed7e6dc881de23001b (HEAD -> main)"),
    ("uuid", "session 123e4567-e89b-12d3-a456-426614174000 started"),
    ("sha256", "sha256:9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"),
    ("password assignment in code", 'password = "hunter22hunter22"'),
    ("env lookup in code", 'API_KEY = os.environ["STRIPE_SECRET_KEY"]'),
    ("bearer built from a variable", 'headers = {"Authorization": f"Bearer {token}"}'),
    ("url template in code", 'url = f"postgres://{user}:{password}@{host}/db"'),
    ("url with env placeholder", "DATABASE_URL=postgres://app:${PGPASSWORD}@db:5432/app"),
    ("url with angle placeholder", "postgres://user:<password>@localhost/db"),
    ("url with port, no password", "curl http://localhost:8000/api/items?x=1"),
    ("git ssh remote", "git@github.com:acme/app.git"),
    ("word containing sk-", "risk-assessment-report-generator-service"),
    ("word containing sk_live_", "task_live_updates_enabled_for_all_users"),
    ("jwt header alone", '"eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9"'),
    ("aws-looking 40 chars without aws context", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"),
    ("pem public key", "-----BEGIN PUBLIC KEY-----\nMFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE\n"),
    # Base64 image data is left intact: key prefixes inside it sit mid-token, not at a start.
    ("base64 image data url", PNG_DATA_URL),
]


@pytest.mark.parametrize(
    ("text", "expected"), [r[1:] for r in REDACTED_ROWS], ids=[r[0] for r in REDACTED_ROWS]
)
def test_common_credential_shapes_are_redacted(text: str, expected: str) -> None:
    assert redact(text, environ={}) == expected


@pytest.mark.parametrize("text", [r[1] for r in UNTOUCHED_ROWS], ids=[r[0] for r in UNTOUCHED_ROWS])
def test_look_alikes_and_code_are_left_alone(text: str) -> None:
    assert redact(text, environ={}) == text
