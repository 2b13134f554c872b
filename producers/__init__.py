"""Producers: the CallEvent producer SDK, the ingest endpoint, the PBX simulator, the demo."""
