"""The read-only classifier: every command in a parsed bash line must be a probe."""

from __future__ import annotations

import pytest

from cofounder.agent.commands.head import is_read_only
from cofounder.agent.commands.read_only import is_read_only_shell
from cofounder.agent.commands.shell_parse import Redirect, parse_shell

READ_ONLY = [
    "ls",
    "ls -la && cat package.json",
    "cd app && ls",
    "cd app; pwd; ls -la src",
    "grep -rn 'def main' src",
    "grep -q x f || echo missing",
    "rg TODO | head -20",
    "cat a.txt | sort | uniq -c | sort -rn | head",
    "tail -n 50 server.log | grep -i error",
    "find . -name '*.py' -not -path './.venv/*'",
    "find src -name '*.ts' -exec grep -l useState {} +",
    "find . -type f | xargs wc -l",
    "grep -l foo -r . | xargs grep -n bar",
    "ls 2>/dev/null",
    "ls > /dev/null 2>&1",
    "npm ls &>/dev/null",
    "pytest --version",
    "python3 --version",
    "git status",
    "git diff --stat HEAD~1",
    "git -C web log --oneline -5",
    "git branch -a",
    "git show HEAD:src/app.py",
    "echo $(pwd)",
    "ls $(pwd)/src",
    "cat `ls *.md`",
    "diff <(sort a) <(sort b)",
    "echo hi >&2",
    "wc -l < input.txt",
    "cat <<EOF\nplain text\nEOF",
    "[ -f package.json ] && cat package.json",
    "[[ -d node_modules ]] || echo no-modules",
    "test -f .env && echo yes",
    'for f in src/*.py; do wc -l "$f"; done',
    "if [ -d dist ]; then ls dist; fi",
    "export CI=1; cat config.json",
    "FOO=1 env | sort",
    "env",
    "timeout 5 cat /proc/cpuinfo",
    "command -v node",
    "which python3 node npm",
    "sed -n '1,80p' src/app.py",
    "sed -n -e '/def main/,/^$/p' src/app.py",
    "sed 's/foo/bar/g' notes.txt",
    "awk '{print $1}' access.log",
    "awk -F: '{print $1}' /etc/passwd",
    "bash -c 'ls && cat README.md'",
    'sh -c "grep -c x f"',
    "pip list",
    "pip show flask",
    "jq .scripts package.json",
    "ps aux | grep node",
    "du -sh node_modules; df -h",
    "stat -c %s dist/app.js",
]

CHANGES = [
    "ls $(rm -rf build)",
    "echo `rm -rf build`",
    "cat <(rm x)",
    "cat x > >(tee copy.txt)",
    'echo "${X:-$(touch y)}"',
    "export A=$(rm x)",
    "cat <<EOF\n$(rm y)\nEOF",
    "grep -l foo *.py | xargs rm",
    "find . -name x | xargs -I{} mv {} /tmp",
    "find . -type f -print0 | xargs -0 sed -i 's/a/b/'",
    "find . -name '*.pyc' -exec rm {} \\;",
    "find . -name '*.pyc' -delete",
    "find . -exec sh -c 'rm \"$1\"' _ {} \\;",
    "find . -fprint out.txt",
    "bash -c 'rm -rf build'",
    "bash -lc 'npm install'",
    'sh -c "$CMD"',
    "bash deploy.sh",
    "echo hi > f.txt",
    "echo hi >> notes.md",
    "ls &> listing.txt",
    "ls 2> errors.log",
    "cat a >| b",
    "ls >& out.txt",
    "ls; rm x",
    "ls && npm install",
    "cat package.json | tee backup.json",
    "mkdir -p out && ls out",
    "source .venv/bin/activate && ls",
    "npm install",
    "npm run build",
    "pytest -q",
    "python app.py",
    "curl -f http://localhost:3000/health",
    "git commit -m x",
    "git branch -d old",
    "git stash",
    "git diff --output=patch.txt",
    "sed -i 's/a/b/' app.py",
    "sed -ni 's/a/b/p' app.py",
    "sed 's/a/b/w out.txt' app.py",
    "sed -f script.sed app.py",
    "awk '{print > \"out\"}' f",
    "awk '{system(\"rm \" $1)}' f",
    "awk -f prog.awk f",
    "sort -o sorted.txt data.txt",
    "uniq in.txt out.txt",
    "$CMD x",
    '"$(echo rm)" -rf build',
    "./ls",
    "env rm -rf build",
    "env -S 'rm -rf build'",
    "timeout 10 npm install",
    "nice -n 5 rm x",
    "sudo rm -rf /var/cache",
    "eval ls",
    "f() { ls; }; f",
    'ls "unterminated',
    "ls $(",
]


@pytest.mark.parametrize("command", READ_ONLY)
def test_probes_are_read_only(command: str) -> None:
    assert is_read_only("bash", {"command": command})


@pytest.mark.parametrize("command", CHANGES)
def test_changes_hidden_anywhere_in_the_line_are_not_read_only(command: str) -> None:
    assert not is_read_only("bash", {"command": command})


def test_non_bash_tools_keep_their_classification() -> None:
    assert is_read_only("read_file", {"path": "a"})
    assert is_read_only("narrate", {"text": "hi"})
    assert not is_read_only("write_file", {"path": "a", "content": "b"})
    assert not is_read_only("bash", {"command": 3})


def test_nested_shell_payloads_stop_at_a_depth() -> None:
    line = "ls"
    for _ in range(6):
        line = "bash -c " + "'" + line.replace("'", "'\\''") + "'"
    assert not is_read_only_shell(line)
    assert is_read_only_shell("bash -c 'bash -c ls'")


def test_parse_finds_nested_commands_and_redirections_with_literal_words() -> None:
    line = parse_shell("ls \"$X\" 'a b' $(rm -rf build) 2>&1 > out.txt")
    assert line.parsed
    assert [c.words for c in line.commands] == [("ls", None, "a b", None), ("rm", "-rf", "build")]
    assert line.redirects == (
        Redirect(operator=">&", target="1", into_process=False),
        Redirect(operator=">", target="out.txt", into_process=False),
    )
    assert [r.writes for r in line.redirects] == [False, True]
    assert not parse_shell("echo 'open").parsed
