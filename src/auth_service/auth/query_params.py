"""Query-string validation of the GET endpoints, with zod's issue texts (`[query.x] …`)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from auth_service.core.errors import APIError, ErrorCode


def query_strings(
    query: Mapping[str, str], *, required: Iterable[str] = (), optional: Iterable[str] = ()
) -> dict[str, str]:
    """The named parameters that are present; 400 VALIDATION_ERROR naming each missing one."""
    values: dict[str, str] = {}
    issues: list[str] = []
    for name in required:
        value = query.get(name)
        if value is None:
            issues.append(f"[query.{name}] Invalid input: expected string, received undefined")
        else:
            values[name] = value
    for name in optional:
        value = query.get(name)
        if value is not None:
            values[name] = value
    if issues:
        raise APIError(400, ErrorCode.VALIDATION_ERROR, "; ".join(issues))
    return values
