"""Small shared utilities: run records, checkpoint I/O, config checks."""
