"""Test doubles for external services (Azure ML)."""
