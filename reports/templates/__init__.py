"""Jinja2 templates and style sheets of the reports (a package so that setuptools ships them)."""
