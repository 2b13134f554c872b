"""The Faust stream processor: call events joined with per-extension request config."""
