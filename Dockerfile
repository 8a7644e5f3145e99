# syntax=docker/dockerfile:1
# kite-algo-supervisor image: the daemon, the standalone paper sandbox and the example plugins.
#   docker build -t kite-supervisor .
#   docker run --rm -p 9464:9464 -e KITE_ALGO_WORKER_TOKEN=... -v ./config.yaml:/etc/kite-supervisor/config.yaml:ro kite-supervisor
# Stage 1 builds wheels (compilers live only here); stage 2 installs them into a slim runtime.

ARG PYTHON_VERSION=3.11

FROM python:${PYTHON_VERSION}-slim-bookworm AS build
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1
RUN apt-get update \
 && apt-get install -y --no-install-recommends build-essential \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY pyproject.toml README.md ./
COPY supervisor ./supervisor
COPY plugins/kite_algo_examples ./plugins/kite_algo_examples
RUN pip wheel --wheel-dir /wheels . ./plugins/kite_algo_examples

FROM python:${PYTHON_VERSION}-slim-bookworm AS runtime
ENV PYTHONUNBUFFERED=1 PYTHONDONTWRITEBYTECODE=1 PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1 \
    PATH=/opt/venv/bin:$PATH KITE_SUPERVISOR_STATE_DIR=/var/lib/kite-supervisor
RUN groupadd --system --gid 10001 kite \
 && useradd --system --uid 10001 --gid kite --home-dir /var/lib/kite-supervisor --shell /usr/sbin/nologin kite \
 && mkdir -p /var/lib/kite-supervisor /etc/kite-supervisor \
 && chown kite:kite /var/lib/kite-supervisor \
 && chmod 0700 /var/lib/kite-supervisor
COPY --from=build /wheels /wheels
RUN python -m venv /opt/venv && /opt/venv/bin/pip install /wheels/*.whl && rm -rf /wheels
COPY deploy/compose/supervisor.yaml /etc/kite-supervisor/config.yaml
COPY deploy/docker/healthcheck.py /usr/local/lib/kite-supervisor/healthcheck.py
USER 10001:10001
WORKDIR /var/lib/kite-supervisor
VOLUME ["/var/lib/kite-supervisor"]
EXPOSE 9464 18777
# Probes what the container runs: the daemon's /healthz (port 9464, or $KITE_SUPERVISOR_HEALTH_PORT)
# or the standalone sandbox's health route (its --port)
HEALTHCHECK --interval=15s --timeout=5s --start-period=30s --retries=3 \
  CMD ["python", "/usr/local/lib/kite-supervisor/healthcheck.py"]
# SIGTERM -> graceful shutdown (grace, then every session released); give it stop_grace_period >= 45s
STOPSIGNAL SIGTERM
ENTRYPOINT ["kite-supervisor", "--log-format", "json"]
CMD ["run", "--config", "/etc/kite-supervisor/config.yaml"]
