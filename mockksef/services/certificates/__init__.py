"""KSeF API area: certificates."""
