"""Pre-signed upload/download URLs (batch parts, export parts): not API operations.

Served under ``/storage/{env}/…`` beside the API, never under ``/v2``; no bearer,
no rate limit, as the real blob storage behind KSeF.
"""
