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
# Dependency layer first: editing the source does not reinstall torch.
COPY pyproject.toml README.md ./
RUN mkdir -p mnistlab service workers models_store \
 && touch mnistlab/__init__.py service/__init__.py workers/__init__.py models_store/__init__.py \
 && pip install . && pip uninstall -y mnistlab
COPY mnistlab mnistlab
COPY service service
COPY workers workers
COPY models_store models_store
RUN pip install --no-deps . && rm -rf /src

FROM ${BASE_IMAGE}
COPY --from=build /opt/venv /opt/venv
RUN useradd --uid 10001 --create-home --shell /usr/sbin/nologin mnistlab \
 && mkdir -p /data && chown mnistlab:mnistlab /data
ENV PATH=/opt/venv/bin:$PATH MNISTLAB_HOME=/data PYTHONUNBUFFERED=1
USER mnistlab
WORKDIR /data
VOLUME /data
EXPOSE 8000
HEALTHCHECK --interval=10s --timeout=5s --start-period=60s --retries=3 \
  CMD ["python3", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/health', timeout=4)"]
ENTRYPOINT ["mnistlab"]
CMD ["serve", "--host", "0.0.0.0", "--workers", "0"]
