# syntax=docker/dockerfile:1
# Vallum container image: multi-stage, non-root, with a health check.
#   docker build -t vallum:0.1.0 .
#   docker run --rm -p 8080:8080 vallum:0.1.0 demo --host 0.0.0.0
# The production configuration is mounted at /etc/vallum/vallum.yaml (docs/deployment.md).

ARG PYTHON_IMAGE=python:3.11-slim-bookworm

FROM ${PYTHON_IMAGE} AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /src
COPY pyproject.toml README.md ./
COPY src ./src
RUN python -m pip wheel --wheel-dir /wheels '.[redis,postgres]'

FROM ${PYTHON_IMAGE} AS runtime
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1
RUN groupadd --system --gid 10001 vallum \
    && useradd --system --uid 10001 --gid vallum --home-dir /var/lib/vallum \
       --shell /usr/sbin/nologin vallum \
    && mkdir -p /etc/vallum /var/lib/vallum/spool \
    && chown -R vallum:vallum /var/lib/vallum
COPY --from=build /wheels /wheels
RUN python -m pip install --no-index --find-links=/wheels /wheels/*.whl && rm -rf /wheels
COPY deploy/vallum.yaml /etc/vallum/vallum.yaml
USER 10001:10001
WORKDIR /var/lib/vallum
EXPOSE 8080 8081
HEALTHCHECK --interval=10s --timeout=3s --start-period=20s --retries=3 \
    CMD ["python", "-c", "import sys, urllib.request; sys.exit(urllib.request.urlopen('http://127.0.0.1:8080/healthz', timeout=2).status != 200)"]
ENTRYPOINT ["vallum"]
CMD ["serve", "--config", "/etc/vallum/vallum.yaml"]
