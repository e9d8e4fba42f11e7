"""The style sheets' focus rings and input borders stand out from the panels.

WCAG 2.1 asks for a contrast of 3:1 between the parts of a control that show
its state (an input's border, a focus ring) and what lies next to them
(success criterion 1.4.11). The colours are read from the sheets themselves,
so a change to either side is checked.
"""

import pathlib
import re

import pytest

import jobrunner


STATIC = pathlib.Path(jobrunner.__file__).parent / "static"
SHEETS = ("style.css", "dashboard.css")
NON_TEXT = 3.0


def channel(value: int) -> float:
    """An sRGB channel (0-255) in linear light, as WCAG defines it."""
    c = value / 255
    return c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4


def luminance(colour: str) -> float:
    """The relative luminance of a ``#rgb`` or ``#rrggbb`` colour."""
    digits = colour.lstrip("#")
    if len(digits) == 3:
        digits = "".join(d * 2 for d in digits)
    red, green, blue = (channel(int(digits[i : i + 2], 16)) for i in (0, 2, 4))
    return 0.2126 * red + 0.7152 * green + 0.0722 * blue


def contrast(one: str, other: str) -> float:
    """The WCAG contrast ratio of two colours, from 1 to 21."""
    light, dark = sorted((luminance(one), luminance(other)), reverse=True)
    return (light + 0.05) / (dark + 0.05)


def rules(text: str) -> list[tuple[str, dict[str, str]]]:
    """Each rule's selector and declarations; rules inside @media count too."""
    text = re.sub(r"/\*.*?\*/", "", text, flags=re.DOTALL)
    found = []
    for chunk in text.split("}"):
        head, brace, body = chunk.rpartition("{")
        if not brace:
            continue
        declarations = {}
        for declaration in body.split(";"):
            name, colon, value = declaration.partition(":")
            if colon:
                declarations[name.strip()] = " ".join(value.split())
        found.append((head.rpartition("{")[2].strip(), declarations))
    return found


@pytest.fixture(scope="module")
def sheet() -> list[tuple[str, dict[str, str]]]:
    """Both sheets' rules, in the order the pages load them."""
    return [rule for name in SHEETS for rule in rules((STATIC / name).read_text())]


def colour_of(value: str, sheet) -> str:
    """The one colour in a declaration's value, with var(--x) looked up."""
    variables = {
        name: v
        for selector, declarations in sheet
        if selector == ":root"
        for name, v in declarations.items()
        if name.startswith("--")
    }
    value = re.sub(r"var\((--[\w-]+)\)", lambda m: variables[m.group(1)], value)
    colours = re.findall(r"#[0-9a-fA-F]{6}\b|#[0-9a-fA-F]{3}\b", value)
    assert len(colours) == 1, value
    return colours[0]


def declared(sheet, selector: str, name: str) -> str:
    """The colour of the last ``name`` declaration of a selector."""
    values = [d[name] for s, d in sheet if s == selector and name in d]
    assert values, f"no {name} for {selector}"
    return colour_of(values[-1], sheet)


def backgrounds(sheet) -> dict[str, str]:
    """What focus rings and inputs are drawn next to: the page, panels, forms."""
    return {
        "page": declared(sheet, "body", "background"),
        "panel": declared(sheet, ".panel", "background"),
        "login form": declared(sheet, ".login", "background"),
        "header": declared(sheet, "header", "background"),
    }


class TestContrast:
    @pytest.mark.parametrize(
        ("one", "other", "ratio"),
        [
            ("#000", "#fff", 21.0),
            ("#fff", "#ffffff", 1.0),
            ("#777777", "#fff", 4.48),
            ("#f2b705", "#fff", 1.82),
        ],
    )
    def test_follows_the_wcag_formula(self, one, other, ratio):
        assert contrast(one, other) == pytest.approx(ratio, abs=0.01)
        assert contrast(other, one) == pytest.approx(ratio, abs=0.01)


class TestStyleSheets:
    def test_every_focus_ring_stands_out_from_what_is_around_it(self, sheet):
        rings = {
            selector: colour_of(declarations["outline"], sheet)
            for selector, declarations in sheet
            if ":focus" in selector
            and declarations.get("outline", "none") not in ("none", "0")
        }

        assert {"button:focus, input:focus, a:focus", "pre:focus"} <= set(rings)
        for selector, ring in rings.items():
            for where, background in backgrounds(sheet).items():
                ratio = contrast(ring, background)
                assert ratio >= NON_TEXT, f"{selector} {ring} on {where}: {ratio:.2f}"

    def test_an_inputs_border_stands_out_from_the_form(self, sheet):
        border = declared(sheet, "input", "border")

        for where, background in backgrounds(sheet).items():
            ratio = contrast(border, background)
            assert ratio >= NON_TEXT, f"input border {border} on {where}: {ratio:.2f}"
