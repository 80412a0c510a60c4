"""Routers of the web app that are not pages: login, ingest, assets, admin."""
