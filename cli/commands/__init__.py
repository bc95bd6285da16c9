"""One module per command or command group of the `mlplatform` CLI (registered in cli/main.py)."""
