"""Speed and evidence scripts; ``python -m benchmarks.report`` writes the docs' tables from their JSON artifacts."""
