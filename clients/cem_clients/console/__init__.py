"""The console of device admins and carbon accountants: view state (``model``) and the Flet app."""
