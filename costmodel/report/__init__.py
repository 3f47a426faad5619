"""Presentation: tables (and later plots) built from analyses, timings and predictions."""
