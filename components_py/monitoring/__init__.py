"""Monitoring components: detect_drift, calculate_metrics."""
