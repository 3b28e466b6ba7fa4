"""Serving the session queue: workers (`process`), the dispatcher (wakes, fair admission,
takeover), leases (`fence`) and DBOS (`durable`). Import the modules themselves: this package
loads nothing, so the catalog can name a worker without importing DBOS."""
