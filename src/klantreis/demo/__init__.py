"""The demo: a deterministic, believable Dutch webshop and its journey configuration."""
