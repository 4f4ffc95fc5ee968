"""auth-service: an authentication microservice speaking Better Auth's REST protocol."""

__version__ = "0.1.0"
