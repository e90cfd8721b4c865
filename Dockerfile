# mnistlab: the API and the training worker in one image (entrypoint `mnistlab`).
# Build:  docker build -t mnistlab .                     (torch from PyPI: its Linux x86-64 wheels carry CUDA)
# Here:   scripts/container-smoke builds it with podman from a locally made Debian base.
ARG BASE_IMAGE=python:3.11-slim

FROM ${BASE_IMAGE} AS build
# Optional package sources for offline builds (they stay in this stage, not in the final image).
ARG PIP_FIND_LINKS=""
ARG PIP_EXTRA_INDEX_URL=""
ARG PIP_CONSTRAINT=""
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_FIND_LINKS=${PIP_FIND_LINKS} \
    PIP_EXTRA_INDEX_URL=${PIP_EXTRA_INDEX_URL} PIP_CONSTRAINT=${PIP_CONSTRAINT}
RUN python3 -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH
WORKDIR /src
# Dependencies only: this stage changes when pyproject.toml does, not when the source does.
COPY pyproject.toml ./
RUN mkdir -p mnistlab service workers models_store \
 && touch README.md mnistlab/__init__.py service/__init__.py workers/__init__.py models_store/__init__.py \
 && pip install . && pip uninstall -y mnistlab

FROM ${BASE_IMAGE}
# The 5 GB environment is its own layer, reused as long as the dependencies are unchanged...
COPY --from=build /opt/venv /opt/venv
RUN useradd --uid 10001 --create-home --shell /usr/sbin/nologin mnistlab \
 && mkdir -p /data && chown mnistlab:mnistlab /data \
 && printf '#!/bin/sh\nexec python3 -m mnistlab.cli "$@"\n' > /usr/local/bin/mnistlab \
 && chmod 755 /usr/local/bin/mnistlab
# ...and the source (with the shipped models) comes last: a source change rebuilds only this small layer.
COPY mnistlab /app/mnistlab
COPY service /app/service
COPY workers /app/workers
COPY models_store /app/models_store
# Swagger UI and ReDoc (pinned, checked): copied with service/ when scripts/setup fetched them, else fetched here.
COPY scripts/vendor_web.py /app/scripts/vendor_web.py
RUN python3 /app/scripts/vendor_web.py --dest /app/service/static/vendor
ENV PATH=/opt/venv/bin:$PATH PYTHONPATH=/app MNISTLAB_HOME=/data PYTHONUNBUFFERED=1
USER mnistlab
WORKDIR /data
VOLUME /data
EXPOSE 8000
HEALTHCHECK --interval=10s --timeout=5s --start-period=60s --retries=3 \
  CMD ["python3", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/health', timeout=4)"]
ENTRYPOINT ["mnistlab"]
CMD ["serve", "--host", "0.0.0.0", "--workers", "0"]
