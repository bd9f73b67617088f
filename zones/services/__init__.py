"""Zones services: every write to zones, pools and networks goes through here."""
