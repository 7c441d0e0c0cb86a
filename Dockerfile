# Order Gateway: `gateway serve` as a non-root user. Mount the config and pass secrets as env.
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
