"""Commissioning and testing scripts: built-in bodies, their metadata and output formats."""
