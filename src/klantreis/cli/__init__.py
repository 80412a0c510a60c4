"""The command line: thin wrappers over documented library functions."""
