# The connector's image, built the way Airbyte builds Python connectors (its docker-images/Dockerfile.python-connector):
# install in a throwaway stage, copy /usr/local into a clean base image, run the console script as the base image's
# non-root user `airbyte`.
ARG BASE_IMAGE=docker.io/airbyte/python-connector-base:4.0.2@sha256:9fdb1888c4264cf6fee473649ecb593f56f58e5d0096a87ee0b231777e2e3e73

FROM ${BASE_IMAGE} AS builder
# A build without a package index passes --build-arg PIP_NO_INDEX=1 and PIP_FIND_LINKS=<a wheelhouse in the build
# context> (scripts/build_image.sh does); pip reads both from the environment. Unset, pip uses PyPI.
ARG PIP_NO_INDEX
ARG PIP_FIND_LINKS
WORKDIR /airbyte/integration_code
# requirements.lock pins every dependency to the versions the test suite ran. Installed first, in their own layer,
# they are reinstalled only when the lock changes, not at every change of the connector's code.
COPY requirements.lock ./
COPY .wheelhouse ./.wheelhouse
RUN pip install --no-cache-dir --requirement requirements.lock
COPY . ./
RUN pip install --no-cache-dir --constraint requirements.lock .

FROM ${BASE_IMAGE}
WORKDIR /airbyte/integration_code
COPY --from=builder /usr/local /usr/local
USER airbyte
ENV AIRBYTE_ENTRYPOINT="source-x-organic-analytics"
ENTRYPOINT ["source-x-organic-analytics"]
