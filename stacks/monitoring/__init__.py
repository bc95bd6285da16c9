"""Model monitoring jobs that run in the cluster: the drift job (drift.py) and its tables (store.py)."""
