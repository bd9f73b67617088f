"""High availability: the HAProxy configuration in front of several regions."""
