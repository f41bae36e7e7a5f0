"""The terminal app's words, in English and Russian: one dict per language, the same keys
(tests/client/test_i18n.py compares them).

Adding a message: add its key to both `EN` and `RU`, in the same place, and show it with
`messages("key", name=value)`. Parameters are `{name}` (str.format); numbers are passed as
they are and formatted for the language (`0,5` in Russian). A message that counts something
takes `count` and is a dict of its plural forms by the CLDR categories of its language:
English `one`, `other`; Russian `one` (1, 21 секунду), `few` (2-4, 22 секунды), `many`
(5-20, 25 секунд), `other` (fractions: 0,5 секунды). The server's messages (an error's
`detail`) stay English: they are the API; ours go around them (`{error}`).

The language: `--lang`, else the first of LC_ALL, LC_MESSAGES and LANG that is set (as POSIX
orders them): `ru_RU.UTF-8` and other `ru*` are Russian, anything else English.
"""

from collections.abc import Mapping

__all__ = ["LANGUAGES", "Messages", "language_from_env", "plural_category"]

LANGUAGES = ("en", "ru")
Message = str | dict[str, str]

EN: dict[str, Message] = {
    "help": "a accept · d decline · ↑/↓ select · p start job · c complete job · q quit",
    "title": "dispatchwire master",
    "header": " · {email} · last event {last}",
    "connection": "connection: ",
    "state.connecting": "connecting ...",
    "state.connected": "connected: offers come live",
    "state.reconnecting": "socket down: reconnecting ...",
    "state.polling": {"one": "socket down: polling every {count} s",
                      "other": "socket down: polling every {count} s"},
    "state.closed": "closed",
    "stopped": "stopped: {error}",
    "reloaded": "missed updates were too old to replay: offers and jobs reloaded",
    "offer.new": "new offer {id}: {appliance} at {address}",
    "offer.byPolling": " (found by polling)",
    "offer.expired": "offer {id} expired or was withdrawn",
    "offer.none": "no offer to answer",
    "offer.declined": "declined offer {id}",
    "offer.failed": "offer {id}: {error}",
    "offer.accepted": "accepted offer {id}: order {order}, call {name} at {phone}",
    "noPhone": "(no phone)",
    "order.status": "order {id} is now {status}",
    "order.failed": "order {id}: {error}",
    "job.none": "no job is {status}",
    "offers": "Offers",
    "offers.waiting": "waiting for offers ...",
    "col.offer": "offer",
    "col.order": "order",
    "col.appliance": "appliance",
    "col.problem": "problem",
    "col.address": "address",
    "col.answerWithin": "answer within",
    "col.status": "status",
    "col.client": "client",
    "col.phone": "phone",
    "jobs": "Jobs",
    "jobs.none": "no job in hand",
    "passwordPrompt": "Password for {email}: ",
    "failed": "dispatchwire master: {error}",
    "shiftEnded": "shift ended",
    "bye": "bye",
    # The wire's status names: scripts read these lines.
    "status.new": "new",
    "status.assigned": "assigned",
    "status.in_progress": "in_progress",
    "status.completed": "completed",
    "status.cancelled": "cancelled",
    "appliance.washing_machine": "washing machine",
    "appliance.refrigerator": "refrigerator",
    "appliance.dishwasher": "dishwasher",
    "appliance.oven": "oven",
}

RU: dict[str, Message] = {
    "help": "a принять · d отклонить · ↑/↓ выбрать · p начать работу · c завершить работу · "
            "q выйти",
    "title": "dispatchwire: мастер",
    "header": " · {email} · последнее событие {last}",
    "connection": "связь: ",
    "state.connecting": "подключение ...",
    "state.connected": "на связи: предложения приходят сразу",
    "state.reconnecting": "нет связи: переподключаемся ...",
    "state.polling": {"one": "нет связи: проверяем раз в {count} секунду",
                      "few": "нет связи: проверяем раз в {count} секунды",
                      "many": "нет связи: проверяем раз в {count} секунд",
                      "other": "нет связи: проверяем раз в {count} секунды"},
    "state.closed": "закрыто",
    "stopped": "остановлено: {error}",
    "reloaded": "пропущенные обновления слишком старые: предложения и заказы загружены заново",
    "offer.new": "новое предложение {id}: {appliance}, {address}",
    "offer.byPolling": " (найдено опросом)",
    "offer.expired": "предложение {id} истекло или отозвано",
    "offer.none": "нет предложения для ответа",
    "offer.declined": "предложение {id} отклонено",
    "offer.failed": "предложение {id}: {error}",
    "offer.accepted": "предложение {id} принято: заказ {order}, позвоните клиенту {name}: "
                      "{phone}",
    "noPhone": "(телефон не указан)",
    "order.status": "заказ {id}: {status}",
    "order.failed": "заказ {id}: {error}",
    "job.none": "нет заказа в статусе «{status}»",
    "offers": "Предложения",
    "offers.waiting": "ждём предложений ...",
    "col.offer": "предложение",
    "col.order": "заказ",
    "col.appliance": "техника",
    "col.problem": "неисправность",
    "col.address": "адрес",
    "col.answerWithin": "ответить за",
    "col.status": "статус",
    "col.client": "клиент",
    "col.phone": "телефон",
    "jobs": "Заказы в работе",
    "jobs.none": "заказов нет",
    "passwordPrompt": "Пароль для {email}: ",
    "failed": "dispatchwire master: {error}",
    "shiftEnded": "смена завершена",
    "bye": "до свидания",
    "status.new": "новый",
    "status.assigned": "принят",
    "status.in_progress": "в работе",
    "status.completed": "выполнен",
    "status.cancelled": "отменён",
    "appliance.washing_machine": "стиральная машина",
    "appliance.refrigerator": "холодильник",
    "appliance.dishwasher": "посудомоечная машина",
    "appliance.oven": "духовой шкаф",
}

CATALOGUES: dict[str, dict[str, Message]] = {"en": EN, "ru": RU}


def plural_category(lang: str, count: float) -> str:
    """The CLDR plural category of `count` in `lang` (what Intl.PluralRules says)."""
    if count != int(count):
        return "other"  # both languages: any fraction
    n = abs(int(count))
    if lang != "ru":
        return "one" if n == 1 else "other"
    if n % 10 == 1 and n % 100 != 11:
        return "one"
    if 2 <= n % 10 <= 4 and not 12 <= n % 100 <= 14:
        return "few"
    return "many"


def language_from_env(environ: Mapping[str, str]) -> str:
    """The language of the messages the environment asks for: `ru` or `en`."""
    for name in ("LC_ALL", "LC_MESSAGES", "LANG"):
        if value := environ.get(name):
            return "ru" if value.lower().startswith("ru") else "en"
    return "en"


class Messages:
    """The messages of one language: `messages("key", name=value)`."""

    def __init__(self, lang: str = "en") -> None:
        if lang not in CATALOGUES:
            raise ValueError(f"language must be one of {', '.join(LANGUAGES)}, not {lang!r}")
        self.lang = lang
        self.catalogue = CATALOGUES[lang]

    def __call__(self, key: str, **params: str | float) -> str:
        message = self.catalogue[key]
        if isinstance(message, dict):
            count = params["count"]
            if isinstance(count, str):
                raise TypeError(f"the count of {key!r} must be a number, not {count!r}")
            message = message.get(plural_category(self.lang, count), message["other"])
        shown = {name: value if isinstance(value, str) else self.number(value)
                 for name, value in params.items()}
        return message.format(**shown)

    def number(self, value: float) -> str:
        """A number as the language writes it: ids and counts whole, `0.5` as `0,5` in Russian."""
        if isinstance(value, int):
            return str(value)
        text = f"{value:g}"
        return text.replace(".", ",") if self.lang == "ru" else text

    def words(self, kind: str, value: str) -> str:
        """A wire value (`status`, `appliance`) in words; an unknown one as it is."""
        message = self.catalogue.get(f"{kind}.{value}")
        return message if isinstance(message, str) else value
