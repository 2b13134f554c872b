"""Delivery workers: HTTP notifications with retries, dead letters, signing and isolation."""
