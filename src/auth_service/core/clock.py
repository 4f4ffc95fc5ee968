"""Time as Better Auth stores it: naive UTC with millisecond precision."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta


def utcnow() -> datetime:
    now = datetime.now(UTC).replace(tzinfo=None)
    return now.replace(microsecond=now.microsecond - now.microsecond % 1000)


def to_naive_utc(value: datetime) -> datetime:
    if value.tzinfo is not None:
        value = value.astimezone(UTC).replace(tzinfo=None)
    return value


def iso_js(value: datetime) -> str:
    """JavaScript's `Date.prototype.toJSON`: `2026-11-30T00:22:16.344Z`."""
    if value.tzinfo is not None:
        value = to_naive_utc(value)
    return value.isoformat(timespec="milliseconds") + "Z"


def seconds(value: int) -> timedelta:
    return timedelta(seconds=value)


def as_db_time(value: datetime, with_time_zone: bool) -> datetime:
    """Naive UTC for `timestamp` columns, aware UTC for `timestamptz` ones."""
    value = to_naive_utc(value)
    return value.replace(tzinfo=UTC) if with_time_zone else value
