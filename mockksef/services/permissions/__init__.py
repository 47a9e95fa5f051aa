"""KSeF API area: permissions."""
