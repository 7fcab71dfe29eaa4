"""Themes of the three apps and the bundled font.

The wallboard hangs in a control room and is read from five metres: a dark theme with near-white text, numerals of
120 px and nothing under 28 px. The console (admins, accountants) and the mobile app (crews) use a light theme with
the ordinary Material sizes. Colours for severities and states are *tones*: one name per meaning
(:class:`Tone`), a colour per theme, each checked to stay readable as text on the theme's surfaces (contrast
ratio at least 4.5:1, 7:1 for the wallboard's main text).

The font. Flutter web draws text itself and fetches fallback fonts for missing glyphs from the internet, which a
plant network does not reach: Chinese would come out as empty boxes. The apps therefore bring their own font,
*CEM Sans SC* (Noto Sans CJK SC cut to the 7,445 characters of GB 2312 plus Latin and symbols, regular and bold,
1.7 MB each, SIL OFL 1.1; see ``assets/fonts/README.md``). :mod:`cem_clients.ui.serve` registers it in the web
client's font manifest, so it is loaded before the first frame, under the name of Flutter's default family,
``Roboto``: Flet lays some text out in the default family whatever the theme says, and with the bundled font
under that name every piece of text, themed or not, has the glyphs and no fallback font is ever requested.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from types import MappingProxyType

import flet as ft

__all__ = [
    "apply_locale",
    "ASSETS_DIR",
    "DARK",
    "FONTS_DIR",
    "FONT_FAMILY",
    "FONT_FILES",
    "LIGHT",
    "AppKind",
    "Palette",
    "Tone",
    "TypeScale",
    "alarm_tone",
    "apply_theme",
    "build_theme",
    "connection_tone",
    "contrast_ratio",
    "device_state_tone",
    "limit_tone",
    "numeral",
    "palette_for",
    "severity_tone",
    "type_scale",
]

ASSETS_DIR = Path(__file__).resolve().parent.parent / "assets"
"""The apps' assets directory (served at the web root): ``fonts/`` holds the bundled font."""
FONTS_DIR = ASSETS_DIR / "fonts"
FONT_FAMILY = "Roboto"
"""The family the bundled font is registered under: Flutter's default family, see the module's docstring."""
FONT_FILES: Mapping[int, str] = MappingProxyType({400: "CEMSansSC-Regular.otf", 700: "CEMSansSC-Bold.otf"})
"""The bundled font's files in :data:`FONTS_DIR` by weight."""


class AppKind(StrEnum):
    """Which app a theme is for."""

    WALLBOARD = "wallboard"  # executives, control room TV: dark, huge numerals
    MOBILE = "mobile"  # crews on a phone: light
    CONSOLE = "console"  # admins and accountants at a desk: light


class Tone(StrEnum):
    """What a colour means; each palette gives every tone a colour."""

    NEUTRAL = "neutral"  # nothing to say: cleared, retired, no data
    INFO = "info"
    GOOD = "good"  # online, within limit, below last year
    WARNING = "warning"  # stale data, near the limit
    MAJOR = "major"
    CRITICAL = "critical"  # offline, over the limit


@dataclass(frozen=True, slots=True)
class Palette:
    """The colours of one theme, as ``#RRGGBB``."""

    name: str
    dark: bool
    background: str  # the page
    surface: str  # cards, tiles
    surface_raised: str  # a tile on a card, the app bar
    text: str  # main text and numerals
    text_muted: str  # labels, units, secondary lines
    outline: str  # dividers, borders
    primary: str  # buttons, links, the selected tab
    on_primary: str  # text on a primary button
    tones: Mapping[Tone, str]  # text, icons, bars, chip outlines
    on_tones: Mapping[Tone, str]  # text on a chip filled with the tone

    def tone(self, tone: Tone) -> str:
        """The colour of ``tone``."""
        return self.tones[tone]

    def on_tone(self, tone: Tone) -> str:
        """Text colour on a fill of ``tone``."""
        return self.on_tones[tone]


DARK = Palette(
    name="wallboard-dark",
    dark=True,
    background="#0B1220",
    surface="#131C2E",
    surface_raised="#1C2740",
    text="#F1F5F9",
    text_muted="#A9B4C6",
    outline="#33415A",
    primary="#38BDF8",
    on_primary="#04131F",
    tones=MappingProxyType(
        {
            Tone.NEUTRAL: "#A9B4C6",
            Tone.INFO: "#60A5FA",
            Tone.GOOD: "#4ADE80",
            Tone.WARNING: "#FACC15",
            Tone.MAJOR: "#FB923C",
            Tone.CRITICAL: "#F87171",
        }
    ),
    on_tones=MappingProxyType(
        {
            Tone.NEUTRAL: "#0B1220",
            Tone.INFO: "#0B1220",
            Tone.GOOD: "#0B1220",
            Tone.WARNING: "#0B1220",
            Tone.MAJOR: "#0B1220",
            Tone.CRITICAL: "#0B1220",
        }
    ),
)
"""The wallboard's palette: dark, high contrast (text 16:1, muted text 8:1 on the background)."""

LIGHT = Palette(
    name="light",
    dark=False,
    background="#F6F8FB",
    surface="#FFFFFF",
    surface_raised="#EEF2F7",
    text="#0F172A",
    text_muted="#475569",
    outline="#CBD5E1",
    primary="#1D4ED8",
    on_primary="#FFFFFF",
    tones=MappingProxyType(
        {
            Tone.NEUTRAL: "#475569",
            Tone.INFO: "#1D4ED8",
            Tone.GOOD: "#166534",
            Tone.WARNING: "#8A5A00",
            Tone.MAJOR: "#B93C0C",
            Tone.CRITICAL: "#B91C1C",
        }
    ),
    on_tones=MappingProxyType(
        {
            Tone.NEUTRAL: "#FFFFFF",
            Tone.INFO: "#FFFFFF",
            Tone.GOOD: "#FFFFFF",
            Tone.WARNING: "#FFFFFF",
            Tone.MAJOR: "#FFFFFF",
            Tone.CRITICAL: "#FFFFFF",
        }
    ),
)
"""The console's and the mobile app's palette: light; every tone readable as text on white (4.5:1 or more)."""


@dataclass(frozen=True, slots=True)
class TypeScale:
    """Font sizes (logical pixels) of one app."""

    numeral_xl: int  # the headline figure: emissions today
    numeral_l: int  # the other key figures
    numeral_m: int  # figures in tiles and tables
    title: int  # tile and page titles
    body: int  # ordinary text
    label: int  # units, captions, the smallest text shown


_SCALES = {
    # 1080p TV of 55" read from 5 m: ~0.63 mm per pixel, 28 px is a 12 mm cap height at the least.
    AppKind.WALLBOARD: TypeScale(numeral_xl=128, numeral_l=88, numeral_m=56, title=40, body=32, label=28),
    AppKind.MOBILE: TypeScale(numeral_xl=44, numeral_l=32, numeral_m=24, title=20, body=16, label=13),
    AppKind.CONSOLE: TypeScale(numeral_xl=40, numeral_l=30, numeral_m=22, title=20, body=14, label=12),
}


def type_scale(kind: AppKind) -> TypeScale:
    """The font sizes of ``kind``'s app."""
    return _SCALES[kind]


def palette_for(kind: AppKind) -> Palette:
    """The palette of ``kind``'s app: dark for the wallboard, light otherwise."""
    return DARK if kind is AppKind.WALLBOARD else LIGHT


def build_theme(kind: AppKind) -> ft.Theme:
    """The Material theme of ``kind``'s app: palette, bundled font, type scale."""
    palette, scale = palette_for(kind), type_scale(kind)

    def style(size: int, *, bold: bool = False, muted: bool = False) -> ft.TextStyle:
        return ft.TextStyle(
            size=size,
            weight=ft.FontWeight.BOLD if bold else ft.FontWeight.NORMAL,
            color=palette.text_muted if muted else palette.text,
            font_family=FONT_FAMILY,
        )

    return ft.Theme(
        font_family=FONT_FAMILY,
        use_material3=True,
        color_scheme_seed=palette.primary,
        color_scheme=ft.ColorScheme(
            primary=palette.primary,
            on_primary=palette.on_primary,
            secondary=palette.tone(Tone.INFO),
            error=palette.tone(Tone.CRITICAL),
            on_error=palette.on_tone(Tone.CRITICAL),
            surface=palette.surface,
            on_surface=palette.text,
            on_surface_variant=palette.text_muted,
            surface_container=palette.surface,
            surface_container_high=palette.surface_raised,
            outline=palette.outline,
            outline_variant=palette.outline,
        ),
        scaffold_bgcolor=palette.background,
        divider_color=palette.outline,
        text_theme=ft.TextTheme(
            display_large=style(scale.numeral_xl, bold=True),
            display_medium=style(scale.numeral_l, bold=True),
            display_small=style(scale.numeral_m, bold=True),
            headline_large=style(scale.title + 8, bold=True),
            headline_medium=style(scale.title + 4, bold=True),
            headline_small=style(scale.title, bold=True),
            title_large=style(scale.title, bold=True),
            title_medium=style(scale.body + 2, bold=True),
            title_small=style(scale.body, bold=True),
            body_large=style(scale.body + 2),
            body_medium=style(scale.body),
            body_small=style(scale.label, muted=True),
            label_large=style(scale.body, bold=True),
            label_medium=style(scale.label),
            label_small=style(scale.label, muted=True),
        ),
    )


def apply_theme(page: ft.Page, kind: AppKind) -> Palette:
    """Give ``page`` the theme of ``kind``'s app (call before adding controls); returns the palette.

    Served by :mod:`cem_clients.ui.serve`, the font is in the web client's manifest already; run any other way
    (``flet run`` on a desktop), the font files are registered through ``page.fonts`` from the assets directory.
    """
    palette = palette_for(kind)
    theme = build_theme(kind)
    if not page.web:
        page.fonts = {FONT_FAMILY: f"fonts/{FONT_FILES[400]}"}
    page.theme = theme
    page.dark_theme = theme  # the same either way: the platform's dark mode does not flip the apps
    page.theme_mode = ft.ThemeMode.DARK if palette.dark else ft.ThemeMode.LIGHT
    page.bgcolor = palette.background
    return palette


def apply_locale(page: ft.Page, locale: str) -> None:
    """Flutter's own texts (the date picker, tooltips, the back button) in the app's language: ``zh-CN`` or ``en``.

    Our texts come from :mod:`cem_clients.ui.i18n`; without this, Flutter's stay American English."""
    chinese = [ft.Locale("zh"), ft.Locale("zh", script_code="Hans"), ft.Locale("zh", "CN", "Hans")]
    english = [ft.Locale("en", "US")]
    first = chinese if locale.lower().startswith("zh") else english
    page.locale_configuration = ft.LocaleConfiguration(
        supported_locales=[*first, *(english if first is chinese else chinese)], current_locale=first[-1]
    )


def numeral(
    value: str, kind: AppKind, *, level: str = "l", tone: Tone | None = None, palette: Palette | None = None
) -> ft.Text:
    """A figure as big as ``level`` (``xl``, ``l``, ``m``) of ``kind``'s type scale, bold, in ``tone`` if given."""
    scale, palette = type_scale(kind), palette or palette_for(kind)
    sizes = {"xl": scale.numeral_xl, "l": scale.numeral_l, "m": scale.numeral_m}
    if level not in sizes:
        raise ValueError(f"level must be one of {sorted(sizes)}, not {level!r}")
    return ft.Text(
        value,
        size=sizes[level],
        weight=ft.FontWeight.BOLD,
        color=palette.tone(tone) if tone is not None else palette.text,
        font_family=FONT_FAMILY,
        no_wrap=True,
    )


_SEVERITY = {"info": Tone.INFO, "warning": Tone.WARNING, "major": Tone.MAJOR, "critical": Tone.CRITICAL}
_CONNECTION = {"online": Tone.GOOD, "reconnecting": Tone.INFO, "stale": Tone.WARNING, "offline": Tone.CRITICAL}
_DEVICE_STATE = {
    "registered": Tone.NEUTRAL,
    "enrolled": Tone.INFO,
    "active": Tone.GOOD,
    "suspended": Tone.WARNING,
    "revoked": Tone.CRITICAL,
    "retired": Tone.NEUTRAL,
}
_LIMIT = {"within": Tone.GOOD, "near": Tone.WARNING, "over": Tone.CRITICAL}


def severity_tone(severity: str) -> Tone:
    """The tone of an alarm severity (``info``, ``warning``, ``major``, ``critical``, as the API sends them)."""
    return _SEVERITY[severity]


def alarm_tone(severity: str, state: str) -> Tone:
    """An alarm's tone: its severity while active or acknowledged, neutral once cleared."""
    return Tone.NEUTRAL if state == "cleared" else severity_tone(severity)


def connection_tone(state: str) -> Tone:
    """The tone of a live feed or a device: ``online``, ``reconnecting``, ``stale`` or ``offline``."""
    return _CONNECTION[state]


def device_state_tone(state: str) -> Tone:
    """The tone of a device's life-cycle state (``registered`` ... ``retired``, as the registry sends them)."""
    return _DEVICE_STATE[state]


def limit_tone(status: str) -> Tone:
    """The tone of a figure against its limit: ``within``, ``near`` or ``over``."""
    return _LIMIT[status]


def contrast_ratio(foreground: str, background: str) -> float:
    """WCAG 2 contrast ratio of two ``#RRGGBB`` colours (1 to 21)."""

    def luminance(colour: str) -> float:
        digits = colour.removeprefix("#")
        if len(digits) != 6:
            raise ValueError(f"not a #RRGGBB colour: {colour!r}")
        channels = [int(digits[i : i + 2], 16) / 255 for i in (0, 2, 4)]
        linear = [c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
        return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]

    high, low = sorted((luminance(foreground), luminance(background)), reverse=True)
    return (high + 0.05) / (low + 0.05)
