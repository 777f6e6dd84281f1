"""User-facing model classes, one task per file."""
