"""S3, the DeltaGlider format and xdelta3. Knows nothing of the terminal UI."""
