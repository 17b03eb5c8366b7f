"""Configuration: the tenant file and in-repo Zuul YAML become a validated Layout."""
