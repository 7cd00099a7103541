"""ARTAgent analytics: per-call and global metrics kept in Redis, fed by the event bus."""
