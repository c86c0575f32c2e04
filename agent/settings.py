"""Settings as plain data: frozen dataclasses that a running agent uses as they are, with the
rules a policy file must meet written beside each field.

Nothing here imports pydantic. The resident agent carries settings and never validates them
(a policy is read and validated in a child process: agent.policy_child), so that pydantic,
its core and its schema never sit in its memory. The markers below are read by pydantic
through its documented hooks, `__get_pydantic_core_schema__` and
`__get_pydantic_json_schema__`, only where a policy is validated (agent.policy); each
imports pydantic-core there, when it is called.

    @settings
    class ScreenLockParams(CheckParams):
        max_lock_delay: Annotated[Duration, Doc("...")] = timedelta(minutes=10)
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import TYPE_CHECKING, Annotated, Any, TypeVar, dataclass_transform

from agent.durations import duration_setting, format_duration

if TYPE_CHECKING:
    from pydantic import GetCoreSchemaHandler, GetJsonSchemaHandler
    from pydantic_core import CoreSchema

T = TypeVar("T")

# What pydantic reads on a plain dataclass (`__pydantic_config__`): a key a policy file
# writes that the settings do not have is an error, not ignored.
_CONFIG = {"extra": "forbid"}


@dataclass_transform(kw_only_default=True, frozen_default=True, field_specifiers=(field,))
def settings(cls: type[T]) -> type[T]:
    """A settings class: a frozen dataclass, keyword arguments only, unknown keys refused."""
    cls.__pydantic_config__ = _CONFIG  # type: ignore[attr-defined]
    return dataclass(frozen=True, kw_only=True)(cls)


class Doc:
    """What a setting is, for `hygiene policy schema` and the docs."""

    def __init__(self, text: str) -> None:
        self.text = text

    def __get_pydantic_json_schema__(
        self, core: CoreSchema, handler: GetJsonSchemaHandler
    ) -> dict[str, Any]:
        # Beside a $ref, not in the definition it points to: other fields share that one.
        return {**handler(core), "description": self.text}


class Limit:
    """Bounds pydantic-core checks itself, by the names of its schemas' keys: ge, le,
    min_length, max_length, pattern; strict=True takes no other type for this one (YAML's
    `yes` is not true, 1 is not true)."""

    def __init__(self, **keys: object) -> None:
        self.keys = keys

    def __get_pydantic_core_schema__(self, source: Any, handler: GetCoreSchemaHandler) -> Any:
        schema = dict(handler(source))
        # A Rule written before this one wraps the type's schema; the bounds are the type's.
        inner = schema
        while inner.get("type") in _WRAPPERS:
            inner["schema"] = inner = dict(inner["schema"])
        inner.update(self.keys)
        return schema


STRICT = Limit(strict=True)
_WRAPPERS = ("function-before", "function-after", "function-wrap")


class Rule:
    """A rule a value must meet once it has its type: `check(value)` returns it, or raises
    ValueError with the sentence to say."""

    def __init__(self, check: Callable[[Any], Any], *, before: bool = False) -> None:
        self.check = check
        self.before = before  # given the value as the file wrote it, before its type

    def __get_pydantic_core_schema__(self, source: Any, handler: GetCoreSchemaHandler) -> Any:
        from pydantic_core import core_schema  # noqa: PLC0415 - only where policies are read

        if self.before:
            return core_schema.no_info_before_validator_function(self.check, handler(source))
        return core_schema.no_info_after_validator_function(self.check, handler(source))


class Text:
    """A value a policy writes as text and the agent holds as something else (a duration, a
    span of hours): `parse` reads what the file wrote, `write` writes it back the same way,
    `schema` is the JSON Schema of the text."""

    def __init__(
        self, parse: Callable[[Any], Any], write: Callable[[Any], str], schema: dict[str, Any]
    ) -> None:
        self.parse = parse
        self.write = write
        self.schema = schema

    def __get_pydantic_core_schema__(self, source: Any, handler: GetCoreSchemaHandler) -> Any:
        from pydantic_core import core_schema  # noqa: PLC0415 - only where policies are read

        return core_schema.no_info_plain_validator_function(
            self.parse,
            serialization=core_schema.plain_serializer_function_ser_schema(
                self.write, return_schema=core_schema.str_schema()
            ),
        )

    def __get_pydantic_json_schema__(
        self, core: CoreSchema, handler: GetJsonSchemaHandler
    ) -> dict[str, Any]:
        return dict(self.schema)


def _home_relative(path: str) -> str:
    if path.startswith("~") and path != "~" and not path.startswith("~/"):
        raise ValueError(f"only ~/ is understood, not another user's ~, got {path!r}")
    return path


# A path in a policy: ~/ and relative paths start at the home directory.
HomePath = Annotated[str, Rule(_home_relative)]

# A duration in a policy: "30s", "15m", "4h", "7d", written back the same way.
Duration = Annotated[
    timedelta,
    Text(
        duration_setting,
        format_duration,
        {"type": "string", "pattern": r"^\d+[smhd]$", "examples": ["30s", "15m"]},
    ),
]
