"""Local fake servers that speak the wire protocol of cloud services, for tests."""
