"""Rack worker: rackd entry point and the Celery tasks that run on rack queues (rack side)."""
