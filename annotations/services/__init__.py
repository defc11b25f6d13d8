"""Workflows that touch several models and own their transaction, one module per subject."""
