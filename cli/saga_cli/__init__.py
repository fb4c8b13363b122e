"""Developer tooling for the order saga: the ``saga`` command and the embedded engine. Never deployed."""
