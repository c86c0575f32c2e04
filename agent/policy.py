"""Policy files: reading, validation into one-sentence errors, and layering.

Layers, lowest first: the built-in default, the user's files, files given with --policy,
the admin's files. A check's settings are merged key by key; a check an admin file lists
under `locked:` keeps what the default and admin layers say, whatever a user file says, and
so do the notify settings an admin locks (`notify`, or `notify.KEY`). Every file is read by
load_bytes (agent.policy_yaml: plain data only, bounded), whoever reads it.
"""

from __future__ import annotations

import contextlib
import dataclasses
import errno
import hashlib
from collections.abc import Callable, Collection, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import Annotated, Any, Literal, TypeVar

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    TypeAdapter,
    ValidationError,
    create_model,
)
from pydantic.json_schema import GenerateJsonSchema

from agent import snooze_limits
from agent.admin_layers import (
    Candidate,
    Gate,
    folder_candidates,
    forget_pull_errors,
    url_key,
)
from agent.checks.base import Check, CheckParams
from agent.durations import format_duration
from agent.errors import PolicyError
from agent.files import FileTooLarge, NotRegularFile, read_small_file
from agent.paths import Paths
from agent.paths import builtin_policy_path as builtin_policy_path  # noqa: PLC0414 - also here
from agent.policy_settings import (
    MAX_EXCEPTIONS,
    MAX_SOURCES,
    ExceptionRule,
    LayerInfo,
    Level,
    LogLevel,
    NotifySettings,
    Policy,
    Refusal,
    ReportSettings,
    SourcesSettings,
)
from agent.policy_yaml import line_of, read_plain

MAX_POLICY_BYTES = 1024 * 1024
SCHEMA_VERSION = 1
BUILTIN = "built-in default"
TOP_LEVEL_KEYS = (
    "schema", "name", "revision", "log_level", "notify", "checks", "locked", "sources", "report",
    "exceptions",
)  # fmt: skip

CheckClasses = Sequence[type[Check[Any]]]
T = TypeVar("T")


@dataclass(frozen=True)
class PolicyLayer:
    source: str
    level: Level
    name: str | None
    revision: int | None
    checks: dict[str, dict[str, Any]]
    locked: tuple[str, ...]
    notify: dict[str, Any] = field(default_factory=dict)
    log_level: LogLevel | None = None
    sources: dict[str, Any] | None = None
    report: dict[str, Any] | None = None
    sha256: str = ""
    signer: str | None = None
    exceptions: list[dict[str, Any]] | None = None


def policy_files(folder: Path) -> list[Path]:
    """The *.yaml and *.yml files in a policies.d folder, in name order; none if it is absent.
    A hidden name is no policy: editors keep lock and swap files there (Emacs's .#a.yaml)."""
    try:
        entries = list(folder.iterdir())
    except FileNotFoundError:
        return []
    except OSError as err:
        raise PolicyError(str(folder), _os_problem(err, "folder")) from None
    return sorted(
        p for p in entries if p.suffix in (".yaml", ".yml") and not p.name.startswith(".")
    )


def load_policy(
    paths: Paths,
    checks: CheckClasses,
    extra: Sequence[Path] = (),
    *,
    keep_going: bool = False,
    unloaded: Collection[str] = (),
) -> Policy:
    """The policy in force. By default a broken user or admin file is a PolicyError (`hygiene
    check` exists to show it); with `keep_going` (the agent) the last good copy of that file
    stays in force, or the file is left out when it never was good, and the refusal is in
    `Policy.refused`. Pulled sources and, with signing keys, admin files always keep going.
    `unloaded`: the ids of checks known but not in `checks` (`hygiene check --only`); their
    settings are not validated, and the policy has none for them."""
    # Built once for every file read: building a pydantic model costs start-up time.
    model = policy_file_model(checks, unloaded)
    validators = Validators(model, checks, unloaded)

    def load(path: Path, level: Level, source: str | None = None) -> PolicyLayer:
        return load_file(path, checks, level, source=source, model=model)

    def load_data(data: bytes, level: Level, source: str) -> PolicyLayer:
        return load_bytes(data, checks, level, source, model)

    gate = Gate.open(paths)
    refused: list[Refusal] = []
    rejected: list[str] = []
    layers = [load(builtin_policy_path(), Level.default, BUILTIN)]
    layers += _folder(
        paths.user_policies, Level.user, gate, load_data, refused, keep_going=keep_going
    )
    layers += [load(p, Level.user) for p in extra]
    admin: list[PolicyLayer] = []
    if gate.required or not keep_going:
        for candidate in folder_candidates(policy_files(paths.admin_policies)):
            label = None if gate.required else str(candidate.path)
            admin += _admitted(gate, candidate, load, rejected, label, tolerant=gate.required)
    else:
        admin += _folder(
            paths.admin_policies, Level.admin, gate, load_data, refused, keep_going=True
        )
    admin += _pulled(paths, gate, admin, load, rejected)
    policy = _combined([*layers, *admin], checks, refused, keep_going, validators)
    hidden = paths.admin_replaced
    if hidden is not None and policy_files(hidden / "policies.d"):
        # An agent that runs as the person can always be changed by the person; what the
        # variable makes easy is at least said, in the log and in `hygiene status`.
        rejected.append(
            f"HYGIENE_ADMIN_DIR replaces the admin folder {hidden}: its policies and locks "
            "are not in force"
        )
    problems = _problems(paths, refused, rejected)
    rejected = [r.sentence for r in refused] + rejected
    gate.record(rejected)
    if keep_going and not extra:  # the policy in force, as the agent has it
        snooze_limits.note(paths, policy.snooze_limits())
    return dataclasses.replace(
        policy,
        trust="signed" if gate.required else "unsigned",
        rejected=rejected,
        refused=refused,
        warnings=[*policy.warnings, *gate.warnings, *rejected],
        problems=problems,
    )


def _problems(
    paths: Paths, refused: Sequence[Refusal], rejected: Sequence[str]
) -> list[tuple[str, str | None]]:
    """The refusals as the fleet reports carry them. A person's own file is reported without
    its sentence: it may quote what the person wrote, and it is theirs, not the admin's."""
    mine = str(paths.user_policies)
    problems: list[tuple[str, str | None]] = []
    for refusal in refused:
        if refusal.source.startswith(mine):
            problems.append(("user_file_refused", None))
        else:
            problems.append(("rejected", refusal.sentence))
    problems += [("rejected", sentence) for sentence in rejected]
    return problems


def _folder(
    folder: Path,
    level: Level,
    gate: Gate,
    load_data: Callable[[bytes, Level, str], PolicyLayer],
    refused: list[Refusal],
    *,
    keep_going: bool,
) -> list[PolicyLayer]:
    """The layers of a policies.d folder's files; with `keep_going`, a file that cannot be
    used gives way to its last good copy (kept in the state folder), or is left out."""
    try:
        files = policy_files(folder)
    except PolicyError as err:
        if not keep_going:
            raise
        refused.append(Refusal(str(err), kept=False, source=str(folder)))
        return []
    prefix = f"{level.name}:" if level is Level.user else "file:"
    if keep_going:
        gate.forget_gone(prefix, [prefix + path.name for path in files])
    layers: list[PolicyLayer] = []
    for path in files:
        key = prefix + path.name
        try:
            data = read_policy_bytes(path, str(path), level)
            layer = load_data(data, level, str(path))
        except PolicyError as err:
            if not keep_going:
                raise
            kept = gate.last_good(key)
            copy: list[PolicyLayer] = []
            if kept is not None:
                with contextlib.suppress(PolicyError):  # read by an older version, say
                    copy = [load_data(kept, level, f"{path} (the last good copy)")]
            refused.append(Refusal(str(err), kept=bool(copy), source=str(path)))
            layers += copy
            continue
        if keep_going:
            gate.keep(key, data)
        layers.append(layer)
    return layers


def _combined(
    layers: list[PolicyLayer],
    checks: CheckClasses,
    refused: list[Refusal],
    keep_going: bool,
    validators: Validators,
) -> Policy:
    """combine(); with `keep_going`, a file whose settings make the whole invalid (each file
    is valid alone, but not together) is left out, as a broken file would be."""
    while True:
        try:
            return combine(layers, checks, validators)
        except PolicyError as err:
            culprit = _culprit(layers, err) if keep_going else None
            if culprit is None:
                raise
            layers = [layer for layer in layers if layer is not culprit]
            refused.append(Refusal(str(err), kept=False, source=culprit.source))


def _culprit(layers: list[PolicyLayer], err: PolicyError) -> PolicyLayer | None:
    mine = [layer for layer in layers if layer.level is not Level.default]
    named = [layer for layer in mine if layer.source == err.source]
    if named:
        return named[-1]
    # A whole-model rule (no one key to blame): the highest file that set that section.
    parts = (err.field or "").split(".")
    if parts[0] == "checks" and len(parts) > 1:
        touching = [layer for layer in mine if parts[1] in layer.checks]
    elif parts[0] == "notify":
        touching = [layer for layer in mine if layer.notify]
    else:
        touching = []
    return touching[-1] if touching else None


def _admitted(
    gate: Gate,
    candidate: Candidate,
    load: Callable[[Path, Level, str | None], PolicyLayer],
    rejected: list[str],
    label: str | None,
    *,
    tolerant: bool,
) -> list[PolicyLayer]:
    """The candidate's layer when it passes the gate and reads as a valid policy; else its
    last good copy's (`tolerant`), or the error (a plain admin file, as any policy file)."""
    judged = gate.judge(candidate)
    if judged.rejection:
        rejected.append(judged.rejection)
    if judged.path is None:
        return []
    try:
        layer = load(judged.path, Level.admin, label or judged.source)
    except PolicyError as err:
        if not tolerant:
            raise
        if judged.accepted is None:  # already the last good copy, and that one fails too
            return []
        where = f"line {err.line}: " if err.line else ""
        what = f"{err.field}: " if err.field else ""
        fallback = gate.refuse(candidate, f"it is not a valid policy ({where}{what}{err.problem})")
        rejected.append(fallback.rejection or "")
        if fallback.path is None:
            return []
        try:
            kept = load(fallback.path, Level.admin, fallback.source)
        except PolicyError:
            return []
        return [dataclasses.replace(kept, signer=fallback.signer)]
    if judged.accepted is not None:
        gate.accept(judged.accepted)
    return [dataclasses.replace(layer, signer=judged.signer)]


def _pulled(
    paths: Paths,
    gate: Gate,
    admin: list[PolicyLayer],
    load: Callable[[Path, Level, str | None], PolicyLayer],
    rejected: list[str],
) -> list[PolicyLayer]:
    """The cached copies of the sources the admin folder's files name; pulling them is the
    background agent's (agent.sources), so that reading a policy never waits on a network.
    A pulled source never stops the agent: a broken copy is rejected, the last good stays."""
    urls, _ = source_urls(admin)
    forget_pull_errors(paths.state, {url_key(url) for url in urls})
    if not urls:
        return []
    from agent.sources import cached, shown_url  # noqa: PLC0415 - only when an admin names sources

    pulled: list[PolicyLayer] = []
    for url in urls:
        copy = cached(url, paths.state / "sources")
        if copy.policy_path is None:
            continue  # never pulled yet: nothing to lay over
        when = f"pulled {copy.fetched_at:%Y-%m-%d %H:%M} UTC" if copy.fetched_at else "pulled"
        # Shown without a user name, password or query: they may hold the admin's token.
        shown = shown_url(url)
        candidate = Candidate(url_key(url), shown, copy.policy_path, copy.signature_path, True)
        judged_label = _pulled_label(shown, when)
        for found in _admitted(gate, candidate, load, rejected, None, tolerant=True):
            # Sources do not chain: a pulled policy cannot name more sources.
            pulled.append(
                dataclasses.replace(found, source=judged_label(found.source), sources=None)
            )
    return pulled


def _pulled_label(url: str, when: str) -> Callable[[str], str]:
    def label(source: str) -> str:
        state = source[len(url) :].strip() if source.startswith(url) else source
        if state.startswith("(") and state.endswith(")"):
            state = state[1:-1]
        return f"{url} ({when}, {state})"

    return label


def load_file(
    path: Path,
    checks: CheckClasses,
    level: Level,
    *,
    source: str | None = None,
    model: type[BaseModel] | None = None,
) -> PolicyLayer:
    """One policy file, validated; `model` is policy_file_model(checks) when the caller has it."""
    source = source or str(path)
    return load_bytes(read_policy_bytes(path, source, level), checks, level, source, model)


def load_bytes(
    data: bytes,
    checks: CheckClasses,
    level: Level,
    source: str,
    model: type[BaseModel] | None = None,
) -> PolicyLayer:
    """A policy file's contents, validated: the one way any policy is read (`policy
    validate`, `check`, the agent and its reloads)."""
    text = decode_policy(data, source)
    parsed = read_plain(text, source)
    if not isinstance(parsed, dict):
        raise PolicyError(
            source,
            f"expected a mapping of settings (schema, name, checks, ...), got {_kind(parsed)}",
            line=line_of(text, source, ()),
        )
    model = model or policy_file_model(checks)
    try:
        model.model_validate(parsed)
    except ValidationError as err:
        raise _explain(err, source, text, checks) from None
    # The layer keeps what the file wrote, not the defaults filled in, so that layering
    # can tell which file set which setting.
    raw_checks = {
        check_id: dict(settings or {})
        for check_id, settings in (parsed.get("checks") or {}).items()
    }
    return PolicyLayer(
        source=source,
        level=level,
        name=parsed.get("name"),
        revision=parsed.get("revision"),
        checks=raw_checks,
        locked=tuple(parsed.get("locked") or ()),
        notify=dict(parsed.get("notify") or {}),
        log_level=parsed.get("log_level"),
        sources=parsed.get("sources"),
        report=parsed.get("report"),
        sha256=hashlib.sha256(data).hexdigest(),
        exceptions=parsed.get("exceptions"),
    )


class Invalid(Exception):
    """Settings that do not validate: pydantic's first error (see _first_error), its place
    counted from the settings themselves."""

    def __init__(self, first: Any) -> None:
        super().__init__(first.get("msg", ""))
        self.first = first


class Validators:
    """Validates merged settings, for one reading of the policy. Building a validator costs
    far more than using one, so a check's settings and the policy's sections go through the
    policy file's model, which holds a validator of each already (building them again took
    16 ms of every `hygiene check`); without that model, through one TypeAdapter per class."""

    def __init__(
        self,
        model: type[BaseModel] | None = None,
        checks: CheckClasses = (),
        unloaded: Collection[str] = (),
    ) -> None:
        self._model = model
        # Every check the policy may name: those loaded, and those known by their id alone.
        self.check_ids = frozenset([*(check.id for check in checks), *unloaded])
        self._places: dict[type[Any], tuple[str, ...]] = {
            NotifySettings: ("notify",),
            SourcesSettings: ("sources",),
            ReportSettings: ("report",),
            **{check.Params: ("checks", check.id) for check in checks},
        }
        self._built: dict[type[Any], TypeAdapter[Any]] = {}

    def validate(self, kind: type[T], data: Any) -> T:
        """`data` as `kind`; raises Invalid."""
        place = self._places.get(kind, ()) if self._model is not None else ()
        try:
            if self._model is None or not place:
                adapter = self._built.get(kind)
                if adapter is None:
                    adapter = self._built[kind] = TypeAdapter(kind)
                value: T = adapter.validate_python(data)
                return value
            document: dict[str, Any] = {"schema": SCHEMA_VERSION}
            inner = document
            for part in place[:-1]:
                inner = inner.setdefault(part, {})
            inner[place[-1]] = data
            found: Any = self._model.model_validate(document)
        except ValidationError as err:
            first = _first_error(err)
            raise Invalid({**first, "loc": tuple(first["loc"])[len(place) :]}) from None
        for part in place:
            found = getattr(found, part)
        return found  # type: ignore[no-any-return]


def validated(kind: type[T], data: Any) -> T:
    """`data` as the settings class `kind`, checked as a policy file's would be; raises
    pydantic's ValidationError."""
    value: T = TypeAdapter(kind).validate_python(data)
    return value


def setting_names(kind: type[Any]) -> list[str]:
    """The settings a settings class takes, in the order it declares them."""
    return [f.name for f in dataclasses.fields(kind)]


def as_plain(value: Any) -> Any:
    """Settings as a policy file writes them (durations as "15m"), for JSON and YAML."""
    return TypeAdapter(type(value)).dump_python(value, mode="json")


def combine(
    layers: Iterable[PolicyLayer], checks: CheckClasses, validators: Validators | None = None
) -> Policy:
    validators = validators or Validators()
    layers = list(layers)
    warnings: list[str] = []
    locked: dict[str, str] = {}
    for layer in layers:
        if layer.locked and layer.level is not Level.admin:
            warnings.append(
                f"{layer.source}: locked is only honoured in admin policy files; ignored here."
            )
            continue
        for check_id in layer.locked:
            locked.setdefault(check_id, layer.source)

    settings: dict[str, CheckParams] = {}
    origins: dict[str, dict[str, str]] = {}
    for check in checks:
        merged: dict[str, Any] = {}
        origin: dict[str, str] = {}
        for layer in layers:
            if check.id not in layer.checks:
                continue
            if layer.level is Level.user and check.id in locked:
                warnings.append(
                    f"{layer.source} changes {check.id}, which the admin policy "
                    f"{locked[check.id]} locks; those settings are ignored."
                )
                continue
            for key, value in layer.checks[check.id].items():
                merged[key] = value
                origin[key] = layer.source
        try:
            settings[check.id] = validators.validate(check.Params, merged)
        except Invalid as err:
            first = err.first
            key = str(first["loc"][0]) if first["loc"] else ""
            raise PolicyError(
                origin.get(key, BUILTIN),
                _phrase(first, check.Params),
                field=f"checks.{check.id}" + (f".{key}" if key else ""),
            ) from None
        origins[check.id] = origin

    notify, notify_origins = _merged_notify(layers, locked, warnings, validators)
    # What the default and admin layers alone say: a locked check is never snoozed for
    # longer than this, whatever max_snooze a user file sets (Policy.snooze_limit).
    admin_notify, _ = _merged_notify(
        [la for la in layers if la.level is not Level.user], {}, [], validators
    )

    admin_only: dict[str, Any] = {}
    for layer in layers:
        for key in ("sources", "report"):
            value = getattr(layer, key)
            if value is None:
                continue
            if layer.level is not Level.admin:
                warnings.append(
                    f"{layer.source}: {key} is only honoured in admin policy files; ignored here."
                )
                continue
            admin_only[key] = {**admin_only.get(key, {}), **value}
    exceptions = _exceptions(layers, checks, warnings, validators)
    if "sources" in admin_only:
        # Each admin file's sources add up; a later file's `every` wins, as any setting does.
        urls, left_out = source_urls(layers)
        admin_only["sources"]["urls"] = urls
        if left_out:
            warnings.append(
                f"the admin policy files name {len(urls) + left_out} policy sources; only the "
                f"first {MAX_SOURCES} are pulled, {left_out} are left out"
            )
    logged = [layer for layer in layers if layer.log_level is not None]
    named = [layer for layer in layers if layer.name is not None]
    revised = [layer for layer in layers if layer.revision is not None]
    return Policy(
        name=named[-1].name if named and named[-1].name else "default",
        revision=revised[-1].revision if revised and revised[-1].revision is not None else 0,
        sources=[layer.source for layer in layers],
        locked=locked,
        settings=settings,
        origins=origins,
        notify=notify,
        notify_origins=notify_origins,
        admin_notify=admin_notify,
        warnings=warnings,
        log_level=logged[-1].log_level if logged and logged[-1].log_level else "info",
        log_level_origin=logged[-1].source if logged else None,
        pull=validators.validate(SourcesSettings, admin_only.get("sources", {})),
        layers=[
            LayerInfo(la.source, la.level.name, la.name, la.revision, la.sha256, la.signer)
            for la in layers
        ],
        report=validators.validate(ReportSettings, admin_only.get("report", {})),
        exceptions=exceptions,
    )


def _exceptions(
    layers: Sequence[PolicyLayer],
    checks: CheckClasses,
    warnings: list[str],
    validators: Validators,
) -> list[ExceptionRule]:
    """Every admin file's exceptions, in order; a user file cannot grant one."""
    known = validators.check_ids or {check.id for check in checks}
    rules: list[ExceptionRule] = []
    for layer in layers:
        if not layer.exceptions:
            continue
        if layer.level is not Level.admin:
            warnings.append(
                f"{layer.source}: exceptions are only honoured in admin policy files; ignored here."
            )
            continue
        for n, item in enumerate(layer.exceptions):
            try:
                rule = validators.validate(ExceptionRule, item)
            except Invalid as err:
                raise PolicyError(
                    layer.source, _phrase(err.first, None), field=f"exceptions.{n}"
                ) from None
            if rule.check not in known:
                raise PolicyError(
                    layer.source,
                    f"no check is called {rule.check!r}",
                    field=f"exceptions.{n}.check",
                )
            if rule.finding is not None and rule.subject is not None:
                raise PolicyError(
                    layer.source,
                    "an exception names a finding or a subject pattern, not both",
                    field=f"exceptions.{n}",
                )
            if rule.until < date.today():
                warnings.append(
                    f"{layer.source}: exceptions.{n} ended on {rule.until.isoformat()}; "
                    "it no longer applies."
                )
            rules.append(rule)
            if len(rules) > MAX_EXCEPTIONS:
                raise PolicyError(
                    layer.source,
                    f"the admin files grant more than {MAX_EXCEPTIONS} exceptions in all",
                    field=f"exceptions.{n}",
                )
    return rules


def source_urls(layers: Iterable[PolicyLayer]) -> tuple[list[str], int]:
    """The sources every admin layer names, in order, each once, at most MAX_SOURCES; and how
    many more there were."""
    named = [
        url
        for layer in layers
        if layer.level is Level.admin
        for url in (layer.sources or {}).get("urls", [])
    ]
    urls = list(dict.fromkeys(named))
    return urls[:MAX_SOURCES], max(0, len(urls) - MAX_SOURCES)


def _merged_notify(
    layers: Sequence[PolicyLayer],
    locked: dict[str, str],
    warnings: list[str],
    validators: Validators,
) -> tuple[NotifySettings, dict[str, str]]:
    """The notify settings of `layers`, lowest first; a user layer does not change what an
    admin locks (`notify`: all of them; `notify.KEY`: that one)."""
    notify: dict[str, Any] = {}
    origins: dict[str, str] = {}
    for layer in layers:
        for key, value in layer.notify.items():
            lock = locked.get("notify") or locked.get(f"notify.{key}")
            if layer.level is Level.user and lock is not None:
                warnings.append(
                    f"{layer.source} changes notify.{key}, which the admin policy {lock} "
                    "locks; that setting is ignored."
                )
                continue
            # grace and remind merge severity by severity; the rest is replaced whole.
            if isinstance(value, dict) and isinstance(notify.get(key), dict):
                notify[key] = {**notify[key], **value}
            else:
                notify[key] = value
            origins[key] = layer.source
    try:
        return validators.validate(NotifySettings, notify), origins
    except Invalid as err:
        first = err.first
        key = str(first["loc"][0]) if first["loc"] else ""
        raise PolicyError(
            origins.get(key, BUILTIN),
            _phrase(first, None),
            field=".".join(["notify", *(str(p) for p in first["loc"])]),
        ) from None


def _whole_number(value: Any) -> Any:
    # YAML's true and 1.0 would pass for 1 in pydantic's lax mode.
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"expected the whole number {SCHEMA_VERSION}, got {value!r}")  # noqa: TRY004 - pydantic reports only ValueError as a validation error
    return value


def policy_file_model(checks: CheckClasses, unloaded: Collection[str] = ()) -> type[BaseModel]:
    """The pydantic model of one policy file, with one optional entry per known check; a
    check in `unloaded` is known by its id alone, its settings taken as written."""
    check_fields: dict[str, Any] = {
        check.id: (check.Params | None, Field(default=None, description=check.title))
        for check in checks
    }
    check_fields |= {check_id: (dict[str, Any] | None, None) for check_id in unloaded}
    checks_model = create_model("Checks", __config__=ConfigDict(extra="forbid"), **check_fields)
    lockable = [check.id for check in checks] + list(unloaded)
    lockable += ["notify", *(f"notify.{key}" for key in setting_names(NotifySettings))]
    known = Literal[tuple(lockable)]  # type: ignore[valid-type]
    return create_model(
        "PolicyFile",
        __config__=ConfigDict(extra="forbid", title="hygiene-agent policy file"),
        schema_=(
            Annotated[Literal[1], BeforeValidator(_whole_number)],
            Field(alias="schema", description="The policy format version; this reads 1."),
        ),
        name=(
            str | None,
            Field(
                default=None,
                max_length=100,
                pattern=r"^[^\x00-\x1f\x7f]*$",
                description="Shown in reports.",
            ),
        ),
        revision=(
            int | None,
            Field(
                default=None,
                ge=0,
                le=2**31 - 1,
                strict=True,
                description="Admins raise it with every change.",
            ),
        ),
        log_level=(
            LogLevel | None,
            Field(
                default=None,
                description="What the background agent logs: error, warning, info (the "
                "default: one line per event) or debug.",
            ),
        ),
        notify=(
            NotifySettings | None,
            Field(default=None, description="When and how often to tell the person."),
        ),
        checks=(checks_model | None, Field(default=None)),
        locked=(
            list[known],  # type: ignore[valid-type]
            Field(
                default_factory=list,
                description="Admin files only: what user files may not change: checks by id, "
                "notify (every notify setting) or notify.KEY (one of them). A locked check is "
                "never snoozed longer than the admin's max_snooze.",
            ),
        ),
        sources=(
            SourcesSettings | None,
            Field(default=None, description="Admin files only: policies to pull and lay over."),
        ),
        report=(
            ReportSettings | None,
            Field(default=None, description="Admin files only: what fleet tools can read."),
        ),
        exceptions=(
            list[ExceptionRule] | None,
            Field(
                default=None,
                max_length=MAX_EXCEPTIONS,
                description="Admin files only: findings the person is not told about until a "
                "date, each with the reason shown to them.",
            ),
        ),
    )


class _SchemaWithDurations(GenerateJsonSchema):
    """A default duration is written as a policy writes it ("10s"), not as ISO 8601."""

    def encode_default(self, dft: Any) -> Any:
        if isinstance(dft, timedelta):
            return format_duration(dft)
        return super().encode_default(dft)


def policy_json_schema(checks: CheckClasses) -> dict[str, Any]:
    schema = policy_file_model(checks).model_json_schema(
        by_alias=True, schema_generator=_SchemaWithDurations
    )
    return {"$schema": "https://json-schema.org/draft/2020-12/schema", **schema}


# --- reading ---------------------------------------------------------------------


def read_policy_bytes(path: Path, source: str, level: Level = Level.user) -> bytes:
    try:
        return read_small_file(path, MAX_POLICY_BYTES)
    except IsADirectoryError:
        raise PolicyError(source, "is a folder, not a policy file") from None
    except NotRegularFile:
        raise PolicyError(source, "is not a regular file") from None
    except FileTooLarge:
        raise PolicyError(source, "is larger than 1 MiB, too large for a policy file") from None
    except OSError as err:
        raise PolicyError(source, _os_problem(err, "file", level)) from None


def decode_policy(data: bytes, source: str) -> str:
    if b"\x00" in data:
        raise PolicyError(source, "is a binary file, not a YAML policy")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as err:
        raise PolicyError(
            source, f"is not UTF-8 text (byte {err.start} cannot be decoded)"
        ) from None


def _os_problem(err: OSError, what: str, level: Level = Level.user) -> str:
    if err.errno == errno.ENOENT:
        return "does not exist"
    if err.errno in (errno.EACCES, errno.EPERM):
        if level is Level.admin:
            return (
                f"cannot be read: permission denied; an admin {what} must be readable by "
                "every user (ask your administrator)"
            )
        return f"cannot be read: permission denied; make the {what} readable by you"
    if err.errno == errno.ELOOP:
        return "is a symbolic link loop"
    if err.errno == errno.EISDIR:
        return "is a folder, not a policy file"
    return f"cannot be read: {(err.strerror or str(err)).lower()}"


def _kind(value: object) -> str:
    if isinstance(value, list):
        return "a list"
    if isinstance(value, str):
        return "a line of text"
    if value is None:
        return "nothing"
    return f"a {type(value).__name__}"


# --- explaining validation errors ----------------------------------------------


def _explain(err: ValidationError, source: str, text: str, checks: CheckClasses) -> PolicyError:
    first = _first_error(err)
    loc = tuple(str(part) for part in first["loc"])
    problem = _problem(first, loc, checks)
    if err.error_count() > 1:
        more = err.error_count() - 1
        problem += f" (and {more} more problem{'s' if more > 1 else ''})"
    return PolicyError(
        source, problem, field=".".join(loc) or None, line=line_of(text, source, loc)
    )


def _first_error(err: ValidationError) -> Any:
    # Only the first is said; without links and context, 10,000 of them weigh half as much.
    first = err.errors(include_url=False, include_context=False)[0]
    if first["type"] == "too_long":  # its limit is in the context
        first = err.errors(include_url=False)[0]
    # Settings are dataclasses, the file itself a model: one name for each kind of error.
    return {**first, "type": _SAME_ERROR.get(first["type"], first["type"])}


_SAME_ERROR = {
    "unexpected_keyword_argument": "extra_forbidden",
    "dataclass_type": "model_type",
    "dataclass_args_type": "model_type",
}


def _problem(error: Any, loc: tuple[str, ...], checks: CheckClasses) -> str:
    kind = error["type"]
    by_id = {check.id: check for check in checks}
    if kind == "extra_forbidden":
        if len(loc) == 1:
            return f"unknown key; a policy file has {', '.join(TOP_LEVEL_KEYS)}"
        if len(loc) == 2 and loc[0] == "checks":
            return f"unknown check; the checks are {', '.join(sorted(by_id))}"
        if len(loc) == 3 and loc[1] in by_id:
            takes = ", ".join(setting_names(by_id[loc[1]].Params))
            return f"unknown setting; {loc[1]} takes {takes}"
    if kind == "extra_forbidden" and loc[:1] == ("notify",):
        return "unknown setting; see `hygiene policy schema` for the notify settings"
    if kind == "literal_error" and loc == ("schema",):
        return f"this version reads policy schema {SCHEMA_VERSION}, not {error['input']!r}"
    if kind == "literal_error" and loc[:1] == ("locked",):
        return (
            f"unknown check {error['input']!r}; the checks are {', '.join(sorted(by_id))} "
            "(or notify, or notify.KEY for one notify setting)"
        )
    if kind == "too_long" and isinstance(error["input"], list):
        what = "addresses" if loc == ("sources", "urls") else "entries"
        limit = error.get("ctx", {}).get("max_length", "so many")
        return f"at most {limit} {what}, got {len(error['input'])}"
    if kind == "missing" and loc == ("schema",):
        return f"is missing; every policy file starts with `schema: {SCHEMA_VERSION}`"
    return _phrase(error, None)


_PLAIN = {
    "bool_parsing": "expected true or false",
    "bool_type": "expected true or false",
    "int_parsing": "expected a whole number",
    "int_type": "expected a whole number",
    "int_from_float": "expected a whole number",
    "string_type": "expected text",
    "list_type": "expected a list",
    "dict_type": "expected a mapping",
    "model_type": "expected a mapping of settings",
    "model_attributes_type": "expected a mapping of settings",
    "string_pattern_mismatch": "must not contain control characters",
    "string_too_long": "is too long",
    "too_short": "needs at least one entry",
}


def _phrase(error: Any, params: type[CheckParams] | None) -> str:
    message = _PLAIN.get(error["type"]) or str(error["msg"]).removeprefix("Value error, ")
    if error["type"] == "extra_forbidden" and params is not None:
        return f"unknown setting; it takes {', '.join(setting_names(params))}"
    if message.startswith("Input should be "):
        message = "expected " + message.removeprefix("Input should be ")
    if error["type"] == "missing":
        return "is required"
    if "got " not in message and "input" in error:
        shown = repr(error["input"])
        message += f", got {shown if len(shown) <= 60 else shown[:57] + '...'}"
    return message
