"""What the three Flet web apps share: the bundled CJK font and themes, strings and formats, serving them.

- :mod:`cem_clients.ui.theme`: the dark wallboard theme and the light console/mobile theme, tones for severities
  and states, the bundled font (Noto Sans CJK SC cut to GB 2312, see ``assets/fonts/README.md``).
- :mod:`cem_clients.ui.i18n`: Simplified Chinese by default, English on request; numbers from ``Decimal`` and
  times in a plant's time zone.
- :mod:`cem_clients.ui.serve`: an app function served as a web app on a port, in a background thread; three of
  them for ``cem demo``.
"""
