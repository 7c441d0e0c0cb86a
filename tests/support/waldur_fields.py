"""Facts about Waldur order bodies that several test suites check (waldur.md §3, §8)."""

from __future__ import annotations

# Nullable datetimes the 8.1.3 client silently accepts as any string (§8): tests parse them.
NULLABLE_DATETIMES = (
    "completed_at",
    "consumer_reviewed_at",
    "provider_reviewed_at",
    "error_updated_at",
    "output_updated_at",
    "provider_message_updated_at",
    "consumer_message_updated_at",
)
