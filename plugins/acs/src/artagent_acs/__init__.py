"""ARTAgent channel for Azure Communication Services phone calls, and the `artagent call` simulator."""
