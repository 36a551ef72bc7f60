"""The Textual wizard. Only this package imports Textual; the CLI imports it lazily."""
