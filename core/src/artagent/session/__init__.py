"""Per-call sessions: what a call knows (state that outlives a worker) and how it is driven."""
