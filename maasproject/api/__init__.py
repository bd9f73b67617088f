"""API plumbing shared by every app's API: authentication, permissions, errors, paging, viewsets.

It imports no app: what it needs from one (the API key check) is named in settings.
"""
