"""Helpers to open a report in headless Chromium (Debian's chromium, driven by Playwright)."""
