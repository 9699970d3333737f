# gpfn in a container: parse genotype files and predict breeding values.
#   docker build -t gpfn .
#   docker run --rm gpfn demo -o /tmp/demo      (the quick start: bundled example, shipped model)
#   docker run --rm -v "$PWD:/data" gpfn parse genotypes.vcf.gz --phenotypes pheno.csv -o train.gpfn
#   docker run --rm -v "$PWD:/data" gpfn predict --train train.gpfn --target target.gpfn -o out.csv   (shipped model)
#   GPU: docker run --rm --gpus all -v "$PWD:/data" gpfn predict ... --device cuda   (build with a CUDA torch, see README)
#
# The install steps are those of .ci/run (torch first, then the project), so CI exercises them;
# only the torch wheel's source differs (the CPU index here, local disk in CI).
#
# Offline builds (no registry, no package index): `.ci/container` builds this file unchanged
# with podman, from a local Debian base (--build-arg BASE=...) and a wheelhouse mounted at
# /wheels (podman build -v WHEELHOUSE:/wheels), which pip then uses instead of the indexes.
ARG BASE=python:3.11-slim
FROM ${BASE}

ARG TORCH_VERSION=2.13.0
ARG TORCH_INDEX=https://download.pytorch.org/whl/cpu

ENV PIP_NO_CACHE_DIR=1 PYTHONDONTWRITEBYTECODE=1 GPFN_MODELS=/opt/gpfn/models GPFN_CACHE=/tmp/gpfn-cache \
    PATH=/opt/venv/bin:$PATH NUMBA_CACHE_DIR=/tmp/numba-cache

WORKDIR /opt/gpfn/src
COPY pyproject.toml README.md LICENSE ./
COPY gpfn_core ./gpfn_core
COPY plugins ./plugins
COPY cli ./cli
RUN python3 -m venv /opt/venv \
 && if [ -d /wheels ]; then export PIP_NO_INDEX=1 PIP_FIND_LINKS=/wheels; fi \
 && python -m pip install --index-url "${TORCH_INDEX}" "torch==${TORCH_VERSION}" \
 && python -m pip install . \
 && mkdir -p "${GPFN_MODELS}" \
 && gpfn --version && gpfn plugins && gpfn models --brief \
 && gpfn demo -o /tmp/gpfn-demo && rm -rf /tmp/gpfn-demo /tmp/gpfn-cache

# Shipped models come inside the package (gpfn_core/models); more can be mounted or
# copied into $GPFN_MODELS, which `gpfn predict --population-type` searches first.

WORKDIR /data
ENTRYPOINT ["gpfn"]
CMD ["--help"]
