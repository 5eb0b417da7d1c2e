"""Helpers shared by the test modules: tiny models, test-data writers, reference computations."""
