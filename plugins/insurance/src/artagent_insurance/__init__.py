"""ARTAgent's insurance vertical: verify the caller, take a first notice of loss for an auto
accident, answer questions about the caller's own policy; escalate emergencies and requests for
a person. Agents in ``agents/``, tools in :mod:`.tools`, demo policyholders in ``data/``."""
