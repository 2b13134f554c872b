"""The `callapi-events` command line: one entry point for every component."""
