"""ksefclient: a production client for KSeF 2.0."""
