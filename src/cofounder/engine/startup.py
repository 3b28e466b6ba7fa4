"""What a new session is checked for before anything is written: every model it will call
(the coder and the summarizer), their prices, the owner's allowance and the sandbox backend.

The CLI runs these checks before it opens the data dir, so refused input leaves nothing on
disk; `Engine.create_session` runs them again (the API and tests call it directly).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from cofounder.config import Settings
from cofounder.engine.errors import BadInputError
from cofounder.llm import ModelError, canonical_model_spec, load_model
from cofounder.llm.pricing import PriceBook
from cofounder.llm.tiers import ModelChoice, TierModels, choose_model
from cofounder.project import ProjectSpec
from cofounder.sandbox import SandboxError
from cofounder.sandbox.backends import E2BSandboxConfig


@dataclass(frozen=True)
class StartPlan:
    """The canonical model specs a new session will use."""

    model_spec: str
    summarizer_spec: str


def summarizer_for(tiers: TierModels, tier: str, owner: str, model_spec: str) -> str:
    """The tier's summarizer when the session runs on its tier's coder; otherwise the model the
    founder chose explicitly (a local or scripted model summarizes its own work)."""
    try:
        coder = choose_model(tier=tier, owner=owner, tiers=tiers)
        summarizer = choose_model(tier=tier, owner=owner, role="summarizer", tiers=tiers)
    except ValueError:
        return model_spec
    return summarizer.spec if coder.spec == model_spec else model_spec


def check_start(
    settings: Settings,
    spec: ProjectSpec,
    project_file: Path,
    *,
    model_override: str | None = None,
    prices: PriceBook | None = None,
) -> StartPlan:
    """Raise BadInputError naming the first thing that would stop this session; else its plan.

    Loading a model reads its credentials, so a missing API key is found here, not at the
    first summary an hour into the build.
    """
    prices = prices or settings.price_book()
    tiers = settings.tier_models()
    # --model > project `model:` > [owners.OWNER] > [tiers.TIER] > bundled tier default.
    try:
        choice = choose_model(
            tier=spec.tier,
            owner=spec.owner,
            override=model_override,
            project_model=spec.model,
            tiers=tiers,
        )
    except ValueError as exc:
        raise BadInputError(str(exc)) from exc
    # `model:` is relative to the project file; --model and cofounder.toml to the cwd.
    base_dir = project_file.resolve().parent if choice.source == "project" else Path.cwd()
    model_spec = _usable(choice.spec, choice, base_dir, prices, settings)
    summarizer = summarizer_for(tiers, spec.tier, spec.owner, model_spec)
    if summarizer != model_spec:
        role = choose_model(tier=spec.tier, owner=spec.owner, role="summarizer", tiers=tiers)
        summarizer = _usable(summarizer, role, Path.cwd(), prices, settings)
    if settings.allowance_microdollars(spec.owner, spec.tier) <= 0:
        raise BadInputError(
            f"owner {spec.owner!r} (tier {spec.tier}) has no budget: the allowance per window"
            " is $0. Set one in cofounder.toml, e.g. [owner_allowances] "
            f"{spec.owner} = 5 or [allowances] {spec.tier} = 5 (USD per window)."
        )
    check_sandbox_backend(settings)
    return StartPlan(model_spec=model_spec, summarizer_spec=summarizer)


def check_sandbox_backend(settings: Settings) -> None:
    """The configured backend can be opened here (for E2B: the SDK and a key)."""
    if settings.sandbox != "e2b":
        return
    try:
        E2BSandboxConfig().check()
    except SandboxError as exc:
        raise BadInputError(f"COFOUNDER_SANDBOX=e2b: {exc}") from exc


def _usable(
    spec: str, choice: ModelChoice, base_dir: Path, prices: PriceBook, settings: Settings
) -> str:
    """The canonical spec, once the model loads (credentials) and has a price."""
    try:
        canonical = canonical_model_spec(spec, base_dir=base_dir)
        load_model(canonical, base_dir=base_dir, prompt_caching=settings.prompt_caching)
        prices.price_for(canonical)  # an unpriced model would be spend-blind
    except ModelError as exc:
        role = "" if choice.role == "coder" else f"{choice.role} "
        where = "" if choice.source == "cli" else f" ({role}model {spec}, {choice.describe()})"
        raise BadInputError(f"{exc}{where}") from exc
    return canonical
