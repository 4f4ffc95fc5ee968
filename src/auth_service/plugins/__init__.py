"""Plugins, each one folder exporting what it adds: routes, hooks, tables, settings."""
