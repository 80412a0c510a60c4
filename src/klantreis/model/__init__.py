"""The event schema, the journey configuration and value types. Imports nothing above it."""
