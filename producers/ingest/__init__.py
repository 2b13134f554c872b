"""The ingest endpoint: a PBX posts call events over HTTP, in VoipNow's own notification format or as JSON."""
