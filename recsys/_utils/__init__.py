"""Internal helpers shared across the library: threads, progress, logging."""
