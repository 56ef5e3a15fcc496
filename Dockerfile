# One image for the workers, the CLI and the dashboard (see docker-compose.yml):
#
#   docker compose build                                  # or: docker build -t hpsearch .
#   docker build --build-arg PRETRAINED="MobileNetV2 ResNet50" -t hpsearch .   # bake ImageNet weights in
#
# TensorFlow brings CUDA and cuDNN as pinned pip packages (tensorflow[and-cuda]), so a GPU host
# needs only the NVIDIA driver and the NVIDIA container toolkit. Layers go from the largest and
# least often changed (TensorFlow) to the smallest and most often changed (hpsearch's code).

# The base: the official Python image. BASE_IMAGE exists for hosts that cannot pull it (this repo's
# container test builds on a stand-in made from Debian packages, since Docker Hub is out of reach
# there); anything else must provide `python` and `pip` on PATH and Debian's groupadd/useradd.
ARG BASE_IMAGE=python:3.11-slim-bookworm
FROM ${BASE_IMAGE}

ENV PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_ROOT_USER_ACTION=ignore \
    TF_CPP_MIN_LOG_LEVEL=2

# 1. TensorFlow with its CUDA libraries: gigabytes, pinned, changes least.
RUN pip install "tensorflow[and-cuda]==2.21.0"

# 2. The user every process runs as (not root), and the folders it owns: the Keras cache
#    (KERAS_HOME: ImageNet weights, keras.datasets and TFDS downloads), the decoded-dataset cache
#    (HPSEARCH_CACHE: dir: datasets decoded once per host), the artifact store the compose file
#    mounts (HPSEARCH_ARTIFACTS: kept models, checkpoints, images) and the working folder.
#    UID/GID 1000 match the first user of most Linux hosts, so bind-mounted folders such as ./out
#    are writable from both sides; pass other values with --build-arg.
ARG HPSEARCH_UID=1000
ARG HPSEARCH_GID=1000
RUN groupadd --gid "${HPSEARCH_GID}" hpsearch \
 && useradd --uid "${HPSEARCH_UID}" --gid hpsearch --create-home --shell /bin/bash hpsearch \
 && mkdir -p /home/hpsearch/.keras/models /home/hpsearch/.keras/datasets /home/hpsearch/.cache/hpsearch \
            /home/hpsearch/artifacts /work/data /out \
 && chown -R hpsearch:hpsearch /home/hpsearch /work /out
ENV HOME=/home/hpsearch \
    KERAS_HOME=/home/hpsearch/.keras \
    HPSEARCH_CACHE=/home/hpsearch/.cache/hpsearch \
    TFDS_DATA_DIR=/home/hpsearch/.keras/datasets/tfds

# 3. ImageNet weights baked into the image (optional): keras.applications names, or hpsearch's
#    backbone names, separated by spaces or commas, e.g. PRETRAINED="MobileNetV2 ResNet50".
#    Downloaded as the user, so the cache stays writable.
ARG PRETRAINED=""
COPY deploy/docker/fetch_weights.py /opt/hpsearch-build/
USER ${HPSEARCH_UID}:${HPSEARCH_GID}
RUN python /opt/hpsearch-build/fetch_weights.py ${PRETRAINED}
USER root

# 4. hpsearch's other dependencies, read from pyproject.toml (EXTRAS="tfds" adds that group).
ARG EXTRAS=""
COPY pyproject.toml deploy/docker/pyproject_requirements.py /opt/hpsearch-build/
RUN python /opt/hpsearch-build/pyproject_requirements.py /opt/hpsearch-build/pyproject.toml ${EXTRAS} \
        > /opt/hpsearch-build/requirements.txt \
 && pip install -r /opt/hpsearch-build/requirements.txt

# 5. hpsearch itself, last: a code change rebuilds only these small layers.
COPY pyproject.toml README.md /opt/hpsearch-src/
COPY trainers /opt/hpsearch-src/trainers
COPY spaces /opt/hpsearch-src/spaces
COPY search /opt/hpsearch-src/search
RUN pip install --no-deps /opt/hpsearch-src \
 && rm -rf /opt/hpsearch-src /opt/hpsearch-build

WORKDIR /work
# Numeric, so Kubernetes' runAsNonRoot can verify it.
USER ${HPSEARCH_UID}:${HPSEARCH_GID}
EXPOSE 8080
# Exec form: hpsearch is the container's main process (under `init: true`, tini's only child),
# so SIGTERM from `docker stop` reaches Python and the worker stops gracefully.
ENTRYPOINT ["hpsearch"]
CMD ["--help"]
