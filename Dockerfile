# Order Gateway: `gateway serve` as a non-root user. Mount the config and pass secrets as env.
# Build: docker build -t order-gateway:local .   (compose.yaml builds it the same way)
# Run:   docker run -p 8080:8080 -e WALDUR_TOKEN -e IVCAP_TOKEN -e ARROW_API_KEY -e GATEWAY_CURSOR_SECRET
#          -v $PWD/config/gateway.yaml:/etc/order-gateway/gateway.yaml:ro order-gateway:local
# It installs from pyproject.toml as .ci/run does (without the test extra); see
# tests/unit/test_deploy_files.py, which keeps the two in step.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    GATEWAY_CONFIG=/etc/order-gateway/gateway.yaml

WORKDIR /app
COPY pyproject.toml README.md ./
COPY gateway ./gateway
RUN pip install --no-cache-dir . \
    && useradd --system --uid 10001 --no-create-home gateway
COPY config/gateway.example.yaml /etc/order-gateway/gateway.yaml

USER gateway
EXPOSE 8080
CMD ["gateway", "serve", "--host", "0.0.0.0", "--port", "8080"]
