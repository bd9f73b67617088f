"""POST /machines/allocate/ (filled by the allocation work)."""
urlpatterns = []
