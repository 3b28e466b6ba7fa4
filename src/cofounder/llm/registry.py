"""Model spec strings (`provider:rest`) -> Model instances, via a registry of providers.

A session stores the canonical spec, so a resumed session (maybe another process, another
working directory) resolves exactly the same model; canonicalisation is therefore a separate,
pure step from loading.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from cofounder.llm.protocol import Model, ModelError

Canonicaliser = Callable[[str, Path], str]


@dataclass(frozen=True)
class LoadOptions:
    """What a provider may need besides its spec (each ignores what does not apply to it)."""

    request_log: Path | None = None  # scripted: where served turns are logged
    prompt_caching: bool = True  # anthropic: cache_control breakpoints


Loader = Callable[[str, LoadOptions], Model]


@dataclass(frozen=True)
class Provider:
    """How one provider turns the part after `provider:` into a canonical form and a Model."""

    name: str
    example: str
    canonical: Canonicaliser
    load: Loader


def _scripted_canonical(rest: str, base_dir: Path) -> str:
    return str((base_dir.expanduser() / Path(rest).expanduser()).resolve())


def _scripted_load(rest: str, options: LoadOptions) -> Model:
    from cofounder.llm.scripted import ScriptedModel  # and its YAML reader: only when loaded

    return ScriptedModel(Path(rest), request_log=options.request_log)


def _model_name_canonical(rest: str, base_dir: Path) -> str:
    return rest


def _anthropic_load(rest: str, options: LoadOptions) -> Model:
    # Imported here: the SDK takes a second or two to import, and most commands never need it.
    from cofounder.llm.anthropic_model import AnthropicModel

    return AnthropicModel(rest, prompt_caching=options.prompt_caching)


def _openai_load(rest: str, options: LoadOptions) -> Model:
    from cofounder.llm.openai_model import OpenAIModel

    return OpenAIModel(rest)


PROVIDERS: dict[str, Provider] = {
    p.name: p
    for p in (
        Provider("scripted", "scripted:trajectory.yaml", _scripted_canonical, _scripted_load),
        Provider(
            "anthropic",
            "anthropic:claude-sonnet-4-5",
            _model_name_canonical,
            _anthropic_load,
        ),
        Provider("openai", "openai:gpt-4o", _model_name_canonical, _openai_load),
    )
}


def parse_model_spec(spec: str) -> tuple[Provider, str]:
    """Split `provider:rest` and look the provider up; ModelError if malformed or unknown."""
    provider_name, sep, rest = spec.strip().partition(":")
    if not sep or not provider_name or not rest.strip():
        raise ModelError(
            f"malformed model spec {spec!r}: expected PROVIDER:NAME, e.g. {_examples()};"
            f" known providers: {_known()}"
        )
    provider = PROVIDERS.get(provider_name)
    if provider is None:
        raise ModelError(
            f"unknown model provider {provider_name!r} in {spec!r}; known providers: {_known()}"
        )
    return provider, rest.strip()


def canonical_model_spec(spec: str, *, base_dir: Path) -> str:
    """The spec in a form that means the same thing from any working directory.

    `scripted:PATH` gets an absolute PATH (relative paths are taken from `base_dir`).
    """
    provider, rest = parse_model_spec(spec)
    return f"{provider.name}:{provider.canonical(rest, base_dir)}"


def load_model(
    spec: str,
    *,
    base_dir: Path,
    request_log: Path | None = None,
    prompt_caching: bool = True,
) -> Model:
    """Resolve a spec to a ready Model. `request_log` is used by the scripted provider only,
    `prompt_caching` by Anthropic's (some proxies reject cache_control).

    Real providers read their credentials here (ANTHROPIC_API_KEY / ANTHROPIC_BASE_URL,
    OPENAI_API_KEY / OPENAI_BASE_URL), so a missing key is a ModelError before any work starts.
    """
    provider, rest = parse_model_spec(spec)
    options = LoadOptions(request_log=request_log, prompt_caching=prompt_caching)
    return provider.load(provider.canonical(rest, base_dir), options)


def _known() -> str:
    return ", ".join(sorted(PROVIDERS))


def _examples() -> str:
    return ", ".join(repr(p.example) for p in PROVIDERS.values())
