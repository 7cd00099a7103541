"""The event bus: an outbox that publishes to a Redis Stream, and consumer-group subscribers."""

from artagent.bus.outbox import CallEmitter, Outbox
from artagent.bus.subscribers import Subscription

__all__ = ["CallEmitter", "Outbox", "Subscription"]
