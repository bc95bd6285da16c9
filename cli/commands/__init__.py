"""One module per command or group of the `mlplatform` CLI; cli/main.py registers each with `cli.add_command`."""
