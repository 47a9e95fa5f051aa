"""The ``/_mock`` control plane (never an official path)."""
