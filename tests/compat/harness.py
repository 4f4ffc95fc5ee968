"""Run compat cases against a server and normalise what comes back.

A transcript is one dict per step:

    {"request": "POST /api/auth/sign-in/email", "status": 200,
     "headers": {"content-type": "application/json", "location": "/x", ...},
     "cookies": [{"name": "better-auth.session_token", "value": "<signed:token:1>",
                  "attrs": ["Max-Age=604800", "Path=/", "HttpOnly", "SameSite=Lax"]}],
     "body_kind": "json" | "empty" | "other", "body": <normalised JSON, only for json>}

Volatile values become placeholders that are numbered per case in order of first appearance
(JSON keys visited in sorted order), so identity is still checked: the same user id in two
steps is ``<id:1>`` both times, and a cookie carrying the token of a response body is
``<signed:token:N>`` with that body's N.
"""

from __future__ import annotations

import hashlib
import json
import re
import secrets
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, TypeGuard
from urllib.parse import unquote, urlencode, urlsplit

import httpx

from .cases import Case, FormBody, JsonBody, JsonValue, RawBody, Step

# Headers of the jwt/bearer plugins; a server without those plugins cannot match them.
DEFAULT_IGNORED_HEADERS: frozenset[str] = frozenset(
    {"set-auth-token", "set-auth-jwt", "access-control-expose-headers"}
)
RECORDED_HEADERS: tuple[str, ...] = (
    "content-type",
    "location",
    "cache-control",
    "pragma",
    "x-retry-after",
    "access-control-expose-headers",
    "set-auth-token",
    "set-auth-jwt",
)
# Headers the service adds for security where Better Auth sends none (hardening.py): a recorded
# answer without the header matches ours with exactly this value.
SECURITY_ADDITIONS: dict[str, str] = {"cache-control": "no-store"}
GOLDEN_PATH = Path(__file__).resolve().parent / "anchor_golden.json"
USER_AGENT = "better-auth-compat-harness/1"
LONG_STRING = 256

_PLACEHOLDER = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")
_ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,6})?Z$")
_ID = re.compile(r"^[A-Za-z0-9]{32}$")
_TOKEN_KEYS = frozenset({"token"})


# --------------------------------------------------------------------------- run context


@dataclass
class Labeller:
    """Numbers volatile values per case: ``<id:1>``, ``<token:2>``, ..."""

    labels: dict[str, str] = field(default_factory=dict)
    counters: dict[str, int] = field(default_factory=dict)

    def label(self, value: str, kind: str) -> str:
        if value not in self.labels:
            self.counters[kind] = self.counters.get(kind, 0) + 1
            self.labels[value] = f"{kind}:{self.counters[kind]}"
        return self.labels[value]


@dataclass
class RunContext:
    origin: str
    variables: dict[str, str]
    jars: dict[str, dict[str, str]] = field(default_factory=dict)
    labeller: Labeller = field(default_factory=Labeller)

    @classmethod
    def new(cls, base_url: str) -> RunContext:
        parts = urlsplit(base_url)
        origin = f"{parts.scheme}://{parts.netloc}"
        run_id = secrets.token_hex(6)
        email = f"compat-{run_id}@example.com"
        variables = {
            "rid": run_id,
            "origin": origin,
            "email": email,
            "email2": f"compat-{run_id}-2@example.com",
            "EMAIL": email.upper(),
        }
        return cls(origin=origin, variables=variables)

    def fill(self, text: str) -> str:
        return _PLACEHOLDER.sub(lambda m: self.variables.get(m.group(1), m.group(0)), text)

    def fill_json(self, value: JsonValue) -> JsonValue:
        if isinstance(value, str):
            return self.fill(value)
        if isinstance(value, list):
            return [self.fill_json(item) for item in value]
        if isinstance(value, dict):
            return {self.fill(k): self.fill_json(v) for k, v in value.items()}
        return value

    def unfill(self, text: str) -> str:
        """Turn run-specific values back into their placeholder names."""
        known = {"origin", "email", "email2", "EMAIL", "rid"}
        pairs = sorted(
            ((v, k) for k, v in self.variables.items() if k in known),
            key=lambda pair: -len(pair[0]),
        )
        for value, name in pairs:
            text = text.replace(value, "{" + name + "}")
        return text


# --------------------------------------------------------------------------- requests


def build_request(
    client: httpx.Client, base_url: str, step: Step, ctx: RunContext
) -> httpx.Request:
    headers = {"User-Agent": USER_AGENT}
    headers.update({name: ctx.fill(value) for name, value in step.headers.items()})
    jar = ctx.jars.setdefault(step.jar, {})
    has_cookie_header = any(name.lower() == "cookie" for name in headers)
    if step.send_cookies and jar and not has_cookie_header:
        headers["Cookie"] = "; ".join(f"{name}={value}" for name, value in jar.items())
    content: bytes | None = None
    body = step.body
    if isinstance(body, JsonBody):
        payload = ctx.fill_json(body.value)
        content = json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode()
        if body.content_type is not None:
            headers["Content-Type"] = body.content_type
    elif isinstance(body, RawBody):
        content = ctx.fill(body.text).encode()
        if body.content_type is not None:
            headers["Content-Type"] = body.content_type
    elif isinstance(body, FormBody):
        fields = {ctx.fill(k): ctx.fill(v) for k, v in body.fields.items()}
        content = urlencode(fields).encode()
        headers["Content-Type"] = "application/x-www-form-urlencoded"
    url = base_url.rstrip("/") + ctx.fill(step.path)
    return client.build_request(step.method, url, headers=headers, content=content)


def update_jar(jar: dict[str, str], response: httpx.Response) -> None:
    for line in response.headers.get_list("set-cookie"):
        name, value, attrs = parse_set_cookie(line)
        expired = any(a.lower() == "max-age=0" for a in attrs)
        if expired or value == "":
            jar.pop(name, None)
        else:
            jar[name] = value


def save_variables(step: Step, response: httpx.Response, ctx: RunContext) -> None:
    for var, source in step.save.items():
        value: Any
        if source.startswith("jar:"):
            value = ctx.jars.get(step.jar, {}).get(source[4:])
        elif source.startswith("header:"):
            value = response.headers.get(source[7:])
        elif source.startswith("body."):
            value = response.json()
            for key in source[5:].split("."):
                value = value[key]
        else:
            raise ValueError(f"bad save source {source!r}")
        if not isinstance(value, str):
            raise ValueError(f"step {step.path}: nothing to save for {var} from {source}")
        ctx.variables[var] = value


# --------------------------------------------------------------------------- normalisation


def parse_set_cookie(line: str) -> tuple[str, str, list[str]]:
    first, *attrs = [part.strip() for part in line.split(";")]
    name, _, value = first.partition("=")
    return name.strip(), value.strip(), [a for a in attrs if a]


def cookie_value_shape(value: str, labeller: Labeller) -> str:
    if value == "":
        return "<empty>"
    decoded = unquote(value) if "%" in value else value
    head, dot, signature = decoded.rpartition(".")
    if dot and len(signature) == 44 and signature.endswith("="):
        if head == "true":
            return "<signed:true>"
        if _ID.match(head):
            return f"<signed:{labeller.label(head, 'token')}>"
        return "<signed:other>"
    if decoded.count(".") == 2:
        return "<jwt>"
    return f"<opaque:{len(decoded)}>"


def normalise_string(value: str, key: str | None, ctx: RunContext) -> str:
    if _ISO_DATE.match(value):
        return "<date>"
    if _ID.match(value):
        known = ctx.labeller.labels.get(value)
        if known:
            return f"<{known}>"
        kind = "token" if key in _TOKEN_KEYS else "id"
        return f"<{ctx.labeller.label(value, kind)}>"
    value = ctx.unfill(value)
    if len(value) > LONG_STRING:
        digest = hashlib.sha256(value.encode("utf-8", "surrogatepass")).hexdigest()[:12]
        return f"<string len={len(value)} sha256={digest}>"
    return value


def _is_date(value: object) -> TypeGuard[str]:
    return isinstance(value, str) and _ISO_DATE.match(value) is not None


def _hours_between(start: str, end: str) -> int:
    def parse(text: str) -> datetime:
        return datetime.fromisoformat(text.replace("Z", "+00:00"))

    return round((parse(end) - parse(start)).total_seconds() / 3600)


def normalise_json(value: Any, ctx: RunContext, key: str | None = None) -> Any:
    if isinstance(value, str):
        return normalise_string(value, key, ctx)
    if isinstance(value, list):
        return [normalise_json(item, ctx) for item in value]
    if isinstance(value, dict):
        result = {k: normalise_json(value[k], ctx, k) for k in sorted(value)}
        expires, created = value.get("expiresAt"), value.get("createdAt")
        if _is_date(expires) and _is_date(created):
            result["expiresAt"] = f"<createdAt+{_hours_between(created, expires)}h>"
        return result
    return value


def normalise_response(step: Step, response: httpx.Response, ctx: RunContext) -> dict[str, Any]:
    record: dict[str, Any] = {
        "request": f"{step.method} {ctx.unfill(ctx.fill(step.path))}",
        "status": response.status_code,
    }
    if step.compare != "full":
        record["compare"] = step.compare
    content_type = response.headers.get("content-type", "")
    media_type = content_type.split(";")[0].strip().lower()
    body_kind = "empty" if not response.content else "other"
    body: Any = None
    if response.content and media_type == "application/json":
        try:
            body = normalise_json(response.json(), ctx)
            body_kind = "json"
        except ValueError:
            body_kind = "other"
    headers: dict[str, str] = {}
    for name in RECORDED_HEADERS:
        raw = response.headers.get(name)
        if raw is None:
            continue
        if name == "content-type":
            headers[name] = media_type
        elif name == "set-auth-token":
            headers[name] = cookie_value_shape(raw, ctx.labeller)
        elif name == "set-auth-jwt":
            headers[name] = "<jwt>" if raw.count(".") == 2 else f"<opaque:{len(raw)}>"
        else:
            headers[name] = ctx.unfill(raw)
    cookies = []
    for line in response.headers.get_list("set-cookie"):
        name, value, attrs = parse_set_cookie(line)
        cookies.append(
            {"name": name, "value": cookie_value_shape(value, ctx.labeller), "attrs": attrs}
        )
    record["headers"] = headers
    record["cookies"] = cookies
    record["body_kind"] = body_kind
    if body_kind == "json":
        record["body"] = body
    return record


def drop_headers(record: dict[str, Any], ignore_headers: Iterable[str]) -> dict[str, Any]:
    ignored = {h.lower() for h in ignore_headers}
    headers = {k: v for k, v in record.get("headers", {}).items() if k not in ignored}
    return {**record, "headers": headers}


# --------------------------------------------------------------------------- public API


def load_golden(path: Path = GOLDEN_PATH) -> dict[str, list[dict[str, Any]]]:
    """Case name -> transcript recorded from the reference server."""
    golden: dict[str, list[dict[str, Any]]] = json.loads(path.read_text(encoding="utf-8"))
    return golden


def run_case(
    base_url: str,
    case: Case,
    ignore_headers: Iterable[str] = DEFAULT_IGNORED_HEADERS,
    timeout: float = 30.0,
) -> list[dict[str, Any]]:
    """Execute every step of ``case`` against ``base_url`` and return the normalised transcript."""
    ctx = RunContext.new(base_url)
    transcript: list[dict[str, Any]] = []
    with httpx.Client(follow_redirects=False, timeout=timeout) as client:
        for step in case.steps:
            request = build_request(client, base_url, step, ctx)
            response = client.send(request)
            client.cookies.clear()  # cookies live only in our per-case jars
            record = normalise_response(step, response, ctx)
            if step.keep_cookies:
                update_jar(ctx.jars.setdefault(step.jar, {}), response)
            save_variables(step, response, ctx)
            transcript.append(drop_headers(record, ignore_headers))
    return transcript


def diff_transcripts(
    expected: list[dict[str, Any]],
    actual: list[dict[str, Any]],
    ignore_headers: Iterable[str] = DEFAULT_IGNORED_HEADERS,
) -> list[str]:
    """Human-readable differences between two transcripts; empty when they match."""
    ignored = frozenset(h.lower() for h in ignore_headers)
    problems: list[str] = []
    if len(expected) != len(actual):
        problems.append(f"step count: expected {len(expected)}, got {len(actual)}")
    for index, (want, got) in enumerate(zip(expected, actual, strict=False), start=1):
        where = f"step {index} ({want.get('request')})"
        problems += [f"{where}: {p}" for p in _diff_step(want, got, ignored)]
    return problems


def _diff_step(
    want: Mapping[str, Any], got: Mapping[str, Any], ignored: frozenset[str]
) -> list[str]:
    problems = _diff_value("status", want.get("status"), got.get("status"))
    if want.get("compare", "full") == "status":
        return problems
    want_headers = {k: v for k, v in want.get("headers", {}).items() if k not in ignored}
    got_headers = {
        k: v
        for k, v in got.get("headers", {}).items()
        if k not in ignored and not (k not in want_headers and SECURITY_ADDITIONS.get(k) == v)
    }
    problems += _diff_value("headers", want_headers, got_headers)
    problems += _diff_value("body_kind", want.get("body_kind"), got.get("body_kind"))
    if want.get("body_kind") != "other":
        problems += _diff_value("cookies", want.get("cookies"), got.get("cookies"))
        problems += _diff_value("body", want.get("body"), got.get("body"))
    return problems


def _diff_value(path: str, want: Any, got: Any) -> list[str]:
    if isinstance(want, dict) and isinstance(got, dict):
        problems: list[str] = []
        for key in sorted(set(want) | set(got)):
            sub = f"{path}.{key}"
            if key not in got:
                problems.append(f"{sub}: missing (expected {_show(want[key])})")
            elif key not in want:
                problems.append(f"{sub}: unexpected {_show(got[key])}")
            else:
                problems += _diff_value(sub, want[key], got[key])
        return problems
    if isinstance(want, list) and isinstance(got, list) and len(want) == len(got):
        problems = []
        for index, (w, g) in enumerate(zip(want, got, strict=True)):
            problems += _diff_value(f"{path}[{index}]", w, g)
        return problems
    if want != got or type(want) is not type(got):
        return [f"{path}: expected {_show(want)}, got {_show(got)}"]
    return []


def _show(value: Any) -> str:
    text = json.dumps(value, ensure_ascii=False, sort_keys=True)
    return text if len(text) <= 300 else text[:300] + "…"
