"""Web pages of machines and images (session login; permissions as the API's)."""
