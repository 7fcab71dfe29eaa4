"""The executives' wallboard: view state (model) and the Flet app."""
