"""The catalogues keep up with the code (docs/languages.md).

Each check fails the build rather than letting a page fall back to English unnoticed:

- every string marked in the code is in each catalogue, and nothing else is: the code is copied
  and extracted afresh with the same ``makemessages`` as ``make messages``, and the msgids compared;
- every entry of de, fr and es is translated and none is fuzzy;
- a translation keeps its placeholders (``%(name)s``, ``%s``, ``{name}``): a missing one loses a
  value, an extra one raises at rendering;
- each committed ``.mo`` holds exactly the translations of its ``.po`` (a ``.po`` edited without
  ``make messages`` is not what the server reads). Contents are compared, not modification times,
  which a fresh clone sets arbitrarily.

Re-extracting needs GNU gettext (``xgettext``, ``msgmerge``, ``msgfmt``); CI installs it and sets
``REQUIRE_GETTEXT=1``, which turns the skip into a failure.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from collections import Counter
from pathlib import Path

import polib
import pytest
from django.conf import settings

pytestmark = pytest.mark.gettext

BASE = Path(settings.BASE_DIR)
LANGUAGES = ["de", "fr", "es"]
# What is not Partnerplan's to translate (the Makefile's MAKEMESSAGES_ARGS ignore the same).
IGNORED = [".venv", "var", "artifacts", "tests", "benchmarks", "clients"]
MAKEMESSAGES = [
    *(arg for code in LANGUAGES for arg in ("-l", code)),
    "--no-obsolete",
    "--add-location",
    "file",
    *(f"--ignore={name}" for name in IGNORED),
]
PERCENT = re.compile(
    r"%(?:\((?P<name>[^)]*)\))?[-#0 +]*(?:\*|\d+)?(?:\.(?:\*|\d+))?[hlL]?(?P<kind>[diouxXeEfFgGcrsa%])"
)
BRACE = re.compile(r"(?<!\{)\{(?P<name>[^{}!:]*)(?:![rsa])?(?::[^{}]*)?\}(?!\})")


def po_path(root: Path, code: str) -> Path:
    return root / code / "LC_MESSAGES" / "django.po"


def key(entry: polib.POEntry | polib.MOEntry) -> tuple[str, str, str]:
    return (entry.msgctxt or "", entry.msgid, entry.msgid_plural or "")


def shown(keys: set[tuple[str, str, str]], limit: int = 15) -> str:
    listed = sorted(keys)[:limit]
    more = f"\n  … and {len(keys) - limit} more" if len(keys) > limit else ""
    return "\n".join(f"  {msgid!r}" + (f" (context {ctx!r})" if ctx else "") for ctx, msgid, _ in listed) + more


@pytest.fixture(scope="module")
def fresh(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The catalogues as ``makemessages`` writes them from the code as it is now, extracted in a
    copy of the project so the committed ones are left alone."""
    root = tmp_path_factory.mktemp("extract") / "project"
    ignore = shutil.ignore_patterns(*IGNORED, ".git", ".*_cache", "__pycache__", "*.egg-info", "*.pyc")
    shutil.copytree(BASE, root, ignore=ignore)
    (root / "locale").mkdir(exist_ok=True)  # makemessages writes into the copy's own locale/
    done = subprocess.run(
        [sys.executable, "manage.py", "makemessages", *MAKEMESSAGES],
        cwd=root,
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, f"makemessages failed:\n{done.stdout}\n{done.stderr}"
    return root / "locale"


def committed(code: str) -> polib.POFile:
    path = po_path(BASE / "locale", code)
    assert path.exists(), f"{path.relative_to(BASE)} is missing: run `make messages`"
    return polib.pofile(str(path))


def live(catalogue: polib.POFile) -> list[polib.POEntry]:
    return [e for e in catalogue if not e.obsolete]


def placeholders(
    text: str, flags: list[str] | tuple[str, ...] = ("python-format", "python-brace-format")
) -> Counter[str]:
    """The placeholders a string formats (as its flags say it is formatted): named ones by name,
    positional ones by kind."""
    found: Counter[str] = Counter()
    if "python-format" in flags:
        for match in PERCENT.finditer(text):
            if match["kind"] != "%":
                found[f"%({match['name']})" if match["name"] is not None else f"%{match['kind']}"] += 1
    if "python-brace-format" in flags:
        for match in BRACE.finditer(text.replace("{{", "").replace("}}", "")):
            found["{" + match["name"] + "}"] += 1
    return found


@pytest.mark.parametrize("code", LANGUAGES)
def test_catalogue_holds_every_marked_string_and_no_other(fresh: Path, code: str) -> None:
    expected = {key(e) for e in live(polib.pofile(str(po_path(fresh, code))))}
    present = {key(e) for e in live(committed(code))}
    missing, stale = expected - present, present - expected
    assert not missing and not stale, (
        f"locale/{code} is behind the code: run `make messages`, translate, and commit the catalogues.\n"
        + (f"Marked in the code but not in the catalogue ({len(missing)}):\n{shown(missing)}\n" if missing else "")
        + (f"In the catalogue but no longer in the code ({len(stale)}):\n{shown(stale)}" if stale else "")
    )


@pytest.mark.parametrize("code", LANGUAGES)
def test_every_entry_is_translated_and_none_is_fuzzy(code: str) -> None:
    entries = live(committed(code))
    untranslated = {key(e) for e in entries if not e.translated() and "fuzzy" not in e.flags}
    fuzzy = {key(e) for e in entries if "fuzzy" in e.flags}
    assert not untranslated and not fuzzy, (
        f"locale/{code}/LC_MESSAGES/django.po: {len(untranslated)} untranslated, {len(fuzzy)} fuzzy of "
        f"{len(entries)} entries.\n"
        + (f"Untranslated:\n{shown(untranslated)}\n" if untranslated else "")
        + (f"Fuzzy (check the translation, then remove the flag):\n{shown(fuzzy)}" if fuzzy else "")
    )


@pytest.mark.parametrize("code", LANGUAGES)
def test_translations_keep_their_placeholders(code: str) -> None:
    wrong = []
    for entry in live(committed(code)):
        if entry.msgid_plural:
            forms = [(entry.msgid if n == 0 else entry.msgid_plural, s) for n, s in entry.msgstr_plural.items()]
        else:
            forms = [(entry.msgid, entry.msgstr)]
        for source, translation in forms:
            if translation and placeholders(source, entry.flags) != placeholders(translation, entry.flags):
                wrong.append(f"  {source!r} → {translation!r}")
    assert not wrong, f"locale/{code}: translations whose placeholders differ from the English:\n" + "\n".join(wrong)


@pytest.mark.parametrize("code", LANGUAGES)
def test_compiled_catalogue_matches_its_source(code: str) -> None:
    po = committed(code)
    mo_path = po_path(BASE / "locale", code).with_suffix(".mo")
    assert mo_path.exists(), f"{mo_path.relative_to(BASE)} is missing: run `make messages` and commit it"

    def strings(entries: list[polib.POEntry] | polib.MOFile) -> dict[tuple[str, str, str], object]:
        return {
            key(e): (tuple(sorted(e.msgstr_plural.items())) if e.msgid_plural else e.msgstr)
            for e in entries
            if e.msgid and (e.msgstr or any(e.msgstr_plural.values()))
        }

    translated = [e for e in live(po) if e.translated() and "fuzzy" not in e.flags]
    assert strings(polib.mofile(str(mo_path))) == strings(translated), (
        f"{mo_path.relative_to(BASE)} differs from its .po: run `make messages` (it compiles) and commit both"
    )


@pytest.mark.parametrize("code", LANGUAGES)
def test_catalogue_compiles_cleanly(code: str, tmp_path: Path) -> None:
    """GNU msgfmt's own checks: format strings of each entry against its flags, plural headers."""
    path = po_path(BASE / "locale", code)
    assert path.exists(), f"{path.relative_to(BASE)} is missing: run `make messages`"
    done = subprocess.run(
        ["msgfmt", "--check", "-o", str(tmp_path / "django.mo"), str(path)], capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr


def test_make_messages_extracts_as_this_test_does() -> None:
    makefile = (BASE / "Makefile").read_text()
    arguments = " ".join(makefile.split("MAKEMESSAGES_ARGS :=", 1)[1].split("\nmessages:", 1)[0].split()).replace(
        "\\ ", ""
    )
    assert arguments == " ".join(MAKEMESSAGES)


def test_placeholders_are_found() -> None:
    assert placeholders("%(side)s approved revision %(n)s, %d left, 100%%") == Counter(
        {"%(side)": 1, "%(n)": 1, "%d": 1}
    )
    assert placeholders("{count} goals for {name!r} {{literal}}") == Counter({"{count}": 1, "{name}": 1})
    assert placeholders("%(side)s a approuvé") != placeholders("%(side)s approved revision %(n)s")
