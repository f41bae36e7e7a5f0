"""`dispatchwire master` in Russian and English: the catalogue, the plurals, the language from
`--lang` or the locale's variables, and the app in Russian through a whole job in a terminal."""

import asyncio
import re
from pathlib import Path
from typing import Any

import pexpect
import pytest

from dispatchwire.client._i18n import (
    CATALOGUES,
    EN,
    RU,
    Messages,
    language_from_env,
    plural_category,
)
from tests.client.conftest import Server, call, place_order, register
from tests.client.test_terminal_apps import expect, spawn_master

PLURAL_FORMS = {"en": {"one", "other"}, "ru": {"one", "few", "many", "other"}}  # CLDR
ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]|\x1b[()][A-Z0-9]")


def forms(message: str | dict[str, str]) -> list[str]:
    return list(message.values()) if isinstance(message, dict) else [message]


def test_both_catalogues_have_the_same_keys() -> None:
    assert set(EN) == set(RU)
    assert len(EN) > 40


def test_plural_forms_and_parameters_agree() -> None:
    for code, catalogue in CATALOGUES.items():
        for key, message in catalogue.items():
            if isinstance(message, dict):
                assert set(message) == PLURAL_FORMS[code], (code, key)
                assert isinstance(EN[key], dict) and isinstance(RU[key], dict)
            names = {frozenset(re.findall(r"\{(\w+)\}", text)) for text in forms(message)}
            english = {frozenset(re.findall(r"\{(\w+)\}", text)) for text in forms(EN[key])}
            assert names == english, (code, key)


@pytest.mark.parametrize(("count", "ru", "en"), [
    (0, "many", "other"), (1, "one", "one"), (2, "few", "other"), (4, "few", "other"),
    (5, "many", "other"), (11, "many", "other"), (12, "many", "other"), (14, "many", "other"),
    (21, "one", "other"), (22, "few", "other"), (25, "many", "other"), (101, "one", "other"),
    (111, "many", "other"), (112, "many", "other"), (0.5, "other", "other"),
    (1.5, "other", "other"), (60.0, "many", "other")])
def test_plural_categories_are_cldr_s(count: float, ru: str, en: str) -> None:
    assert plural_category("ru", count) == ru
    assert plural_category("en", count) == en


def test_russian_counts_take_their_form() -> None:
    russian = Messages("ru")
    said = [russian("state.polling", count=count) for count in (1, 3, 5, 21, 0.5, 60.0)]
    assert said == [f"нет связи: проверяем раз в {tail}" for tail in (
        "1 секунду", "3 секунды", "5 секунд", "21 секунду", "0,5 секунды", "60 секунд")]
    assert Messages("en")("state.polling", count=0.5) == "socket down: polling every 0.5 s"
    assert russian.words("status", "in_progress") == "в работе"
    assert russian.words("appliance", "hovercraft") == "hovercraft"  # unknown: as it is
    with pytest.raises(ValueError, match="'de'"):
        Messages("de")


@pytest.mark.parametrize(("environ", "lang"), [
    ({}, "en"), ({"LANG": "ru_RU.UTF-8"}, "ru"), ({"LANG": "ru_UA"}, "ru"),
    ({"LANG": "C.UTF-8"}, "en"), ({"LANG": "en_GB.UTF-8", "LC_MESSAGES": "ru_RU.UTF-8"}, "ru"),
    ({"LANG": "ru_RU.UTF-8", "LC_ALL": "en_US.UTF-8"}, "en"),
    ({"LANG": "ru_RU.UTF-8", "LC_ALL": ""}, "ru"), ({"LANG": "russian"}, "ru")])
def test_the_language_comes_from_the_locale(environ: dict[str, str], lang: str) -> None:
    assert language_from_env(environ) == lang


def english_left(screen: str, data: tuple[str, ...]) -> list[str]:
    """Words of the English catalogue on a Russian screen (what people typed removed first)."""
    for datum in data:
        screen = screen.replace(datum, " ")
    russian = "\n".join(text for message in RU.values() for text in forms(message))
    pieces = {piece.strip(" ·:;,.()…-") for message in EN.values() for text in forms(message)
              for piece in re.split(r"\{\w+\}| · |: ", text)}
    return sorted(piece for piece in pieces if len(piece) > 3 and piece not in russian
                  and re.search(rf"(?<![^\W\d_]){re.escape(piece)}(?![^\W\d_])", screen))


async def test_the_master_app_in_russian(make_server: Any, tmp_path: Path) -> None:
    server: Server = make_server()
    master = await register(server, "master", name="Иван Петров",
                            specializations=["washing_machine"])
    customer = await register(server, "client", name="Ольга Смирнова")
    log = tmp_path / "tty.log"
    app = spawn_master(server, master.email, master.password, log, "--lang", "ru")
    try:
        await expect(app, "● на связи: предложения приходят сразу")  # styled apart from "связь: "
        await expect(app, "ждём предложений")
        placed = await place_order(server, customer, "washing_machine")
        await expect(app, r"новое предложение \d+: стиральная машина, 1 Main St")
        # (a column's header: rich may wrap it, or style the two words apart)
        await expect(app, r"ответить(\s|\x1b\[[0-9;]*m)+за")
        await expect(app, r"4:5\d")
        app.send("a")
        await expect(app, rf"предложение \d+ принято: заказ {placed['id']}, позвоните клиенту "
                          r"Ольга Смирнова: \+1 555 0100")
        await expect(app, f"заказ {placed['id']}: принят")
        app.send("p")
        await expect(app, f"заказ {placed['id']}: в работе")
        app.send("c")
        await expect(app, f"заказ {placed['id']}: выполнен")
        app.send("c")  # nothing in progress any more
        await expect(app, "нет заказа в статусе «в работе»")
        server.kill()
        await expect(app, "нет связи: переподключаемся")
        await expect(app, "нет связи: проверяем раз в 0,5 секунды")
        await server.restart()
        await expect(app, "на связи: предложения приходят сразу")
        app.send("q")
        await expect(app, "смена завершена")
        await asyncio.to_thread(app.expect, pexpect.EOF)
    finally:
        app.close(force=True)
    screen = ANSI.sub("", log.read_text())
    assert app.exitstatus == 0, screen
    assert "связь: " in screen and "Заказы в работе" in screen
    assert english_left(screen, (master.email, customer.email, "1 Main St", "does not spin")
                        ) == []
    assert english_left("connection: ● connected", ()) == ["connected", "connection"]


@pytest.mark.parametrize(("env", "says"), [
    ({"LANG": "ru_RU.UTF-8"}, "● на связи"),
    ({"LANG": "ru_RU.UTF-8", "LC_ALL": "en_US.UTF-8"}, "● connected"),
    ({"LC_MESSAGES": "ru_RU.UTF-8"}, "● на связи")])
async def test_the_app_speaks_the_locale_s_language(
        env: dict[str, str], says: str, make_server: Any, tmp_path: Path) -> None:
    server: Server = make_server()
    master = await register(server, "master")
    app = spawn_master(server, master.email, master.password, tmp_path / "tty.log", **env)
    try:
        await expect(app, says)
        app.send("q")
        await asyncio.to_thread(app.expect, pexpect.EOF)
    finally:
        app.close(force=True)
    assert app.exitstatus == 0
    assert (await call(server, "GET", "/api/masters/me", master))["onShift"] is False
