"""KSeF API area: peppol."""
