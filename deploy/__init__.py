"""Deployment: the local real stack (`deploy/local`), Kubernetes manifests and container files."""
