"""Headless browser tests of the operator's console (Selenium, Chromium)."""
