"""Provider adapters: the only code that knows an upstream's wire format."""
