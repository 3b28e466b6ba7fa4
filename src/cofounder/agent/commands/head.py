"""What a tool call *is*, stripped of what varies: its stable head, its identity, its label.

Healing groups failures by the command that met them. `pytest tests/a.py -k x` and
`.venv/bin/pytest -q` are the same verification step (`pytest`); `npm run build` differs from
`npm test`. Pure string work: no I/O, no clock.
"""

from __future__ import annotations

import re
import shlex
from typing import Any

from cofounder.agent.commands.read_only import is_read_only_shell
from cofounder.agent.commands.spelling import canonical_command

# Segments that only set the scene for the real command (`cd app && npm test`).
_TRIVIAL = frozenset(
    {"cd", "pushd", "popd", "export", "source", ".", "set", "true", ":", "echo", "printf",
     "sleep", "mkdir", "clear", "unset"}
)  # fmt: skip
# Words that run the next word: the head is what they run.
_WRAPPERS = frozenset({"sudo", "env", "time", "nohup", "exec", "command", "stdbuf", "nice"})
# Programs whose first word is a subcommand worth keeping (`npm run build`, `git push`).
_SUBCOMMANDS = frozenset(
    {"npm", "pnpm", "yarn", "bun", "pip", "pip3", "uv", "poetry", "pipenv", "pdm", "hatch",
     "git", "docker", "cargo", "go", "make", "apt", "apt-get", "alembic", "rails", "bundle",
     "composer", "gradle", "mvn", "dotnet", "flask", "django-admin", "kubectl", "deno",
     "prisma", "next", "vite", "supabase", "firebase", "heroku", "fly", "vercel"}
)  # fmt: skip
# After these subcommands the next word names the script (`npm run build`, `uv run pytest`).
_RUN_WORDS = frozenset({"run", "run-script", "exec", "dlx", "x"})
# Runners that launch another program: the head is that program's head.
_LAUNCHERS = frozenset({"npx", "bunx", "pnpx"})
# Programs that take a script path first: `node server.js`, `python app.py`.
_INTERPRETERS = frozenset({"python", "node", "ruby", "bash", "sh", "tsx", "ts-node", "php"})
# Programs whose arguments are targets, not subcommands.
_FLAT = frozenset(
    {"pytest", "jest", "vitest", "mocha", "tsc", "eslint", "prettier", "ruff", "mypy", "black",
     "flake8", "ls", "cat", "grep", "egrep", "rg", "find", "sed", "awk", "chmod", "cp", "mv",
     "rm", "touch", "tar", "unzip", "head", "tail", "wc", "diff", "test", "[", "which"}
)  # fmt: skip
# Read-only commands: exit 1 answers a question ("no match", "differs"); it is not a failure.
PROBES = frozenset({"grep", "egrep", "fgrep", "rg", "test", "[", "diff", "cmp", "which", "pgrep"})
# Verification commands whose output talks about the agent's own app, not outside services.
TEST_RUNNERS = frozenset(
    {"pytest", "jest", "vitest", "mocha", "python -m pytest", "python -m unittest", "npm test",
     "npm run test", "yarn test", "pnpm test", "bun test", "go test", "cargo test"}
)  # fmt: skip
# Tools whose success never means the build moved on.
NOTE_TOOLS = frozenset({"narrate", "document"})
# Tools that only look: a success is exploration, not a change to the workspace.
READ_TOOLS = frozenset({"read_file", "grep", "glob"})

_SPLIT_SEGMENTS = re.compile(r"\s*(?:&&|\|\||;|\n)\s*")
_PIPE = re.compile(r"(?<!\|)\|(?!\|)")
_ASSIGNMENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*=")
_PLAIN_WORD = re.compile(r"^[a-z][a-z0-9:_-]{0,23}$")
_VERSIONED = re.compile(r"^(python|pip|node)[0-9.]*$")
_URL = re.compile(r"^(?:[a-z]+://)?(?:localhost|127\.0\.0\.1|0\.0\.0\.0|\[::1?\]|[\w.-]+\.\w+)")
_LOCAL = re.compile(r"\b(?:localhost|127\.0\.0\.1|0\.0\.0\.0)\b|\[::1?\]", re.IGNORECASE)


def _words(segment: str) -> list[str]:
    try:
        return shlex.split(segment, comments=True)
    except ValueError:  # an unbalanced quote: fall back to whitespace
        return segment.split()


def _program(word: str) -> str:
    name = word.rsplit("/", 1)[-1]
    match = _VERSIONED.match(name)
    return match.group(1) if match else name


def _url_path(words: list[str]) -> str:
    for word in words:
        if not word.startswith("-") and _URL.match(word):
            rest = _URL.sub("", word, count=1)
            rest = re.sub(r"^:\d+", "", rest).split("?", 1)[0]
            return rest or "/"
    return ""


def _head_of_words(words: list[str]) -> str:
    while words and (_ASSIGNMENT.match(words[0]) or _program(words[0]) in _WRAPPERS):
        words = words[1:]
    if words and _program(words[0]) == "timeout":
        words = [w for w in words[1:] if not w.startswith("-")][1:]
    if not words:
        return ""
    program, args = _program(words[0]), words[1:]
    plain = [a for a in args if not a.startswith("-")]
    if program in _LAUNCHERS:
        return _head_of_words(plain) or program
    if program in ("curl", "wget"):
        path = _url_path(args)
        return f"{program} {path}" if path else program
    if program == "python" and args:
        if args[0] == "-m" and len(args) > 1:
            return f"python -m {args[1]}"
        if args[0] == "-c":
            return "python -c"
    if program in _INTERPRETERS:
        return f"{program} {plain[0]}" if plain else program
    if program in _SUBCOMMANDS and plain:
        sub = plain[0]
        if sub in _RUN_WORDS and len(plain) > 1:
            if program in ("uv", "poetry", "pipenv", "pdm", "hatch"):
                return _head_of_words(plain[1:])
            return f"{program} {sub} {plain[1]}"
        return f"{program} {sub}" if _PLAIN_WORD.match(sub) else program
    if program not in _FLAT and args and _PLAIN_WORD.match(args[0]):
        return f"{program} {args[0]}"
    return program


def segment_heads(command: str) -> list[str]:
    """The head of each meaningful segment of a shell line, in order (scene-setters dropped)."""
    heads: list[str] = []
    first = ""
    for segment in _SPLIT_SEGMENTS.split(command.strip()):
        if not segment:
            continue
        head = _head_of_words(_words(_PIPE.split(segment)[0]))
        first = first or head
        if head and head.split()[0] not in _TRIVIAL:
            heads.append(head)
    return heads or ([first] if first else [])


def _last_program(command: str) -> str:
    """The program whose exit status the line returns: the last one of the last pipeline."""
    segments = [s for s in _SPLIT_SEGMENTS.split(command.strip()) if s]
    if not segments:
        return ""
    words = _words(_PIPE.split(segments[-1])[-1])
    while words and (_ASSIGNMENT.match(words[0]) or _program(words[0]) in _WRAPPERS):
        words = words[1:]
    return _program(words[0]) if words else ""


def _bash_command(tool_input: dict[str, Any]) -> str:
    """The command in its canonical spelling: `python3 ./x.py` and `cd . && python x.py` are
    one step to healing, so they must have one head."""
    command = tool_input.get("command")
    return canonical_command(command) if isinstance(command, str) else ""


def _target(tool_input: dict[str, Any]) -> str:
    for key in ("path", "pattern", "section"):
        value = tool_input.get(key)
        if isinstance(value, str) and value:
            return value[:80]
    return ""


def command_head(tool_name: str, tool_input: dict[str, Any]) -> str:
    """`bash:npm run build`, `bash:pip install && pytest`, `edit_file:src/app.py`."""
    if tool_name == "bash":
        return "bash:" + " && ".join(segment_heads(_bash_command(tool_input))[-3:])
    target = _target(tool_input)
    return f"{tool_name}:{target}" if target else tool_name


def reset_key(tool_name: str, tool_input: dict[str, Any]) -> str:
    """The part whose later success proves the failure fixed: the line's last real command."""
    if tool_name == "bash":
        heads = segment_heads(_bash_command(tool_input))
        return "bash:" + (heads[-1] if heads else "")
    return command_head(tool_name, tool_input)


def success_keys(tool_name: str, tool_input: dict[str, Any]) -> frozenset[str]:
    """Every reset key a successful call vouches for: all segments of an `&&` chain passed."""
    if tool_name == "bash":
        return frozenset("bash:" + h for h in segment_heads(_bash_command(tool_input)))
    return frozenset({command_head(tool_name, tool_input)})


def is_probe(tool_name: str, tool_input: dict[str, Any], exit_code: int | None) -> bool:
    """`grep -q x f` exiting 1 means "no", which is an answer rather than a failure."""
    if tool_name != "bash" or exit_code != 1:
        return False
    return _last_program(_bash_command(tool_input)) in PROBES


def is_local_check(tool_name: str, tool_input: dict[str, Any]) -> bool:
    """Tests and requests to the app's own server: their 401s and 500s are the app's, not ours."""
    if tool_name != "bash":
        return False
    command = _bash_command(tool_input)
    return bool(_LOCAL.search(command)) or any(h in TEST_RUNNERS for h in segment_heads(command))


def describe(tool_name: str, tool_input: dict[str, Any]) -> str:
    """A short label for a person or the model: "`npm run build`", "edit_file src/app.py"."""
    if tool_name == "bash":
        heads = segment_heads(_bash_command(tool_input))
        return "`" + (" && ".join(heads[-3:]) or "bash") + "`"
    target = _target(tool_input)
    return f"{tool_name} {target}" if target else tool_name


def is_read_only(tool_name: str, tool_input: dict[str, Any]) -> bool:
    """Calls that only look around; their success is exploration, not a change. A bash line
    is parsed, so `ls $(rm -rf build)` and `grep -l x | xargs rm` are changes."""
    if tool_name in READ_TOOLS or tool_name in NOTE_TOOLS:
        return True
    if tool_name != "bash":
        return False
    command = tool_input.get("command")
    return isinstance(command, str) and is_read_only_shell(command)
