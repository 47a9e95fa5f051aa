"""KSeF API area: tokens."""
