"""Which limit applies to a path under /api/auth (spec §8.2).

Precedence, as in Better Auth: the default rule, overridden by the first matching special rule,
overridden by the first matching custom rule (`{window, max}`, or `False` for no limit).
Custom rule keys are exact paths (`/sign-in/email`) or globs (`/sign-in/*`, `/admin/**`) with
Better Auth's wildcard syntax. Paths are relative to /api/auth, without a trailing slash.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class Rule:
    """At most `max` requests per key in a sliding `window` (seconds)."""

    window: float
    max: int
    window_ms: int = field(init=False)
    # Retry-after when a store cannot say better: the whole window, in whole seconds.
    full_retry: int = field(init=False)

    def __post_init__(self) -> None:
        if not self.window > 0:
            raise ValueError("a rate-limit window must be greater than 0 seconds")
        if self.max < 0:
            raise ValueError("a rate-limit max must be 0 or more")
        object.__setattr__(self, "window_ms", max(1, round(self.window * 1000)))
        object.__setattr__(self, "full_retry", max(1, math.ceil(self.window)))


DEFAULT_RULE = Rule(window=10, max=100)
CREDENTIAL_RULE = Rule(window=10, max=3)
MAIL_RULE = Rule(window=60, max=3)

_CREDENTIAL_PREFIXES = ("/sign-in", "/sign-up", "/change-password", "/change-email")
_MAIL_PATHS = frozenset(
    {
        "/request-password-reset",
        "/send-verification-email",
        "/email-otp/send-verification-otp",
        "/email-otp/request-password-reset",
    }
)


def special_rule(path: str) -> Rule | None:
    """Better Auth's built-in stricter limits for credential and mail-sending paths."""
    if path.startswith(_CREDENTIAL_PREFIXES):
        return CREDENTIAL_RULE
    if path in _MAIL_PATHS or path.startswith("/forget-password"):
        return MAIL_RULE
    return None


_REGEX_SPECIALS = frozenset("-^$+.()|[]{}*?\\")


def _escape(char: str) -> str:
    return "\\" + char if char in _REGEX_SPECIALS else char


def glob_regex(pattern: str) -> re.Pattern[str]:
    """Better Auth's `wildcardMatch(pattern)` (separator `/`): `*` and `?` stay in a segment,
    `**` spans segments, `\\` escapes."""
    separator = r"[/\\]"
    wildcard = r"[^/\\]"
    required = separator + "+?"
    optional = separator + "*?"
    segments = pattern.split("/")
    result: list[str] = []
    for index, segment in enumerate(segments):
        if not segment and index > 0:
            continue
        if index == len(segments) - 1:
            current = optional
        elif segments[index + 1] != "**":
            current = required
        else:
            current = ""
        if segment == "**":
            if current:
                result.append("" if index == 0 else current)
                result.append(f"(?:{wildcard}*?{current})*?")
            continue
        position = 0
        while position < len(segment):
            char = segment[position]
            if char == "\\":
                if position < len(segment) - 1:
                    result.append(_escape(segment[position + 1]))
                    position += 1
            elif char == "?":
                result.append(wildcard)
            elif char == "*":
                result.append(wildcard + "*?")
            else:
                result.append(_escape(char))
            position += 1
        result.append(current)
    return re.compile("^" + "".join(result) + "$")


CustomRules = Mapping[str, Rule | None]  # None: not limited (Better Auth's `false`)

_UNSET = object()
_CACHE_SIZE = 4096


class RuleTable:
    """Resolves the rule of a path; `None` means the path is not limited."""

    def __init__(self, default: Rule = DEFAULT_RULE, custom: CustomRules | None = None) -> None:
        self.default = default
        self._custom: list[tuple[Callable[[str], bool], Rule | None]] = []
        for key, rule in (custom or {}).items():
            if "*" in key:
                matcher: Callable[[str], bool] = _regex_matcher(glob_regex(key))
            else:
                matcher = key.__eq__
            self._custom.append((matcher, rule))
        self._cache: dict[str, Rule | None] = {}

    def windows(self) -> list[float]:
        """Every configured window (seconds): expired rows are those older than the longest."""
        rules = [self.default, CREDENTIAL_RULE, MAIL_RULE]
        rules += [rule for _, rule in self._custom if rule is not None]
        return [rule.window for rule in rules]

    def rule_for(self, path: str) -> Rule | None:
        cached = self._cache.get(path, _UNSET)
        if cached is not _UNSET:
            return cached  # type: ignore[return-value]
        rule = self._resolve(path)
        if len(self._cache) < _CACHE_SIZE:  # unknown paths must not grow it without bound
            self._cache[path] = rule
        return rule

    def _resolve(self, path: str) -> Rule | None:
        rule = special_rule(path) or self.default
        for matches, custom in self._custom:
            if matches(path):
                return custom
        return rule


def _regex_matcher(regex: re.Pattern[str]) -> Callable[[str], bool]:
    def matches(path: str) -> bool:
        return regex.match(path) is not None

    return matches


def parse_custom_rules(value: object) -> dict[str, Rule | None]:
    """RATE_LIMIT_CUSTOM_RULES: JSON `{"/path-or-glob": {"window": s, "max": n} | false}`."""
    if isinstance(value, str | bytes):
        try:
            value = json.loads(value) if value.strip() else {}
        except ValueError as exc:
            raise ValueError(f"must be a JSON object ({exc})") from exc
    if not isinstance(value, Mapping):
        raise ValueError(
            'must be a JSON object such as {"/sign-in/email": {"window": 10, "max": 3}}'
        )
    rules: dict[str, Rule | None] = {}
    for path, spec in value.items():
        if not isinstance(path, str) or not path.startswith(("/", "*")):
            raise ValueError(f"{path!r}: keys are paths after /api/auth, e.g. /sign-in/email")
        if spec is False:
            rules[path] = None
            continue
        if isinstance(spec, Rule):
            rules[path] = spec
            continue
        if (
            not isinstance(spec, Mapping)
            or set(spec) != {"window", "max"}
            or not all(_is_number(spec[name]) for name in ("window", "max"))
            or not float(spec["max"]).is_integer()
        ):
            raise ValueError(f'{path!r}: expected {{"window": <seconds>, "max": <count>}} or false')
        try:
            rules[path] = Rule(window=float(spec["window"]), max=int(spec["max"]))
        except ValueError as exc:
            raise ValueError(f"{path!r}: {exc}") from exc
    return rules


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)
