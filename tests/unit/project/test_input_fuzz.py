"""Property-based fuzzing of the two input edges a founder controls: project files and settings.

Whatever the input, the loader either returns a spec that can be stored (JSON, UTF-8) or raises
the product's own error naming the field; settings either load or raise ConfigError naming the
environment variable or TOML key. Never another exception, never a hang.
"""

from __future__ import annotations

import json
import math
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cofounder.config import ConfigError, load_settings
from cofounder.project import ProjectError, ProjectSpec, load_project

PROJECT_EXAMPLES = 1000
SETTINGS_EXAMPLES = 400

odd_text = st.text(
    st.characters(codec=None, exclude_categories=()), max_size=30
)  # any code point: NUL, lone surrogates, RTL marks, emoji
numbers = st.one_of(
    st.integers(),
    st.integers(min_value=2**62, max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.just(int("9" * 80)),
)
scalars = st.one_of(st.none(), st.booleans(), numbers, odd_text)
plain = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4), st.dictionaries(odd_text, inner, max_size=4)
    ),
    max_leaves=25,
)
FIELDS = ("name", "idea_brief", "understanding_qna", "goal", "tier", "owner", "model", "network")


@st.composite
def project_data(draw: st.DrawFn) -> dict[str, Any]:
    """A valid project with a few fields replaced by anything (wrong types, odd values)."""
    data: dict[str, Any] = {
        "name": "Fuzz",
        "goal": "Survive.",
        "idea_brief": {"problem": draw(plain)},
        "understanding_qna": [{"question": "Q?", "answer": draw(odd_text)}],
    }
    for field in draw(st.lists(st.sampled_from(FIELDS), max_size=3)):
        data[field] = draw(plain)
    return data


def nested_text(depth: int, alias_fanout: int) -> str:
    """Raw YAML the data strategies cannot express: deep nesting and alias fan-out."""
    lines = ["name: X", "goal: Y", "idea_brief:", "  deep: " + "[" * depth + "]" * depth]
    lines.append('  a0: &a0 ["x", "y"]')
    for level in range(1, 6):
        lines.append(
            f"  a{level}: &a{level} [" + ", ".join([f"*a{level - 1}"] * alias_fanout) + "]"
        )
    return "\n".join(lines) + "\n"


project_texts = st.one_of(
    project_data().map(lambda d: ("json", json.dumps(d))),  # JSON is YAML too: both loaders
    project_data().map(lambda d: ("yaml", json.dumps(d))),
    st.builds(nested_text, st.integers(0, 400), st.integers(1, 40)).map(lambda t: ("yaml", t)),
    st.text(max_size=200).map(lambda t: ("yaml", t)),
    st.text(max_size=200).map(lambda t: ("yaml", "name: X\ngoal: Y\nidea_brief:\n  k: " + t)),
)


@contextmanager
def scratch() -> Iterator[Path]:
    with tempfile.TemporaryDirectory() as name:
        yield Path(name)


@settings(
    max_examples=PROJECT_EXAMPLES,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(project_texts)
def test_project_files_load_or_are_refused_by_field(case: tuple[str, str]) -> None:
    kind, text = case
    with scratch() as folder:
        path = folder / ("p.json" if kind == "json" else "cofounder.yaml")
        path.write_bytes(text.encode("utf-8", "surrogatepass"))
        try:
            spec = load_project(path)
        except ProjectError as exc:
            assert exc.problems
            for problem in exc.problems:
                assert isinstance(problem.field, str) and problem.problem
            str(exc).encode("utf-8")  # printable as is: untrusted text was quoted
            return
    stored = spec.model_dump_json()  # what a session stores: valid, storable JSON
    stored.encode("utf-8")
    assert "\\u0000" not in stored
    assert ProjectSpec.model_validate_json(stored) == spec


NUMERIC_SETTINGS = (
    "max_tool_calls",
    "max_wall_seconds",
    "max_tokens",
    "budget_window_seconds",
    "budget_reset_hour",
    "escalation_deadline_seconds",
    "compaction_threshold",
    "e2b_max_ttl_seconds",
    "tool_output_limit_chars",
)
setting_values = st.one_of(
    st.integers(min_value=-(2**80), max_value=2**80),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=12),
)


def toml_value(value: object) -> str:
    if isinstance(value, float):
        return {"inf": "inf", "-inf": "-inf", "nan": "nan"}.get(str(value), repr(value))
    return json.dumps(value)  # ints and basic strings look the same in TOML


@settings(
    max_examples=SETTINGS_EXAMPLES,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(
    st.sampled_from(NUMERIC_SETTINGS),
    setting_values,
    st.booleans(),
)
def test_settings_load_or_are_refused_by_source(name: str, value: object, in_env: bool) -> None:
    env_name = f"COFOUNDER_{name.upper()}"
    saved = {k: v for k, v in os.environ.items() if k.startswith("COFOUNDER_")}
    home = os.getcwd()
    with scratch() as folder:
        try:
            for key in saved:
                del os.environ[key]
            os.chdir(folder)
            if in_env:
                text = str(value)
                if "\x00" in text or any(0xD800 <= ord(c) <= 0xDFFF for c in text):
                    return  # not something an environment can hold
                os.environ[env_name] = text
            else:
                (folder / "cofounder.toml").write_text(
                    f"{name} = {toml_value(value)}\n", encoding="utf-8", errors="surrogatepass"
                )
            try:
                loaded = load_settings(folder / "data")
            except ConfigError as exc:
                named = f"{env_name}: " if in_env else f"cofounder.toml: {name}: "
                assert exc.problems
                for problem in exc.problems:
                    assert problem.startswith(named) or problem.startswith(
                        "cofounder.toml: invalid TOML: "
                    ), problem
                return
            accepted = getattr(loaded, name)
            assert math.isfinite(accepted) and abs(accepted) < 2**63  # never overflows later
        finally:
            os.environ.pop(env_name, None)
            os.environ.update(saved)
            os.chdir(home)
