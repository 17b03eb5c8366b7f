"""The scheduler: event loop, pipeline managers and their pure decisions."""
