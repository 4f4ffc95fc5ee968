"""Better Auth's rate limiter (spec §8.2): rules, stores, and the ASGI middleware.

Wired into the application by `install.install_rate_limiting`.
"""
