"""KSeF API area: testdata."""
