"""Which kind of failure is this: the environment's, one only a person can fix, or ours?

The old system matched bare words such as "timeout" or "forbidden" anywhere, so a test named
`test_forbidden` looked like a credentials problem. Here every pattern is specific, and the
status-code patterns are skipped for the app's own tests and local requests, whose 401s and 500s
are bugs to fix, not facts about the world. One table, checked in order: never-retry first.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

ErrorCategory = Literal["environment", "never_retry", "ordinary"]


@dataclass(frozen=True)
class Rule:
    """One recognised failure: `external_only` rules ignore the app's own tests and servers."""

    category: ErrorCategory
    name: str
    pattern: re.Pattern[str]
    external_only: bool = False


def _rule(category: ErrorCategory, name: str, pattern: str, *, external: bool = False) -> Rule:
    return Rule(category, name, re.compile(pattern, re.IGNORECASE), external)


RULES: tuple[Rule, ...] = (
    # --- never retry: only the founder can supply or fix these ---
    _rule(
        "never_retry", "invalid_api_key", r"\b(invalid|incorrect|bad|expired|revoked)\s+api\s+key"
    ),
    _rule(
        "never_retry",
        "missing_api_key",
        r"\b(missing|no)\s+(api\s+key|credentials|access\s+token|auth(entication)?\s+token)\b"
        r"|\bapi\s+key\s+(is\s+)?(not\s+set|missing|required|not\s+provided|not\s+found)"
        r"|\b[A-Z][A-Z0-9_]*(API_KEY|_TOKEN|_SECRET|SECRET_KEY)\b[^\n]{0,40}"
        r"\b(not\s+set|is\s+missing|missing|undefined|required|not\s+(found|provided|defined))"
        r"|KeyError:\s*['\"][A-Z0-9_]*(API_KEY|TOKEN|SECRET)[A-Z0-9_]*['\"]",
    ),
    _rule(
        "never_retry",
        "auth_failed",
        r"\bauthentication\s+(failed|required|error)\b"
        r"|\bauthenticationerror\b|\binvalid\s+credentials\b|\bbad\s+credentials\b"
        r"|\bcould\s+not\s+read\s+username\b|permission\s+denied\s+\(publickey",
        external=True,
    ),
    _rule("never_retry", "registry_auth", r"\bnpm\s+ERR!\s+code\s+E40[13]\b|\bE40[13]\b"),
    _rule(
        "never_retry",
        "http_401_403",
        r"\b40[13]\s+(unauthori[sz]ed|forbidden)\b"
        r"|\b(status|http|code|returned|error)\b[^\n]{0,24}\b40[13]\b"
        r"|\b(unauthori[sz]ed|forbidden|access\s+denied)\b",
        external=True,
    ),
    # --- environment: not the approach's fault; wait and try again ---
    _rule(
        "environment",
        "dns",
        r"temporary\s+failure\s+in\s+name\s+resolution|name\s+or\s+service\s+not\s+known"
        r"|could\s+not\s+resolve\s+(host|proxy)|\bEAI_AGAIN\b|getaddrinfo\s+ENOTFOUND"
        r"|nodename\s+nor\s+servname|name\s+resolution\s+failed|failed\s+to\s+resolve",
    ),
    _rule(
        "environment",
        "network_unreachable",
        r"network\s+is\s+unreachable|\bENETUNREACH\b|no\s+route\s+to\s+host|\bEHOSTUNREACH\b",
    ),
    _rule(
        "environment",
        "connect_timeout",
        r"\bETIMEDOUT\b|\bESOCKETTIMEDOUT\b|\bERR_SOCKET_TIMEOUT\b|connect(ion)?\s+timed?\s*out"
        r"|read\s+timed\s+out|ConnectTimeout(Error)?|ReadTimeout(Error)?|timed\s+out\s+while\s+"
        r"(connecting|waiting\s+for\s+the\s+server)|socket\s+hang\s+up",
    ),
    _rule(
        "environment",
        "connection_refused",
        r"connection\s+(refused|reset)|\bECONNREFUSED\b|\bECONNRESET\b",
        external=True,
    ),
    _rule(
        "environment",
        "disk_full",
        r"no\s+space\s+left\s+on\s+device|\bENOSPC\b|disk\s+quota\s+exceeded|\bEDQUOT\b"
        r"|\bdisk\s+(is\s+)?full\b",
    ),
    _rule(
        "environment",
        "registry_down",
        r"\bnpm\s+ERR!\s+code\s+E5\d\d\b|\bE50[0234]\b"
        r"|(registry|pypi|index|mirror|repository)[^\n]{0,60}\b(50[0234]|unavailable|down)\b"
        r"|\b(50[0234])\s+(internal\s+server\s+error|bad\s+gateway|service\s+unavailable"
        r"|gateway\s+time-?out)|\b(status|http|code|returned|error)\b[^\n]{0,24}\b50[0234]\b"
        r"|\bservice\s+(temporarily\s+)?unavailable\b",
        external=True,
    ),
    _rule(
        "environment",
        "rate_limited",
        r"\btoo\s+many\s+requests\b|\brate\s+limit(ed|\s+exceeded|\s+reached)\b",
        external=True,
    ),
)


def classify_text(text: str, *, local: bool = False) -> tuple[ErrorCategory, str | None]:
    """The category of a failure's text and the name of the rule that matched (None: ordinary).

    `local` marks a test run or a request to the app's own server, so status-code rules are
    skipped there.
    """
    for rule in RULES:
        if local and rule.external_only:
            continue
        if rule.pattern.search(text):
            return rule.category, rule.name
    return "ordinary", None


def classify(text: str, *, local: bool = False) -> ErrorCategory:
    return classify_text(text, local=local)[0]
