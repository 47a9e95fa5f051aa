"""KSeF API area: limits."""
