"""Grants: the OAuth protocol logic itself, as typed functions over typed values (no HTTP framework here)."""
