"""`artagent call`: a simulated phone call over the ACS media protocol."""
