"""The timer driver: pipelines triggered on a schedule (Zuul's ``timer`` trigger)."""
