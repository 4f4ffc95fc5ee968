"""One sqladmin view per mapped table: read-mostly.

Nothing can be created or edited (a row written by hand would bypass the service's rules:
password hashing, token generation, key encryption). Rows whose removal is a useful, safe
operation can be deleted: a session (= revoking it), a verification (= invalidating a pending
link or code), a rate-limit entry (= lifting a limit). Users, accounts and signing keys are
view-only. Every view lists, shows, searches, sorts and exports only the mapped (non-secret)
columns.
"""

from __future__ import annotations

import types
from typing import Any

from sqladmin import ModelView

from auth_service.studio.models import LABEL_COLUMN, StudioTable

DELETABLE = frozenset({"session", "verification", "rate_limit"})

TITLES: dict[str, tuple[str, str, str]] = {  # name, plural, Font Awesome icon
    "user": ("User", "Users", "fa-solid fa-user"),
    "session": ("Session", "Sessions", "fa-solid fa-key"),
    "account": ("Account", "Accounts", "fa-solid fa-id-card"),
    "verification": ("Verification", "Verifications", "fa-solid fa-envelope-circle-check"),
    "jwks": ("JWKS key", "JWKS keys", "fa-solid fa-signature"),
    "rate_limit": ("Rate limit", "Rate limits", "fa-solid fa-gauge-high"),
}


def model_view(studio_table: StudioTable) -> type[ModelView]:
    logical = studio_table.logical
    default_title = logical.replace("_", " ").capitalize()
    name, plural, icon = TITLES.get(logical, (default_title, f"{default_title}s", ""))
    shown = list(studio_table.shown)
    relations = list(studio_table.relations)
    searchable = list(studio_table.text_columns) + [
        f"{attribute}.{LABEL_COLUMN[target]}"
        for attribute, target in studio_table.relations.items()
        if target in LABEL_COLUMN
    ]
    default_sort: Any = ("created_at", True) if "created_at" in shown else ("id", False)
    attributes: dict[str, Any] = {
        "name": name,
        "name_plural": plural,
        "icon": icon,
        "can_create": False,
        "can_edit": False,
        "can_delete": logical in DELETABLE,
        "can_view_details": True,
        "can_export": True,
        "can_import": False,
        "column_list": shown + relations,
        "column_details_list": shown + relations,
        "column_export_list": shown,
        "column_searchable_list": searchable,
        "column_sortable_list": shown,
        "column_default_sort": default_sort,
        "page_size": 25,
    }
    view = types.new_class(
        f"{studio_table.model.__name__}View",
        (ModelView,),
        {"model": studio_table.model},
        lambda namespace: namespace.update(attributes),
    )
    return view
