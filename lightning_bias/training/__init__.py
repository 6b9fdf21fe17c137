"""Running training reliably: strategies (CPU-capable DeepSpeed), exact resume, the dead-rank watchdog, checkpoint checks."""
