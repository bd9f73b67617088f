"""The ephemeral environment's job runner: a busybox sh template and its rendering."""
