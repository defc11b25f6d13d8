"""Forms of the annotations app. Each section belongs to one group of views."""

from __future__ import annotations

from django import forms  # noqa: F401

# --- Project set-up forms (views/setup.py, views/labels.py) ---

# --- end project set-up forms ---

# --- Member forms (views/members.py) ---

# --- end member forms ---

# --- Import forms (views/imports.py) ---

# --- end import forms ---
