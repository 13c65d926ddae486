"""Views: widgets that talk only to their view-model."""
