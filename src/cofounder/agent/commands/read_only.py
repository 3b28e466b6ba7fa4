"""Does a bash line only look around? Every command in it, however nested, must be a probe.

Healing treats a read-only success as exploration rather than a change, so calling
`ls $(rm -rf build)` or `grep -l x | xargs rm` read-only hid real changes. The line is parsed
(see `shell_parse`); commands inside substitutions, pipelines, `xargs`, `find -exec` and
`sh -c` payloads are all checked, and so is every redirection that writes a file. Unknown
programs, computed command names and syntax errors answer "not read-only".
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence

from cofounder.agent.commands.shell_parse import parse_shell

Words = Sequence[str | None]

# Programs that only read or print, whatever their arguments (bar `_WRITING_OPTIONS`).
PROBE_PROGRAMS = frozenset(
    {"ls", "cat", "head", "tail", "grep", "egrep", "fgrep", "rg", "ag", "pwd", "echo", "printf",
     "wc", "which", "whereis", "tree", "stat", "file", "printenv", "du", "df", "ps", "whoami",
     "id", "type", "test", "[", "true", "false", ":", "cd", "pushd", "popd", "sleep", "clear",
     "date", "uname", "hostname", "basename", "dirname", "realpath", "readlink", "sort", "uniq",
     "cut", "tr", "nl", "column", "jq", "diff", "cmp", "comm", "md5sum", "sha1sum", "sha256sum",
     "cksum", "od", "hexdump", "strings", "pgrep", "lsof", "ss", "netstat", "free", "uptime",
     "nproc", "set", "shopt", "unset", "wait", "history", "tac", "rev", "fold", "expr", "seq"}
)  # fmt: skip
# Options that make an otherwise read-only program write a file or run another program.
_WRITING_OPTIONS: dict[str, tuple[str, ...]] = {
    "sort": ("-o", "--output"),
    "tree": ("-o",),
    "rg": ("--pre",),
    "file": ("-C", "--compile"),
}
# Programs whose second operand is an output file (`uniq in out`).
_MAX_OPERANDS = {"uniq": 1}
# `program subcommand` pairs that only report.
_REPORTING_SUBCOMMANDS: dict[str, frozenset[str]] = {
    "pip": frozenset({"list", "show", "freeze", "check"}),
    "npm": frozenset({"ls", "list", "view", "outdated", "root", "bin"}),
    "docker": frozenset({"ps", "images", "logs", "inspect"}),
}
_GIT_REPORTING = frozenset(
    {"status", "diff", "log", "show", "rev-parse", "ls-files", "ls-tree", "blame", "grep",
     "describe", "shortlog", "cat-file", "whatchanged"}
)  # fmt: skip
# `git branch`/`git tag`/`git remote` only list when every argument is one of these.
_GIT_LISTING = {
    "branch": frozenset(
        {"-a", "-r", "-v", "-vv", "--all", "--remotes", "--list", "--show-current"}
    ),
    "tag": frozenset({"-l", "--list"}),
    "remote": frozenset({"-v", "--verbose"}),
    "stash": frozenset({"list"}),
}
_GIT_WRITING_OPTIONS = ("--output", "-O", "--open-files-in-pager")
_GIT_OPTIONS_WITH_VALUE = frozenset({"-C", "-c", "--git-dir", "--work-tree", "--namespace"})
_SHELLS = frozenset({"sh", "bash", "dash", "zsh"})
_FIND_WRITES = frozenset({"-delete", "-fprint", "-fprint0", "-fprintf", "-fls"})
_FIND_EXEC = frozenset({"-exec", "-execdir", "-ok", "-okdir"})
_XARGS_WITH_VALUE = frozenset({"-I", "-n", "-P", "-d", "-L", "-s", "-E", "-a", "--arg-file"})
# Wrapper → its options that take a separate value; the wrapped command is what runs.
_WRAPPERS: dict[str, frozenset[str]] = {
    "env": frozenset({"-u", "--unset", "-C", "--chdir"}),
    "time": frozenset({"-f", "--format"}),
    "nice": frozenset({"-n", "--adjustment"}),
    "nohup": frozenset(),
    "stdbuf": frozenset({"-i", "-o", "-e"}),
    "timeout": frozenset({"-s", "--signal", "-k", "--kill-after"}),
    "exec": frozenset({"-a"}),
    "command": frozenset(),
}
_ASSIGNMENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*=")
_SYSTEM_DIRS = ("/bin/", "/usr/bin/", "/usr/local/bin/")
# A sed script made only of printing/deleting/substituting commands (no `w`, `e`, `r` …).
_SED_ADDRESS = r"(?:\d+(?:~\d+)?|\$|/(?:[^/\\]|\\.)*/I?)"
_SED_SUBST = (
    r"s(?P<d>[^\w\s\\])(?:(?!(?P=d))[^\\]|\\.)*(?P=d)(?:(?!(?P=d))[^\\]|\\.)*(?P=d)[gpiI0-9]*"
)
_SED_COMMAND = re.compile(
    rf"^\s*(?:{_SED_ADDRESS}(?:\s*,\s*{_SED_ADDRESS})?)?\s*!?\s*(?:[pdq=lnNQ]|{_SED_SUBST})\s*$"
)
_AWK_EFFECTS = re.compile(r"system|getline|[>|]")
_MAX_DEPTH = 3


def _program(word: str | None) -> str | None:
    """Bare names and system binaries only: `./ls` may be anything."""
    if word is None:
        return None
    if "/" not in word:
        return word
    return word.rsplit("/", 1)[-1] if word.startswith(_SYSTEM_DIRS) else None


def _after_options(args: Words, with_value: frozenset[str]) -> Words | None:
    """The words after a wrapper's (or xargs') options; None when an option is computed."""
    index = 0
    while index < len(args):
        arg = args[index]
        if arg is None:
            return None
        if arg == "--":
            return args[index + 1 :]
        if not arg.startswith("-") or arg == "-":
            break
        index += 2 if arg in with_value else 1
    return args[index:]


def _wrapped(program: str, args: Words, depth: int) -> bool:
    if program == "command" and args and args[0] in ("-v", "-V"):
        return True
    if program == "env" and any(a in ("-S", "--split-string") for a in args):
        return False
    rest = _after_options(args, _WRAPPERS[program])
    if rest is None:
        return False
    if program == "env":
        while rest and rest[0] is not None and _ASSIGNMENT.match(rest[0]):
            rest = rest[1:]
    elif program == "timeout":
        rest = rest[1:]  # the duration
    return _command_ok(rest, depth)  # no command left: `env` prints, `time` times nothing


def _git(args: Words, depth: int) -> bool:
    index = 0
    while index < len(args) and (args[index] or "").startswith("-"):
        index += 2 if args[index] in _GIT_OPTIONS_WITH_VALUE else 1
    if index >= len(args) or args[index] is None:
        return False
    sub, rest = args[index], args[index + 1 :]
    if any(a is not None and a.startswith(_GIT_WRITING_OPTIONS) for a in rest):
        return False
    if sub in _GIT_REPORTING:
        return True
    allowed = _GIT_LISTING.get(sub or "")
    bare_lists = sub != "stash"  # a bare `git stash` stashes
    return allowed is not None and (bool(rest) or bare_lists) and all(a in allowed for a in rest)


def _find(args: Words, depth: int) -> bool:
    index = 0
    while index < len(args):
        arg = args[index]
        if arg in _FIND_WRITES:
            return False
        if arg in _FIND_EXEC:
            end = index + 1
            while end < len(args) and args[end] not in (";", "+"):
                end += 1
            if not _command_ok(args[index + 1 : end], depth):
                return False
            index = end
        index += 1
    return True


def _xargs(args: Words, depth: int) -> bool:
    payload = _after_options(args, _XARGS_WITH_VALUE)
    return payload is not None and _command_ok(payload, depth)  # bare `xargs` runs `echo`


def _shell(args: Words, depth: int) -> bool:
    """`bash -c '…'` runs its script: classify that; `bash script.sh` is unknown code."""
    for index, arg in enumerate(args):
        if arg is None or not arg.startswith("-"):
            return False
        if not arg.startswith("--") and "c" in arg[1:]:
            script = args[index + 1] if index + 1 < len(args) else None
            return script is not None and is_read_only_shell(script, depth + 1)
    return False


def _sed(args: Words, depth: int) -> bool:
    scripts: list[str | None] = []
    operands: list[str | None] = []
    index = 0
    while index < len(args):
        arg = args[index]
        if arg is None or not arg.startswith("-"):
            operands.append(arg)
            index += 1
            continue
        if arg.startswith(("--in-place", "--file")):
            return False
        short = arg[1:] if arg.startswith("-") and not arg.startswith("--") else ""
        if "i" in short or "f" in short:
            return False  # `-i`/`-ni`: edits in place; `-f`: a script we cannot see
        if arg.startswith("--expression="):
            scripts.append(arg.split("=", 1)[1])
        elif arg == "--expression" or short.endswith("e"):
            scripts.append(args[index + 1] if index + 1 < len(args) else None)
            index += 1
        index += 1
    if not scripts:
        scripts = operands[:1]
    return bool(scripts) and all(
        s is not None
        and all(not part.strip() or _SED_COMMAND.match(part) for part in re.split(r"[;\n]", s))
        for s in scripts
    )


def _awk(args: Words, depth: int) -> bool:
    index = 0
    while index < len(args):
        arg = args[index]
        if arg is None:
            return False
        if arg in ("-F", "-v"):
            index += 2
        elif arg.startswith(("-F", "-v")):
            index += 1
        elif arg.startswith("-"):
            return False  # `-f prog.awk`, gawk's `-i inplace`: unknown effects
        else:
            return not _AWK_EFFECTS.search(arg)
    return False


_RULES: dict[str, Callable[[Words, int], bool]] = {
    "git": _git,
    "find": _find,
    "xargs": _xargs,
    "sed": _sed,
    "awk": _awk,
    **dict.fromkeys(_SHELLS, _shell),
}


def _command_ok(words: Words, depth: int) -> bool:
    """Whether one simple command (given as its words) only reads."""
    if not words:
        return True  # assignments or redirections alone
    program = _program(words[0])
    if program is None or depth > _MAX_DEPTH:
        return False
    args = words[1:]
    if list(args) == ["--version"]:
        return True
    if program in _WRAPPERS:
        return _wrapped(program, args, depth)
    if program in _RULES:
        return _RULES[program](args, depth)
    if program in _REPORTING_SUBCOMMANDS:
        return bool(args) and args[0] in _REPORTING_SUBCOMMANDS[program]
    if program in PROBE_PROGRAMS:
        banned = _WRITING_OPTIONS.get(program, ())
        if banned and any(a is not None and a.startswith(banned) for a in args):
            return False
        operands = [a for a in args if a is None or not a.startswith("-")]
        return len(operands) <= _MAX_OPERANDS.get(program, len(operands))
    return False


def is_read_only_shell(command: str, depth: int = 0) -> bool:
    """True only when every command and redirection in the line provably just reads."""
    line = parse_shell(command)
    if not line.parsed or depth > _MAX_DEPTH:
        return False
    if any(r.writes for r in line.redirects):
        return False
    return all(_command_ok(c.words, depth) for c in line.commands)
