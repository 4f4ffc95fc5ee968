"""Request by request, our answers match those recorded from the real Better Auth 1.7.25.

The golden transcripts in tests/compat/anchor_golden.json were recorded from the seed stack
(`python tests/compat/record_anchor.py <anchor url>`); volatile values (ids, tokens, dates,
e-mails, the origin) are normalised, cookies compared by name, attributes and value shape.
"""

from __future__ import annotations

import pytest

from tests.compat.cases import CASES, Case
from tests.compat.harness import diff_transcripts, load_golden, run_case
from tests.support.server import LiveServer

GOLDEN = load_golden()
IMPLEMENTED_PLUGINS: frozenset[str] = frozenset({"bearer", "jwt"})

# Where we answer differently from the reference on purpose; each has its own test.
DELIBERATE_DIFFERENCES = {
    "routing.forget_password.post": (
        "POST /forget-password is kept as an alias of /request-password-reset for older clients "
        "(spec §4 allows it; tests/test_password_reset.py::test_forget_password_alias)"
    ),
}

COMPARED = [
    case
    for case in CASES
    if not case.reference_bug
    and case.requires <= IMPLEMENTED_PLUGINS
    and case.name not in DELIBERATE_DIFFERENCES
]
CORRECTED = [case for case in CASES if case.reference_bug]


@pytest.mark.parametrize("case", COMPARED, ids=lambda case: case.name)
def test_same_answers_as_better_auth(live_server: LiveServer, case: Case) -> None:
    actual = run_case(live_server.url, case, ignore_headers=())
    problems = diff_transcripts(GOLDEN[case.name], actual, ignore_headers=())
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("case", CORRECTED, ids=lambda case: case.name)
def test_reference_bugs_are_answered_with_a_validation_error(
    live_server: LiveServer, case: Case
) -> None:
    """Where the reference stores junk or answers 500, we answer a clear 400 and store nothing."""
    transcript = run_case(live_server.url, case)
    updates = [step for step in transcript if step["request"] == "POST /api/auth/update-user"]
    assert updates, transcript
    for step in updates:
        assert step["status"] == 400, step
        assert step["body"]["code"] == "VALIDATION_ERROR", step
    for step in transcript:
        if step["request"] == "GET /api/auth/get-session" and step["body"]:
            assert step["body"]["user"]["name"] == "Compat User", step
