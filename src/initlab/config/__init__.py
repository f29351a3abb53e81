"""The errors a bad config raises, the registries' lookup, and the trainer's and launchers'
settings."""
