"""The catalog's coded values (category, funding, provider kind), read from their code
("technical") or the Russian name the regional navigators use ("Техническая"); shared
by the import and the operator's tools."""
from __future__ import annotations

from core.errors import DomainError
from core.models import Category, Funding, ProviderKind

# Russian names as the regional navigators write them (for parsing only; the
# bot's own labels live in bot/dialogs/texts.py).
_CATEGORY_NAMES: dict[str, Category] = {
    "техническая": Category.TECHNICAL,
    "естественнонаучная": Category.SCIENCE,
    "естественно-научная": Category.SCIENCE,
    "физкультурно-спортивная": Category.SPORT,
    "художественная": Category.ART,
    "туристско-краеведческая": Category.TOURISM,
    "социально-гуманитарная": Category.SOCIAL,
    "социально-педагогическая": Category.SOCIAL,  # the pre-2019 name
}
_FUNDING_NAMES: dict[str, Funding] = {
    "сертификат": Funding.CERTIFICATE,
    "возможна оплата сертификатом": Funding.CERTIFICATE,
    "муниципальная": Funding.MUNICIPAL,
    "бесплатная": Funding.MUNICIPAL,
    "платная": Funding.PAID,
}
_PROVIDER_KIND_NAMES: dict[str, ProviderKind] = {
    "муниципальная": ProviderKind.MUNICIPAL,
    "муниципальный": ProviderKind.MUNICIPAL,
    "частная": ProviderKind.PRIVATE,
    "частный": ProviderKind.PRIVATE,
    "ип": ProviderKind.IP,
    "индивидуальный предприниматель": ProviderKind.IP,
}


def _key(raw: object) -> str:
    return " ".join(str(raw).split()).casefold().replace("ё", "е")


def _parse(raw: object, enum_cls: type, names: dict, reason: str):  # type: ignore[no-untyped-def]
    key = _key(raw) if raw is not None else ""
    for member in enum_cls:
        if key == member.value:
            return member
    if key in names:
        return names[key]
    raise DomainError(reason, value=str(raw)[:50])


def parse_category(raw: object) -> Category:
    return _parse(raw, Category, _CATEGORY_NAMES, "category_invalid")


def parse_funding(raw: object) -> Funding:
    return _parse(raw, Funding, _FUNDING_NAMES, "funding_invalid")


def parse_provider_kind(raw: object) -> ProviderKind:
    return _parse(raw, ProviderKind, _PROVIDER_KIND_NAMES, "provider_kind_invalid")
