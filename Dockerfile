# tokensim's verification server in a container.
#
#   docker build -t tokensim .
#   docker run --rm -p 8000:8000 -v tokensim-data:/data tokensim            # SQLite in the volume
#   docker compose up --build                                               # with PostgreSQL
#
# The volume /data holds the master key (master.key) and the support token (support.token), created on
# first start: keep it, or set TOKENSIM_MASTER_KEY and TOKENSIM_SUPPORT_TOKEN. Options after the image
# name go to `tokensim serve` (e.g. `--db postgresql+psycopg://...`, `--workers 2`, `--demo`).

# The Python the project is tested with (requires-python >= 3.11).
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /build
COPY pyproject.toml README.md LICENSE ./
COPY protocol ./protocol
COPY emulators ./emulators
COPY server ./server
# A regular (not editable) install: the image needs no source tree, only the installed package.
RUN pip install . \
    && cd / \
    && rm -rf /build \
    && useradd --system --uid 10001 --home-dir /data --shell /usr/sbin/nologin tokensim \
    && install -d -o tokensim -g tokensim -m 0700 /data

USER tokensim
WORKDIR /data
VOLUME ["/data"]
EXPOSE 8000

HEALTHCHECK --interval=10s --timeout=3s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/v1/health', timeout=2)"]

# Listen on every interface of the container (the port is published by `docker run -p` / compose).
ENTRYPOINT ["tokensim", "serve", "--host", "0.0.0.0", "--port", "8000", "--data-dir", "/data"]
CMD []
