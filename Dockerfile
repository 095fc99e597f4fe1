# Teleconsulta: one image that runs `teleconsulta serve`, the same entry point as scripts/start.sh.
# Media uses UDP ports chosen at run time, so run it with host networking (see docs/operations.md).
# No key is baked in: give TC_SECRET_KEY (and TC_PUBLIC_URL) at run time; `serve` refuses to start
# without a key, `serve --demo` runs with a throwaway one.

FROM node:20-bookworm-slim AS assets
WORKDIR /build
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund

FROM python:3.11-slim-bookworm
ENV PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    TC_HOST=0.0.0.0 \
    TC_PORT=8080 \
    TC_DATABASE_URL=sqlite+aiosqlite:////data/teleconsulta.sqlite3
WORKDIR /app
COPY pyproject.toml README.md ./
COPY rooms ./rooms
COPY services ./services
COPY signaling ./signaling
COPY media ./media
COPY records ./records
COPY web ./web
COPY notifications ./notifications
COPY cluster ./cluster
# The project itself, with dependency ranges pinned in pyproject.toml.
# hadolint ignore=DL3013
RUN pip install ".[postgres]" \
    && useradd --system --uid 10001 --home-dir /app teleconsulta \
    && mkdir /data && chown teleconsulta /data
COPY --from=assets /build/node_modules ./node_modules
USER 10001
VOLUME ["/data"]
EXPOSE 8080
HEALTHCHECK --interval=30s --timeout=3s CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8080/healthz')"]
ENTRYPOINT ["teleconsulta"]
CMD ["serve"]
