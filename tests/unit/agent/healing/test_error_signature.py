"""Failure signatures, command heads and the error classification table."""

from __future__ import annotations

import pytest

from cofounder.agent.commands.head import command_head, is_read_only, segment_heads
from cofounder.agent.healing.error_class import RULES, classify, classify_text
from cofounder.agent.healing.signature import (
    action_key,
    analyse,
    error_signature,
    key_line,
    normalise,
)
from cofounder.tools import ToolResult


def bash_result(code: int, out: str = "", err: str = "", seconds: float = 1.2) -> ToolResult:
    """A result shaped like the bash tool's report."""
    content = (
        f"Exit code {code} after {seconds:.1f}s.\n--- stdout ---\n{out or '(empty)'}\n"
        f"--- stderr ---\n{err or '(empty)'}"
    )
    return ToolResult(tool_use_id="t1", ok=code == 0, content=content, exit_code=code)


def bash_sig(command: str, code: int, out: str = "", err: str = "", seconds: float = 1.2) -> str:
    signature = error_signature("bash", {"command": command}, bash_result(code, out, err, seconds))
    assert signature is not None
    return signature


PYTEST_OUT = """============ test session starts ============
tests/test_app.py F.                                              [100%]
=================================== FAILURES ===================================
    def test_login():
>       assert client.post("/login").status_code == 200
E       assert 401 == 200
tests/test_app.py:{line}: AssertionError
=========================== short test summary info ============================
FAILED tests/test_app.py::test_login - assert 401 == 200
1 failed, 1 passed in {secs}s"""

NPM_BUILD_ERR = """> app@1.0.0 build
> vite build
error during build:
Error: Could not resolve './App' from src/main.jsx
    at file:///workspace/node_modules/rollup/dist/es/shared/node-entry.js:{line}:30
npm ERR! code ELIFECYCLE
npm ERR! errno 1
npm ERR! Exit status 1
npm ERR! Failed at the app@1.0.0 build script.
npm ERR! A complete log of this run can be found in:
npm ERR!     /root/.npm/_logs/{stamp}-debug-0.log"""


# --- what counts as a failure -------------------------------------------------------------


def test_success_has_no_signature() -> None:
    assert error_signature("bash", {"command": "pytest"}, bash_result(0, out="2 passed")) is None
    ok = ToolResult(tool_use_id="t", ok=True, content="written")
    assert error_signature("write_file", {"path": "a.py", "content": "x"}, ok) is None


def test_non_zero_exit_is_a_failure_even_if_the_tool_ran() -> None:
    # The tool "ran" (ok=True here on purpose): the verification exit code still counts.
    result = ToolResult(tool_use_id="t", ok=True, content="Exit code 1 after 0.1s.", exit_code=1)
    assert error_signature("bash", {"command": "npm test"}, result) is not None


def test_a_probe_answering_no_is_not_a_failure() -> None:
    assert error_signature("bash", {"command": "grep -q TODO app.py"}, bash_result(1)) is None
    assert error_signature("bash", {"command": "test -f .env"}, bash_result(1)) is None
    assert error_signature("bash", {"command": "pytest | grep FAILED"}, bash_result(1)) is None
    # ... but exit 2 from grep is a real error, and exit 1 from a non-probe is a failure
    assert error_signature("bash", {"command": "grep -q x nope"}, bash_result(2)) is not None
    assert error_signature("bash", {"command": "grep x a | wc -l"}, bash_result(1)) is not None


def test_grep_tool_no_match_is_not_a_failure_but_ok_false_is() -> None:
    no_match = ToolResult(tool_use_id="t", ok=True, content="No matches.", exit_code=1)
    assert error_signature("grep", {"pattern": "x"}, no_match) is None
    missing = ToolResult(tool_use_id="t", ok=False, content="file not found: src/app.py")
    assert error_signature("read_file", {"path": "src/app.py"}, missing) == (
        "read_file:src/app.py | file not found: src/app.py"
    )


# --- normalisation: the same failure reads the same -----------------------------------------


@pytest.mark.parametrize(
    ("first", "second"),
    [
        ("ENOENT: open '/tmp/tmpa1b2c3d4/x.json'", "ENOENT: open '/tmp/tmpz9y8x7w6/x.json'"),
        (
            "Error: listen EADDRINUSE: address already in use 127.0.0.1:54321",
            "Error: listen EADDRINUSE: address already in use 127.0.0.1:41234",
        ),
        ("Error: port 8123 is taken", "Error: port 9001 is taken"),
        (
            "Error: listen EADDRINUSE: address already in use :::3000",
            "Error: listen EADDRINUSE: address already in use :::8080",
        ),
        ("Error: connect to [::1]:5432 failed", "Error: connect to [::1]:6543 failed"),
        (
            "Error: connect postgres://db:5432/app failed",
            "Error: connect postgres://db:6543/app failed",
        ),
        (
            "Error: cannot open /srv/cache/tmpk3j4h5g6.json",
            "Error: cannot open /srv/cache/tmpz_9x8w7v.json",
        ),
        (
            "SyntaxError: invalid syntax (app.py, line 42)",
            "SyntaxError: invalid syntax (app.py, line 7)",
        ),
        ("2024-05-01T10:22:33.123Z Error: boom", "2025-01-09T23:01:02Z Error: boom"),
        ("[12:01:02] Error: boom", "[23:59:59.5] Error: boom"),
        ('File "app.py", line 42\nSyntaxError: bad', 'File "app.py", line 7\nSyntaxError: bad'),
        ("app.ts(12,5): error TS2322: no", "app.ts(99,1): error TS2322: no"),
        ("src/app.py:42:7: Error: unused", "src/app.py:8:1: Error: unused"),
        ("Error: segfault at 0x7f3a2b1c00", "Error: segfault at 0x55d1aa00ff"),
        ("Error: worker pid 4242 died", "Error: worker pid 777 died"),
        (
            "Error: job 123e4567-e89b-12d3-a456-426614174000 failed",
            "Error: job 9f1c2d3e-0000-4abc-8def-0123456789ab failed",
        ),
        ("Error: bad object 3fa9c1e2b7d4", "Error: bad object a0b1c2d3e4f5"),
        ("Error: timed out after 30.5s", "Error: timed out after 120ms"),
        ("\x1b[31mError: red\x1b[0m", "Error: red"),
    ],
)
def test_same_failure_with_volatile_details_has_one_signature(first: str, second: str) -> None:
    assert bash_sig("node app.js", 1, err=first) == bash_sig("node app.js", 1, err=second)


def test_pytest_failure_ignores_line_numbers_and_durations() -> None:
    a = bash_sig("pytest", 1, out=PYTEST_OUT.format(line=12, secs="0.12"), seconds=3.4)
    b = bash_sig("pytest -q tests/", 1, out=PYTEST_OUT.format(line=40, secs="9.87"), seconds=11)
    assert a == b
    assert a == "bash:pytest | exit 1 | FAILED tests/test_app.py::test_login - assert 401 == 200"


def test_npm_build_key_line_skips_npm_boilerplate() -> None:
    a = bash_sig(
        "npm run build", 1, err=NPM_BUILD_ERR.format(line=2287, stamp="2024-05-01T10_22_33_123Z")
    )
    b = bash_sig(
        "cd /workspace && npm run build",
        1,
        err=NPM_BUILD_ERR.format(line=12, stamp="2025-02-03T01_02_03_004Z"),
    )
    assert a == b
    assert a.endswith("Error: Could not resolve './App' from src/main.jsx")


@pytest.mark.parametrize(
    ("first", "second"),
    [
        (("pytest", 1, "ModuleNotFoundError: No module named 'app'"),
         ("pytest", 1, "ModuleNotFoundError: No module named 'flask'")),
        (("npm run build", 1, "Error: boom"), ("npm test", 1, "Error: boom")),
        (("npm run build", 1, "Error: boom"), ("npm run build", 2, "Error: boom")),
        (("python app.py", 1, "KeyError: 'a'"), ("python main.py", 1, "KeyError: 'a'")),
    ],
)  # fmt: skip
def test_different_failures_have_different_signatures(
    first: tuple[str, int, str], second: tuple[str, int, str]
) -> None:
    assert bash_sig(first[0], first[1], err=first[2]) != bash_sig(
        second[0], second[1], err=second[2]
    )


def test_the_step_that_failed_names_the_signature_not_the_setup_before_it() -> None:
    err = "Error: Cannot find module 'vite'"
    assert bash_sig("npm install vite && npm run build", 1, err=err) == bash_sig(
        "npm run build", 1, err=err
    )


def test_key_line_prefers_the_last_named_error_then_weaker_hints() -> None:
    trace = 'Traceback (most recent call last):\n  File "a.py", line 1\nValueError: bad value'
    assert key_line(trace) == "ValueError: bad value"
    assert key_line("building...\nsomething failed here\ndone") == "something failed here"
    assert key_line("just output\nlast line") == "last line"
    assert key_line("", "from stdout") == "from stdout"
    assert key_line("") == ""
    assert key_line("some output\n==========") == "some output"


def test_npm_log_path_is_never_the_key_line() -> None:
    err = (
        "npm ERR! 404 Not Found - GET https://registry.npmjs.org/expresss\n"
        "npm ERR! A complete log of this run can be found in:\n"
        "npm ERR!     /root/.npm/_logs/2024-05-01T10_22_33_123Z-debug-0.log"
    )
    assert key_line(err) == "npm ERR! 404 Not Found - GET https://registry.npmjs.org/expresss"


def test_empty_output_keeps_head_and_exit_code() -> None:
    assert bash_sig("make build", 2) == "bash:make build | exit 2"


def test_timed_out_command_is_marked() -> None:
    content = (
        "Timed out after 120s: the command and every process it started were killed "
        "(exit code 137).\n--- stdout ---\nListening on :3000\n--- stderr ---\n(empty)"
    )
    result = ToolResult(tool_use_id="t", ok=False, content=content, exit_code=137)
    failure = analyse("bash", {"command": "npm run dev"}, result)
    assert failure is not None and failure.timed_out
    assert failure.signature.startswith("bash:npm run dev | timeout")


def test_normalise_collapses_whitespace_and_keeps_stable_words() -> None:
    assert normalise("  Error:   cannot   find  module  'x'  ") == "Error: cannot find module 'x'"


# --- command heads ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("command", "head"),
    [
        ("pytest tests/test_x.py -k login", "bash:pytest"),
        (".venv/bin/pytest -q", "bash:pytest"),
        ("cd app && npm run build", "bash:npm run build"),
        ("npm test", "bash:npm test"),
        ("npm install express cors", "bash:npm install"),
        ("python -m pytest -q", "bash:python -m pytest"),
        ("python3.11 -m unittest discover", "bash:python -m unittest"),
        ("python3 app.py --debug", "bash:python app.py"),
        ("curl -f http://localhost:8123/health?x=1", "bash:curl /health"),
        ("curl -sf 127.0.0.1:3000/api/items", "bash:curl /api/items"),
        ("pip install -r requirements.txt && pytest", "bash:pip install && pytest"),
        ("pytest 2>&1 | tail -20", "bash:pytest"),
        ("FOO=1 timeout 30 npx vite build", "bash:vite build"),
        ("uv run pytest -x", "bash:pytest"),
        ("git push origin main", "bash:git push"),
        ("node server.js --port 3000", "bash:node server.js"),
        ("make", "bash:make"),
        ("export CI=1; cd web; npm ci", "bash:npm ci"),
    ],
)
def test_command_head(command: str, head: str) -> None:
    assert command_head("bash", {"command": command}) == head


def test_command_head_of_file_tools_names_the_target() -> None:
    assert command_head("edit_file", {"path": "src/app.py", "old_string": "a"}) == (
        "edit_file:src/app.py"
    )
    assert command_head("glob", {"pattern": "**/*.py"}) == "glob:**/*.py"


def test_segment_heads_keep_only_meaningful_segments() -> None:
    assert segment_heads("cd x && mkdir -p y && npm install && npm test") == [
        "npm install",
        "npm test",
    ]
    assert segment_heads("cd x") == ["cd x"]


def test_read_only_commands() -> None:
    assert is_read_only("bash", {"command": "ls -la && cat package.json"})
    assert is_read_only("read_file", {"path": "a"})
    assert not is_read_only("bash", {"command": "echo hi > f.txt"})
    assert not is_read_only("bash", {"command": "npm install"})
    assert not is_read_only("write_file", {"path": "a", "content": "b"})


def test_action_key_ignores_volatile_bits_and_stays_short() -> None:
    a = action_key("bash", {"command": "cat /tmp/tmpabc12345/out.log"})
    b = action_key("bash", {"command": "cat /tmp/tmpxyz98765/out.log"})
    assert a == b and a.startswith("bash:")
    big_a = action_key("write_file", {"path": "a.py", "content": "x" * 5000})
    big_b = action_key("write_file", {"path": "a.py", "content": "y" * 5000})
    assert big_a != big_b and len(big_a) < 40
    assert action_key("bash", {"command": "ls"}) != action_key("bash", {"command": "ls -la"})


# --- classification table -----------------------------------------------------------------

# One example per rule: the table and its examples must move together.
RULE_EXAMPLES = {
    "invalid_api_key": "openai.AuthenticationError: Incorrect API key provided: sk-***",
    "missing_api_key": "Error: STRIPE_SECRET_KEY is not set",
    "auth_failed": "fatal: Authentication failed for 'https://github.com/x/y.git'",
    "registry_auth": "npm ERR! code E401",
    "http_401_403": "HTTP request returned status 403",
    "dns": "curl: (6) Could not resolve host: registry.npmjs.org",
    "network_unreachable": "connect: Network is unreachable",
    "connect_timeout": "npm ERR! code ETIMEDOUT",
    "connection_refused": "pip: Connection refused by pypi.org",
    "disk_full": "OSError: [Errno 28] No space left on device",
    "registry_down": "ERROR: HTTP error 503 while getting https://pypi.org/simple/flask/",
    "rate_limited": "GitHub API: 429 Too Many Requests",
}


def test_every_rule_has_an_example_that_it_matches() -> None:
    assert set(RULE_EXAMPLES) == {rule.name for rule in RULES}
    for name, text in RULE_EXAMPLES.items():
        assert classify_text(text)[1] == name, (name, text)


@pytest.mark.parametrize(
    ("text", "local", "expected"),
    [
        ("Temporary failure in name resolution", False, "environment"),
        ("getaddrinfo EAI_AGAIN registry.npmjs.org", False, "environment"),
        ("npm ERR! code ENOSPC", False, "environment"),
        ("npm ERR! 503 Service Unavailable - GET https://registry.npmjs.org/x", False,
         "environment"),
        ("ReadTimeoutError: HTTPSConnectionPool(host='pypi.org'): Read timed out.", False,
         "environment"),
        ("Error: invalid api key", False, "never_retry"),
        ("KeyError: 'OPENAI_API_KEY'", False, "never_retry"),
        ("Permission denied (publickey).", False, "never_retry"),
        ("remote: HTTP Basic: Access denied", False, "never_retry"),
        ("401 Unauthorized", False, "never_retry"),
        # The app's own tests and servers: their status codes are bugs to fix, not facts.
        ("assert response.status_code == 401", True, "ordinary"),
        ("curl: (22) The requested URL returned error: 500", True, "ordinary"),
        ("curl: (7) Failed to connect to localhost port 3000: Connection refused", True,
         "ordinary"),
        ("FAILED tests/test_auth.py::test_forbidden_without_token", True, "ordinary"),
        ("FAILED tests/test_auth.py::test_login - app.AuthenticationError: bad password", True,
         "ordinary"),
        # ... but a missing key is a missing key wherever it shows up.
        ("openai.AuthenticationError: Incorrect API key provided", True, "never_retry"),
        # Ordinary failures the old substring matcher got wrong.
        ("EACCES: permission denied, mkdir '/usr/lib/node_modules'", False, "ordinary"),
        ("npm ERR! 404 Not Found - GET https://registry.npmjs.org/express-rate-limitt", False,
         "ordinary"),
        ("AssertionError: timeout should be 30", False, "ordinary"),
        ("TypeError: Cannot read properties of undefined", False, "ordinary"),
    ],
)  # fmt: skip
def test_classification(text: str, local: bool, expected: str) -> None:
    assert classify(text, local=local) == expected


def test_analyse_classifies_local_checks_as_ordinary() -> None:
    err = "curl: (7) Failed to connect to localhost port 3000 after 0 ms: Connection refused"
    failure = analyse("bash", {"command": "curl -f localhost:3000/"}, bash_result(7, err=err))
    assert failure is not None and failure.category == "ordinary"
    dns = "npm ERR! request to https://registry.npmjs.org/x failed, reason: getaddrinfo EAI_AGAIN"
    failure = analyse("bash", {"command": "npm install x"}, bash_result(1, err=dns))
    assert failure is not None and failure.category == "environment" and failure.rule == "dns"
