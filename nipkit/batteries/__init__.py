"""The built-in batteries of real channels, as YAML files (`nipkit evaluate --battery NAME`)."""
