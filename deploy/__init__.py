"""Deployment: the embedded local stack (deploy/local) and Kubernetes manifests (deploy/k8s)."""
