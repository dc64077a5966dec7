"""Benchmarks of the certificate bot (`make bench`, `python -m bench`): see bench/__main__.py."""
