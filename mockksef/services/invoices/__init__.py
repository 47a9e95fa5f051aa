"""KSeF API area: invoices."""
