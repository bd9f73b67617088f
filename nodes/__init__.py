"""Machines, interfaces, block devices, tags, events, API keys and the machine lifecycle."""
