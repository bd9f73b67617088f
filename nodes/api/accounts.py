"""Users and API keys API (filled by the accounts work)."""
urlpatterns = []
