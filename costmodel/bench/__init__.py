"""Calibration: measure real latencies on a board (whole model and per op), robustly and
resumably, and read/write/import the timings format every other command uses."""
