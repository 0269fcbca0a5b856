"""The engine thread: ``engine_worker.EngineWorker`` (requests in, the latest suggestion wins; model loading and
jobs), the ``events`` it delivers, and the latency statistics the status bar shows."""
