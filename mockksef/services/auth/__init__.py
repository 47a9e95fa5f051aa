"""KSeF API area: auth."""
