"""Metrics, figures and reports of nipkit runs."""
