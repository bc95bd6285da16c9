"""Scripts that derive facts from the source material in ../shared into stacks/data/."""
