"""Every string of the pages is in both catalogs, and translated in Russian."""

from __future__ import annotations

from pathlib import Path

from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po

from ticket_service.web import i18n
from ticket_service.web.pages import TEMPLATES


def template_messages() -> set[str]:
    """The strings of the templates and of the web package's Python (`i18n.gettext(...)`:
    the pieces of a ticket row are rendered in Python), as babel.cfg extracts them."""
    found = extract_from_dir(
        str(TEMPLATES.parent),
        method_map=[("templates/**.html", "jinja2"), ("*.py", "python")],
        options_map={"templates/**.html": {"extensions": "jinja2.ext.i18n"}},
    )
    return {message if isinstance(message, str) else message[0] for _, _, message, *_ in found}


def catalog(locale: str) -> dict[str, str]:
    path = Path(i18n.LOCALE_DIR) / locale / "LC_MESSAGES" / "messages.po"
    with path.open("rb") as po:
        return {str(m.id): str(m.string) for m in read_po(po, locale=locale) if m.id}


def test_every_template_string_is_translated() -> None:
    messages = template_messages()
    assert len(messages) > 50
    for locale in ("ru", "en"):
        strings = catalog(locale)
        assert messages - set(strings) == set(), f"missing from {locale}.po"
        assert [m for m in messages if not strings[m]] == [], f"untranslated in {locale}.po"
    assert i18n.translations("ru").ugettext("Sign in with Discord") == "Войти через Discord"


def test_language_negotiation() -> None:
    assert i18n.negotiate(None, None) == "ru"
    assert i18n.negotiate(None, "en-US,en;q=0.9,ru;q=0.8") == "en"
    assert i18n.negotiate(None, "de,ru;q=0.5,en;q=0.7") == "en"
    assert i18n.negotiate(None, "en;q=0,ru;q=bad") == "ru"
    assert i18n.negotiate("en", "ru") == "en"
    assert i18n.negotiate("fr", "en") == "en"
