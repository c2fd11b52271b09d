"""Source adapters: each turns one app's telemetry into batches of typed records.

`registry.build_source` picks the adapter for a config; `base` has what every adapter
shares (the poll context, errors, the normaliser's hand-off); `normalise` turns decoded
records into the store's columns. The package itself imports none of them, so a reader
of dumps pays for the normaliser only, not for the HTTP client and every adapter.
"""
