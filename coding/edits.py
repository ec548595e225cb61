"""Scrubber edits (registered on import). Built out by the coding issue."""
