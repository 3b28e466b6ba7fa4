"""The system prompt tells the agent which folders snapshots leave out and that they must be
rebuilt after a restore; the sentence follows the setting and stays deterministic."""

from __future__ import annotations

from cofounder.agent.prompt import build_system_prompt
from cofounder.project import ProjectSpec
from cofounder.storage import DEFAULT_EXCLUDES


def _spec() -> ProjectSpec:
    return ProjectSpec(name="Notes", idea_brief={"problem": "x"}, goal="A notes app.")


def test_default_prompt_names_every_default_exclude_and_how_to_rebuild() -> None:
    prompt = build_system_prompt(_spec(), not_saved=DEFAULT_EXCLUDES)
    for name in DEFAULT_EXCLUDES:
        assert f"`{name}`" in prompt
    assert "not saved with your work" in prompt
    assert "`npm install`" in prompt and "pip install" in prompt
    assert prompt.index("not saved") < prompt.index("# The project")  # a working rule


def test_prompt_follows_the_setting_and_is_order_independent() -> None:
    a = build_system_prompt(_spec(), not_saved=["target", "node_modules"])
    b = build_system_prompt(_spec(), not_saved=("node_modules", "target"))
    assert a == b
    assert "`node_modules`, `target`." in a and "`.venv`" not in a


def test_nothing_excluded_means_no_sentence() -> None:
    assert "not saved with your work" not in build_system_prompt(_spec(), not_saved=[])
