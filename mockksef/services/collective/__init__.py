"""KSeF API area: collective."""
