# syntax=docker/dockerfile:1
# Production image of auth-service.
#   docker build -t auth-service:0.1.0 .
#   docker run -p 3000:3000 --env-file .env -e DATABASE_URL=postgresql://… auth-service:0.1.0
# DATABASE_URL must be set: the embedded PostgreSQL is for development only, not for images.

# ---- builder: a virtual environment from the hashed runtime lock, then the project itself
FROM python:3.11-slim-bookworm AS builder

ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    UV_NO_CACHE=1 \
    UV_COMPILE_BYTECODE=1 \
    UV_LINK_MODE=copy \
    UV_PYTHON_DOWNLOADS=never

# The same uv as .ci/run.
RUN pip install --no-cache-dir "uv==0.13.9"

WORKDIR /build
RUN uv venv --python /usr/local/bin/python3.11 /opt/venv

# Dependencies first (cached while the lock is unchanged); every wheel checked against its hash.
COPY requirements-runtime.lock ./
RUN uv pip sync --python /opt/venv/bin/python --require-hashes requirements-runtime.lock

COPY pyproject.toml README.md ./
COPY src ./src
RUN uv pip install --python /opt/venv/bin/python --no-deps .

# ---- runtime: the slim base, the virtual environment, an unprivileged user; nothing else
FROM python:3.11-slim-bookworm AS runtime

LABEL org.opencontainers.image.title="auth-service" \
      org.opencontainers.image.description="Authentication microservice speaking Better Auth's REST protocol" \
      org.opencontainers.image.licenses="MIT"

ENV PATH=/opt/venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    ENVIRONMENT=production

RUN groupadd --system --gid 10001 app \
    && useradd --system --uid 10001 --gid app --no-create-home \
       --home-dir /nonexistent --shell /usr/sbin/nologin app

COPY --from=builder /opt/venv /opt/venv

WORKDIR /app
USER 10001:10001
EXPOSE 3000

# curl is not in the slim image: python's urllib asks the liveness endpoint.
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:3000/live', timeout=4)"]

CMD ["auth-service", "serve", "--host", "0.0.0.0", "--port", "3000"]
