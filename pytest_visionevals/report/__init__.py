"""Reporters: terminal table, JSON, JSON lines, Markdown and HTML, all from a Scorecard."""
