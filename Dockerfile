# syntax=docker/dockerfile:1.7
# tasks-api image: a builder installs the locked runtime dependencies into a venv with
# uv; the runtime is distroless Python (no shell, no package manager) running as the
# numeric non-root user 65532.
#
# Build: docker build --build-arg VERSION=1.2.3 --build-arg REVISION=$(git rev-parse HEAD) .
#
# Both bases are pinned by digest. The builder's Python must be the runtime's: the venv's
# interpreter is a symlink to /usr/bin/python3.11, which distroless python3-debian12 provides
# (Debian 12's python3.11). Bump both digests together.
ARG RUNTIME_IMAGE=gcr.io/distroless/python3-debian12:nonroot@sha256:db274ad45039fcee19d5cb5fc87700b64bce612f57c03b69f9a59b6bcd6545c8

FROM debian:12-slim@sha256:d5d3f9c23164ea16f31852f95bd5959aad1c5e854332fe00f7b3a20fcc9f635c AS builder

SHELL ["/bin/bash", "-o", "pipefail", "-c"]

# python3-venv only to bootstrap uv itself; the project venv is made by uv.
RUN apt-get update \
    && apt-get install -y --no-install-recommends \
        python3=3.11.2-1+b1 \
        python3-venv=3.11.2-1+b1 \
    && rm -rf /var/lib/apt/lists/*

ARG UV_VERSION=0.13.9
RUN python3 -m venv /opt/uv \
    && /opt/uv/bin/pip install --no-cache-dir --disable-pip-version-check "uv==${UV_VERSION}"

ENV UV_PYTHON=/usr/bin/python3.11 \
    UV_PYTHON_DOWNLOADS=never \
    UV_PROJECT_ENVIRONMENT=/opt/venv \
    UV_COMPILE_BYTECODE=1 \
    UV_LINK_MODE=copy \
    UV_NO_CACHE=1

WORKDIR /src

# Dependencies first: this layer is reused until pyproject.toml or uv.lock change.
COPY pyproject.toml uv.lock ./
RUN /opt/uv/bin/uv sync --frozen --no-dev --no-editable --no-install-project

# The project itself, built as a wheel (not editable) into the same venv. hatch-vcs
# reads the version from git, which is not in the build context: VERSION stands in.
ARG VERSION=0.0.0
COPY README.md alembic.ini ./
COPY service/ service/
COPY migrations/ migrations/
RUN SETUPTOOLS_SCM_PRETEND_VERSION="${VERSION}" \
    /opt/uv/bin/uv sync --frozen --no-dev --no-editable

# The wheel carries alembic.ini and migrations/ (service/_alembic), so `migrate` works from
# the installed package. Fail the build early if the package or its migrations are missing.
RUN /opt/venv/bin/python -c 'import service.cli, service.db.migrate as m; assert (m.PACKAGED_HOME / "alembic.ini").is_file()' \
    && mkdir -p /rootfs/run/tasks-api/metrics


FROM ${RUNTIME_IMAGE} AS runtime

ARG VERSION=0.0.0
ARG REVISION=unknown
ARG CREATED=1970-01-01T00:00:00Z
ARG SOURCE=https://github.com/tasks-api/tasks-api
ARG RUNTIME_IMAGE

LABEL org.opencontainers.image.title="tasks-api" \
      org.opencontainers.image.description="Kubernetes-native tasks service: FastAPI, async SQLAlchemy, Alembic, OpenTelemetry and Prometheus." \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.created="${CREATED}" \
      org.opencontainers.image.source="${SOURCE}" \
      org.opencontainers.image.url="${SOURCE}" \
      org.opencontainers.image.documentation="${SOURCE}#readme" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.base.name="${RUNTIME_IMAGE}"

COPY --from=builder /opt/venv /opt/venv
# The only writable paths at run time are /tmp and the Prometheus multiprocess directory
# (both emptyDirs in Kubernetes, on a read-only root filesystem).
COPY --from=builder --chown=65532:65532 /rootfs/run/tasks-api /run/tasks-api

# PYTHONSAFEPATH: `python -m` does not put the working directory on sys.path.
# ENVIRONMENT=production: a container started with only DATABASE_URL refuses to run without
# a JWT_SECRET of its own, instead of accepting tokens signed with the public development key.
ENV PATH="/opt/venv/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin" \
    ENVIRONMENT=production \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PYTHONSAFEPATH=1 \
    HOST=0.0.0.0 \
    PROMETHEUS_MULTIPROC_DIR=/run/tasks-api/metrics

# Read-only and empty of Python code; DATABASE_URL must point somewhere real (in
# Kubernetes the chart's Secret does; for a quick `docker run`, a SQLite file under /tmp).
WORKDIR /
USER 65532:65532

EXPOSE 8000 9000

# Exec form: there is no shell in the image. Kubernetes ignores HEALTHCHECK and uses
# the chart's probes; plain `docker run` gets the same liveness check.
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
    CMD ["python", "-m", "service", "probe", "http://127.0.0.1:8000/healthz", "--timeout", "4"]

ENTRYPOINT ["python", "-m", "service"]
CMD ["serve"]
