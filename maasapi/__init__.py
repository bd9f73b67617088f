"""MAAS API 2.0 at /MAAS/api/2.0/: the API MAAS clients speak, served by this region's services."""
