# Built the way Airbyte builds Python connectors: on its Python connector base image, running the console script.
FROM docker.io/airbyte/python-connector-base:4.0.2@sha256:9fdb1888c4264cf6fee473649ecb593f56f58e5d0096a87ee0b231777e2e3e73

WORKDIR /airbyte/integration_code
COPY pyproject.toml README.md ./
COPY source_x_organic_analytics ./source_x_organic_analytics
RUN pip install --no-cache-dir .

ENV AIRBYTE_ENTRYPOINT="source-x-organic-analytics"
ENTRYPOINT ["source-x-organic-analytics"]
