"""Secret redaction: catches real secret shapes, leaves ordinary code alone."""

from __future__ import annotations

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
