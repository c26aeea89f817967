"""Evaluation of scored videos: metrics, evaluation groups, reports and plots. It never imports a model."""
