"""tasks-api: a Kubernetes-native tasks service."""
