"""Request-by-request compatibility harness recorded from the real Better Auth."""
