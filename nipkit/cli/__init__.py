"""The `nipkit` command line."""
