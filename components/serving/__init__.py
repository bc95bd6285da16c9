"""Model serving: what runs next to a served model (Pulumi-free modules the runtimes import)."""
