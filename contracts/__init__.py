"""The contract harness: the official OpenAPI checked against a KSeF server."""
