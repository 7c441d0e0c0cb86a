# Order Gateway: `gateway serve` as a non-root user. Mount the config and pass secrets as env.
# Build: docker build -t order-gateway:local .   (compose.yaml builds it the same way)
# Run:   docker run -p 8080:8080 -e WALDUR_TOKEN -e IVCAP_TOKEN -e ARROW_API_KEY -e GATEWAY_CURSOR_SECRET
#          -v $PWD/config/gateway.yaml:/etc/order-gateway/gateway.yaml:ro order-gateway:local
# It installs from requirements-install.lock (pip, setuptools) and requirements.lock,
# hash-checked, as .ci/run does (without the test and dev tools of requirements-dev.lock), then
# the project itself with no resolution and no fetch; tests/unit/test_deploy_files.py keeps the
# two in step.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    GATEWAY_CONFIG=/etc/order-gateway/gateway.yaml

WORKDIR /app
COPY pyproject.toml README.md requirements-install.lock requirements.lock ./
COPY gateway ./gateway
RUN pip install --no-cache-dir --require-hashes --no-deps -r requirements-install.lock \
    && pip install --no-cache-dir --require-hashes --no-deps -r requirements.lock \
    && pip install --no-cache-dir --no-deps --no-build-isolation . \
    && useradd --system --uid 10001 --no-create-home gateway
COPY config/gateway.example.yaml /etc/order-gateway/gateway.yaml

USER gateway
EXPOSE 8080
CMD ["gateway", "serve", "--host", "0.0.0.0", "--port", "8080"]
