"""KSeF API area: sessions."""
