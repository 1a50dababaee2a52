"""Public schemas and loaders for the bundled demo data."""
