"""Platform packages: one per platform, each exposing ``ADAPTER``."""
