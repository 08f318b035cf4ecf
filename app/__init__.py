"""kdmon application layer: configuration, services and the CLI."""
