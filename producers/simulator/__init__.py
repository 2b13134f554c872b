"""The PBX simulator: realistic, reproducible multi-tenant call traffic, written through the SDK."""
