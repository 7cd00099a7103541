"""artagent-flows: the offline model router that runs an agent's ``form`` with no LLM.

The understanding of what a caller said (values, yes/no, corrections, intents) lives in
:mod:`artagent_flows.extract`; the flow engine built on it asks each missing field and calls the
form's completion tool.
"""
