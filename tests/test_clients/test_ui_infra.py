"""The apps' shared UI infrastructure: strings and formats, themes, the bundled font, serving, in a real browser.

The browser tests serve a small app built from the theme and the strings (``碳排放 今日 1,234.5 tCO2`` and four
Chinese characters in cells of their own) and load it in headless Chromium at the three apps' viewports. They
read the text back from Flutter's accessibility tree, and check the picture: not blank, and the Chinese drawn as
glyphs. For the glyphs, the same app is also served without the bundled font, where Flutter falls back to its
default font and draws the four characters as four identical empty boxes ("tofu"): the check that tells four
different glyphs from four boxes is shown to fail there. Screenshots go to ``build/screenshots/ui-infra/``.
"""

from __future__ import annotations

import json
import socket
import struct
import sys
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import flet as ft
import httpx
import pytest
from PIL import Image, ImageChops

from cem_clients.ui import serve as ui_serve
from cem_clients.ui.i18n import (
    DEFAULT_LOCALE,
    STRINGS,
    Locale,
    Translator,
    format_decimal,
    placeholders,
    to_decimal,
)
from cem_clients.ui.serve import AppMain, ServedApp, WebApp, font_manifest, serve_app, serve_apps, stop_all
from cem_clients.ui.theme import (
    DARK,
    FONT_FAMILY,
    FONT_FILES,
    FONTS_DIR,
    LIGHT,
    AppKind,
    Palette,
    Tone,
    alarm_tone,
    apply_theme,
    connection_tone,
    contrast_ratio,
    device_state_tone,
    limit_tone,
    numeral,
    palette_for,
    severity_tone,
    type_scale,
)
from cem_platform.alarms.models import AlarmKind, AlarmState, Severity
from cem_platform.identity.roles import Role
from cem_registry.models import DeviceState, DeviceType
from tests.test_clients.browser import VIEWPORTS, Browser, Snapshot

SCREENSHOTS = Path(__file__).resolve().parents[2] / "build" / "screenshots" / "ui-infra"
HEADLINE = "碳排放 今日 1,234.5 tCO2"
GLYPHS = "碳排放钢"  # one per cell, each its own node in the accessibility tree
GLYPH_SIZE = 56  # four cells fit the phone's 390 px


@pytest.fixture(scope="module", autouse=True)
def _no_web_app_left() -> Iterator[None]:
    """Whatever a test left running stops with the module, not at exit (when the log streams are closed)."""
    yield
    stop_all()


# --- strings and formats -------------------------------------------------------------------------------------------


def test_tables_have_the_same_keys_and_placeholders() -> None:
    chinese, english = STRINGS[Locale.ZH_CN], STRINGS[Locale.EN]
    assert set(chinese) == set(english)
    for key, text in chinese.items():
        assert placeholders(text) == placeholders(english[key]), key
    assert all(text.strip() == text and text for table in STRINGS.values() for text in table.values())


def test_tables_name_what_the_platform_sends() -> None:
    keys = set(STRINGS[DEFAULT_LOCALE])
    expected = (
        {f"alarm.kind.{kind}" for kind in AlarmKind}
        | {f"alarm.severity.{severity}" for severity in Severity}
        | {f"alarm.state.{state}" for state in AlarmState}
        | {f"device.state.{state}" for state in DeviceState}
        | {f"device.type.{kind}" for kind in DeviceType}
        | {f"role.{role}" for role in Role}
        | {f"app.{kind}.title" for kind in AppKind}
        | {f"language.{locale}" for locale in Locale}
    )
    assert expected <= keys, sorted(expected - keys)


def test_translator_chinese_by_default_english_on_request() -> None:
    tr = Translator()
    assert tr.locale is Locale.ZH_CN
    assert tr.t("alarm.acknowledge") == "确认"
    assert tr.t("alarms.count", count=3) == "3 条告警"
    tr.set_locale("en")
    assert tr.t("alarm.acknowledge") == "Acknowledge"
    assert tr.t("alarms.count", count=3) == "3 alarms"
    assert tr.t("no.such.key") == "no.such.key"  # visible, not an exception in the middle of a shift
    with pytest.raises(ValueError, match="fr"):
        tr.set_locale("fr")


@pytest.mark.parametrize(
    ("value", "decimals", "shown"),
    [
        (Decimal("1234.5"), 1, "1,234.5"),
        (Decimal("1234567.891"), 2, "1,234,567.89"),
        ("2.5", 0, "3"),  # half up, as reports round, not to even
        ("0.125", 2, "0.13"),
        ("-0.04", 1, "0.0"),  # never -0.0
        ("-1234.55", 1, "-1,234.6"),
        (0.1 + 0.2, 2, "0.30"),
        (0.1, 20, "0.10000000000000000000"),  # the float's shortest repr, no binary tail
        (12, 0, "12"),
        ("1E+3", 0, "1,000"),
    ],
)
def test_numbers_from_decimal_with_separators(value: Decimal | str | float | int, decimals: int, shown: str) -> None:
    assert format_decimal(value, decimals) == shown


def test_numbers_refuse_what_is_not_a_number() -> None:
    for bad in ("abc", "NaN", float("inf"), True):
        with pytest.raises((ValueError, TypeError)):
            to_decimal(bad)
    with pytest.raises(ValueError, match="decimals"):
        format_decimal(1, -1)


def test_quantities_percentages_and_compact_figures() -> None:
    zh, en = Translator(), Translator("en")
    assert f"{zh.t('emissions')} {zh.t('period.today')} {zh.quantity(Decimal('1234.5'), 'tco2', 1)}" == HEADLINE
    assert zh.quantity("1.8234", "tco2_per_t", 3) == "1.823 tCO2/t"
    assert zh.quantity(5, "kWh") == "5 kWh"  # an unknown unit is shown as given
    assert zh.number(Decimal("1234.5"), 1, sign=True) == "+1,234.5"
    assert zh.percent(Decimal("0.0321")) == "3.2%"
    assert zh.percent(Decimal("-0.0321"), sign=True) == "-3.2%"
    assert zh.percent(Decimal("0.0321"), sign=True) == "+3.2%"
    assert zh.compact(Decimal("123456")) == "12.3万"
    assert zh.compact(Decimal("234567890"), 2) == "2.35亿"
    assert zh.compact(Decimal("950")) == "950"
    assert en.compact(Decimal("123456")) == "123.5k"
    assert en.compact(Decimal("2345678")) == "2.3M"
    assert zh.change_vs_last_year(Decimal("103.2"), Decimal("100")) == "同比上升 3.2%"
    assert en.change_vs_last_year(Decimal("96.8"), Decimal("100")) == "3.2% below last year"
    assert zh.change_vs_last_year(Decimal("100.01"), Decimal("100")) == "与去年同期持平"
    assert zh.change_vs_last_year(1, None) == "无去年同期数据"


def test_times_in_the_plants_zone() -> None:
    zh, en = Translator(), Translator("en", zone="Europe/Berlin")
    moment = datetime(2025, 12, 31, 17, 30, 5, tzinfo=UTC)
    assert zh.when(moment) == "2026-01-01 01:30"  # Shanghai is UTC+8: already the new year
    assert zh.when(moment, seconds=True) == "2026-01-01 01:30:05"
    assert zh.clock(moment) == "01:30"
    assert zh.day(moment) == "2026-01-01"
    assert zh.day(date(2025, 3, 1)) == "2025-03-01"
    assert en.when(moment) == "2025-12-31 18:30"
    summer = datetime(2025, 7, 1, 12, 0, tzinfo=UTC)
    assert en.clock(summer) == "14:00"  # daylight saving time from the zone database
    assert zh.month(2025, 11) == "2025年11月"
    assert en.month(2025, 11) == "11/2025"
    with pytest.raises(ValueError, match="time zone"):
        zh.when(datetime(2025, 1, 1, 8, 0))  # noqa: DTZ001 - a naive datetime is what must be refused
    assert zh.ago(moment - timedelta(seconds=5), moment) == "刚刚"
    assert zh.ago(moment - timedelta(minutes=3, seconds=20), moment) == "3 分钟前"
    assert en.ago(moment - timedelta(hours=5), moment) == "5 h ago"
    assert en.ago(moment - timedelta(days=2, hours=1), moment) == "2 d ago"
    assert en.ago(moment - timedelta(seconds=42), moment) == "42 s ago"


# --- themes and the font -------------------------------------------------------------------------------------------


def test_wallboard_is_dark_and_readable_from_afar() -> None:
    assert palette_for(AppKind.WALLBOARD) is DARK
    assert palette_for(AppKind.CONSOLE) is palette_for(AppKind.MOBILE) is LIGHT
    assert contrast_ratio(DARK.text, DARK.background) >= 15
    assert contrast_ratio(DARK.text_muted, DARK.background) >= 7
    wallboard, console = type_scale(AppKind.WALLBOARD), type_scale(AppKind.CONSOLE)
    assert wallboard.label >= 28 and wallboard.numeral_xl >= 120
    assert wallboard.numeral_xl > wallboard.numeral_l > wallboard.numeral_m > wallboard.title > wallboard.body
    assert console.numeral_xl < wallboard.numeral_m


@pytest.mark.parametrize("palette", [DARK, LIGHT], ids=lambda p: p.name)
def test_every_tone_reads_as_text_and_as_a_fill(palette: Palette) -> None:
    for surface in (palette.background, palette.surface, palette.surface_raised):
        assert contrast_ratio(palette.text, surface) >= 7
        assert contrast_ratio(palette.text_muted, surface) >= 4.5
        for tone in Tone:
            assert contrast_ratio(palette.tone(tone), surface) >= 4.5, (tone, surface)
    for tone in Tone:
        assert contrast_ratio(palette.on_tone(tone), palette.tone(tone)) >= 4.5, tone
    assert contrast_ratio(palette.on_primary, palette.primary) >= 4.5


def test_tones_of_severities_and_states() -> None:
    assert [severity_tone(s) for s in Severity] == [Tone.INFO, Tone.WARNING, Tone.MAJOR, Tone.CRITICAL]
    assert alarm_tone("critical", "acknowledged") is Tone.CRITICAL
    assert alarm_tone("critical", "cleared") is Tone.NEUTRAL
    assert {state.value for state in AlarmState} == {"active", "acknowledged", "cleared"}
    assert {device_state_tone(s) for s in DeviceState} <= set(Tone)
    assert device_state_tone("revoked") is Tone.CRITICAL
    assert connection_tone("online") is Tone.GOOD
    assert connection_tone("stale") is Tone.WARNING
    assert connection_tone("offline") is Tone.CRITICAL
    assert limit_tone("over") is Tone.CRITICAL
    with pytest.raises(ValueError, match="level"):
        numeral("1", AppKind.WALLBOARD, level="xxl")


def _cmap(font: Path) -> set[int]:
    """The code points an OpenType font maps to a glyph (cmap formats 4 and 12)."""
    data = font.read_bytes()
    (tables,) = struct.unpack_from(">H", data, 4)
    offsets = {data[12 + 16 * i : 16 + 16 * i]: struct.unpack_from(">I", data, 20 + 16 * i)[0] for i in range(tables)}
    cmap = offsets[b"cmap"]
    (subtables,) = struct.unpack_from(">H", data, cmap + 2)
    found: set[int] = set()
    for i in range(subtables):
        platform, encoding, offset = struct.unpack_from(">HHI", data, cmap + 4 + 8 * i)
        if (platform, encoding) not in ((3, 1), (3, 10), (0, 3), (0, 4)):
            continue
        start = cmap + offset
        (fmt,) = struct.unpack_from(">H", data, start)
        if fmt == 12:
            (groups,) = struct.unpack_from(">I", data, start + 12)
            for g in range(groups):
                first, last, _ = struct.unpack_from(">III", data, start + 16 + 12 * g)
                found.update(range(first, last + 1))
        elif fmt == 4:
            (seg_x2,) = struct.unpack_from(">H", data, start + 6)
            ends, starts = start + 14, start + 16 + seg_x2
            deltas, ranges = starts + seg_x2, starts + 2 * seg_x2
            for s in range(seg_x2 // 2):
                (end,) = struct.unpack_from(">H", data, ends + 2 * s)
                (first,) = struct.unpack_from(">H", data, starts + 2 * s)
                (delta,) = struct.unpack_from(">h", data, deltas + 2 * s)
                (range_offset,) = struct.unpack_from(">H", data, ranges + 2 * s)
                for code in range(first, end + 1):
                    if code == 0xFFFF:
                        continue
                    if range_offset == 0:
                        glyph = (code + delta) & 0xFFFF
                    else:
                        at = ranges + 2 * s + range_offset + 2 * (code - first)
                        (glyph,) = struct.unpack_from(">H", data, at)
                        glyph = (glyph + delta) & 0xFFFF if glyph else 0
                    if glyph:
                        found.add(code)
    return found


def _gb2312_hanzi() -> set[int]:
    """The 6,763 hanzi of GB 2312 (rows 0xB0 to 0xF7; 0xD7FA-0xD7FE are unassigned)."""
    found = set()
    for high in range(0xB0, 0xF8):
        for low in range(0xA1, 0xFF):
            try:
                found.add(ord(bytes([high, low]).decode("gb2312")))
            except UnicodeDecodeError:
                continue
    return found


def test_the_bundled_font_has_every_character_the_apps_print() -> None:
    for weight, name in FONT_FILES.items():
        path = FONTS_DIR / name
        size = path.stat().st_size
        assert 500_000 < size < 3_000_000, (name, size)  # a subset, not the 16 MB original
        covered = _cmap(path)
        needed = {ord(ch) for table in STRINGS.values() for text in table.values() for ch in text}
        needed |= {ord(ch) for ch in HEADLINE + GLYPHS + "0123456789,.%+-:/万亿"}
        assert not needed - covered, (weight, "".join(sorted(chr(c) for c in needed - covered)))
        hanzi = _gb2312_hanzi()
        assert len(hanzi) == 6763 and hanzi <= covered
        assert 0x2082 not in covered  # why the tables write tCO2, not tCO₂
    assert (FONTS_DIR / "OFL.txt").read_text().startswith("Copyright")


def test_font_manifest_registers_the_font_as_the_default_family() -> None:
    families = {family["family"]: family["fonts"] for family in json.loads(font_manifest())}
    assert families[FONT_FAMILY] == [
        {"asset": f"cem/fonts/{FONT_FILES[400]}"},
        {"asset": f"cem/fonts/{FONT_FILES[700]}", "weight": 700},
    ]
    assert "MaterialIcons" in families  # Flet's own fonts stay


# --- serving -------------------------------------------------------------------------------------------------------


def _blank_app(page: ft.Page) -> None:
    page.add(ft.Text("hello"))


def _port_open(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(1)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def test_serve_app_serves_the_client_and_the_font_offline_and_stops() -> None:
    with serve_app(_blank_app, name="blank", title="空白") as app:
        assert app.running and app.url == f"http://127.0.0.1:{app.port}/"
        with httpx.Client(base_url=app.url, timeout=10) as client:
            index = client.get("/")
            assert index.status_code == 200 and "<title>空白</title>" in index.text
            assert "flet.noCdn=true" in index.text and "gstatic" not in index.text
            assert client.get("/assets/FontManifest.json").json() == json.loads(font_manifest())
            font = client.get(f"/assets/cem/fonts/{FONT_FILES[400]}")
            assert font.status_code == 200 and font.content == (FONTS_DIR / FONT_FILES[400]).read_bytes()
            assert client.get("/canvaskit/canvaskit.wasm").status_code == 200  # the renderer is local too
    assert not _port_open(app.port)
    app.stop()  # twice is fine
    assert app.url and not app.running


def test_a_taken_port_is_an_error_or_falls_back() -> None:
    with serve_app(_blank_app, name="first") as first:
        with pytest.raises(OSError, match="in use"):
            serve_app(_blank_app, port=first.port)
        with serve_app(_blank_app, port=first.port, fallback_port=True) as second:
            assert second.port != first.port and _port_open(second.port)


def test_serve_apps_prints_the_urls(capsys: pytest.CaptureFixture[str]) -> None:
    apps = [WebApp(name, _blank_app, title=name) for name in ("wallboard", "mobile", "console")]
    served = serve_apps(apps, out=sys.stdout)
    try:
        assert len({app.port for app in served}) == 3
        lines = capsys.readouterr().out.splitlines()
        assert lines == [f"  {app.name:<16}{app.url}" for app in served]
        assert all(httpx.get(app.url, timeout=10).status_code == 200 for app in served)
    finally:
        stop_all()
    assert not any(app.running for app in served)
    assert not any(_port_open(app.port) for app in served)


# --- in the browser ------------------------------------------------------------------------------------------------


def demo_app(kind: AppKind) -> AppMain:
    """The app of the browser tests: a title, the headline figure, the glyph cells, a numeral and tone chips."""

    def main(page: ft.Page) -> None:
        palette = apply_theme(page, kind)
        tr = Translator()
        page.title = tr.t(f"app.{kind}.title")
        headline = f"{tr.t('emissions')} {tr.t('period.today')} {tr.quantity(Decimal('1234.5'), 'tco2', 1)}"
        cells: list[ft.Control] = [
            ft.Container(
                ft.Text(ch, size=GLYPH_SIZE, color=palette.text),
                width=GLYPH_SIZE * 1.25,
                height=GLYPH_SIZE * 1.5,
                alignment=ft.Alignment.CENTER,
                bgcolor=palette.surface,
            )
            for ch in GLYPHS
        ]
        chips: list[ft.Control] = [
            ft.Container(
                ft.Text(tr.t(f"alarm.severity.{severity}"), color=palette.on_tone(severity_tone(severity))),
                bgcolor=palette.tone(severity_tone(severity)),
                padding=8,
                border_radius=6,
            )
            for severity in Severity
        ]
        page.add(
            ft.Text(tr.t(f"app.{kind}.title"), theme_style=ft.TextThemeStyle.TITLE_LARGE),
            ft.Text(headline, theme_style=ft.TextThemeStyle.BODY_LARGE),
            numeral(tr.compact(Decimal("123456")), kind, level="m", tone=Tone.GOOD),
            ft.Row(chips, wrap=True),
            ft.Row(cells, spacing=8),  # last: a text's box reaches below its cell, over nothing but background
        )

    return main


@pytest.fixture(scope="module")
def apps() -> Iterator[dict[str, ServedApp]]:
    """The demo app per theme with the bundled font, and once without it ("stock")."""
    served = {
        "wallboard": serve_app(demo_app(AppKind.WALLBOARD), name="wallboard"),
        "mobile": serve_app(demo_app(AppKind.MOBILE), name="mobile"),
        "console": serve_app(demo_app(AppKind.CONSOLE), name="console"),
        "stock": serve_app(demo_app(AppKind.CONSOLE), name="stock", bundled_font=False),
    }
    try:
        yield served
    finally:
        ui_serve.stop_all()


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with Browser() as chromium:
        yield chromium


def _ink(image: Image.Image, box: tuple[int, int, int, int]) -> Image.Image:
    """The crop's pixels that differ from its background (its most common colour), as a 1-bit mask."""
    crop = image.crop(box).convert("RGB")
    colours = crop.getcolors(crop.width * crop.height) or []
    background = max(colours)[1]
    assert isinstance(background, tuple)
    diff = ImageChops.difference(crop, Image.new("RGB", crop.size, background)).convert("L")
    return diff.point(lambda v: 255 if v > 60 else 0, mode="1")


def _count(mask: Image.Image) -> int:
    """The ink pixels of a 1-bit mask."""
    return mask.histogram()[255]


def _share(mask: Image.Image) -> float:
    return _count(mask) / (mask.width * mask.height)


def _difference(first: Image.Image, second: Image.Image) -> float:
    """How different two ink masks are: the share of ink pixels not in both (0: alike, 1: disjoint)."""
    size = (min(first.width, second.width), min(first.height, second.height))
    first, second = first.crop((0, 0, *size)), second.crop((0, 0, *size))
    union = _count(ImageChops.logical_or(first, second))
    both = _count(ImageChops.logical_and(first, second))
    return 1 - both / union if union else 0.0


def _ink_masks(shot: Snapshot) -> list[Image.Image]:
    boxes = [shot.node(ch).box for ch in GLYPHS]
    width, height = shot.viewport
    assert all(left >= 0 and right <= width and top >= 0 and bottom <= height for left, top, right, bottom in boxes)
    with Image.open(shot.screenshot) as image:
        return [_ink(image, box) for box in boxes]


def _glyph_masks(shot: Snapshot) -> list[Image.Image]:
    masks = _ink_masks(shot)
    for ch, mask in zip(GLYPHS, masks, strict=True):
        assert _share(mask) > 0.03, f"{ch} drew nothing in {shot.screenshot}"
    return masks


def _glyph_differences(shot: Snapshot) -> list[float]:
    """How different the glyph cells look, pairwise."""
    masks = _glyph_masks(shot)
    return [_difference(first, second) for i, first in enumerate(masks) for second in masks[i + 1 :]]


def _not_blank(shot: Snapshot) -> None:
    image = Image.open(shot.screenshot).convert("RGB")
    assert image.size == shot.viewport
    colours = image.getcolors(image.width * image.height) or []
    assert len(colours) > 50, f"a flat picture: {shot.screenshot}"
    background = max(colours)
    assert background[0] < 0.99 * image.width * image.height, f"blank: {shot.screenshot}"


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["wallboard", "mobile", "console"])
def test_the_app_shows_chinese_in_the_bundled_font(apps: dict[str, ServedApp], browser: Browser, kind: str) -> None:
    path = SCREENSHOTS / f"{kind}.png"
    # Once in many runs a settled page showed one large probe glyph unpainted, while the same glyph drew in the title
    # (no font request, nothing in flight): a rendering delay, not a missing glyph. A page load is tried up to three
    # times for that; a glyph the font lacks stays blank on every load and still fails below.
    for _ in range(3):
        shot = browser.load(apps[kind].url, viewport=VIEWPORTS[kind], screenshot=path, expect=[HEADLINE])
        if all(_share(mask) > 0.03 for mask in _ink_masks(shot)):
            break
    print(f"\n{kind}: {path}  {browser.version}  " + "  ".join(f"{k} {v:.2f} s" for k, v in shot.timings.items()))
    assert HEADLINE in shot.texts
    assert Translator().t(f"app.{kind}.title") in shot.texts
    assert {"提示", "警告", "严重", "紧急", "12.3万"} <= set(shot.texts)
    assert shot.settled, f"the picture kept changing: {path}"
    assert not shot.fallback_font_requests, shot.fallback_font_requests  # no glyph missing from the font
    assert shot.external_requests == []  # nothing from the internet (test_offline.py refuses it too)
    assert shot.failed_requests == []
    _not_blank(shot)
    assert min(_glyph_differences(shot)) > 0.25, f"the Chinese cells look alike (tofu?): {path}"
    with Image.open(path) as image:
        corner = image.convert("RGB").getpixel((VIEWPORTS[kind][0] - 2, VIEWPORTS[kind][1] - 2))
    assert isinstance(corner, tuple)
    assert "#{:02X}{:02X}{:02X}".format(*corner) == palette_for(AppKind(kind)).background


@pytest.mark.slow
def test_without_the_bundled_font_chinese_is_tofu(apps: dict[str, ServedApp], browser: Browser) -> None:
    """The control: the same app on Flet's stock fonts. The text is there, the glyphs are not."""
    path = SCREENSHOTS / "console-stock-font.png"
    shot = browser.load(apps["stock"].url, viewport=VIEWPORTS["console"], screenshot=path, expect=[HEADLINE])
    print(f"\nstock font: {path}  " + "  ".join(f"{k} {v:.2f} s" for k, v in shot.timings.items()))
    assert HEADLINE in shot.texts  # the accessibility tree does not care about fonts
    assert shot.fallback_font_requests  # Flutter went looking for a CJK font (on the internet, normally)
    _not_blank(shot)
    assert max(_glyph_differences(shot)) < 0.1, f"expected four identical boxes: {path}"
    bundled_path = SCREENSHOTS / "console-bundled-font.png"
    bundled = browser.load(apps["console"].url, viewport=VIEWPORTS["console"], screenshot=bundled_path)
    assert min(_glyph_differences(bundled)) > 0.25
    for ch, tofu, glyph in zip(GLYPHS, _glyph_masks(shot), _glyph_masks(bundled), strict=True):
        assert _difference(tofu, glyph) > 0.25, ch  # the same character, drawn differently
