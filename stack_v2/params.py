"""Typed parameters: the small vocabulary recipes declare their stages' parameters with.

A spec checks one value as YAML gives it and returns it converted (``Float`` turns YAML ints into floats),
or raises ``Invalid`` whose message says what is allowed, e.g. ``an integer >= 1``. A ``Parameters`` table
holds one stage's parameters (default and spec each) and an optional rule across them; its ``resolve``
gives the complete, converted parameter set. Pure: no Beam, no I/O.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any


class Invalid(ValueError):
    """A value its spec does not allow; ``str`` is what is allowed (``an integer >= 1``)."""


class ParameterError(ValueError):
    """One line: ``name='value' is not allowed (what is allowed)``, or why parameters do not fit together."""


class Spec:
    def check(self, value: Any) -> Any:
        """``value`` converted to the spec's type, or Invalid."""
        raise NotImplementedError

    def describe(self) -> str:
        raise NotImplementedError

    def invalid(self) -> Invalid:
        return Invalid(self.describe())


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)  # YAML's true is not 1


def _fmt(number: float) -> str:
    return f"{number:g}" if isinstance(number, float) else str(number)


def _range(low, high, low_open: bool, high_open: bool) -> str:
    if low is not None and high is not None:
        return f" in {'(' if low_open else '['}{_fmt(low)}, {_fmt(high)}{')' if high_open else ']'}"
    if low is not None:
        return f" {'>' if low_open else '>='} {_fmt(low)}"
    if high is not None:
        return f" {'<' if high_open else '<='} {_fmt(high)}"
    return ""


@dataclass(frozen=True)
class Int(Spec):
    min: int | None = None
    max: int | None = None

    def check(self, value):
        if (
            not _is_int(value)
            or (self.min is not None and value < self.min)
            or (self.max is not None and value > self.max)
        ):
            raise self.invalid()
        return value

    def describe(self) -> str:
        return "an integer" + _range(self.min, self.max, False, False)


@dataclass(frozen=True)
class Float(Spec):
    """A finite number (YAML ints too, returned as float) within the bounds."""

    min: float | None = None
    max: float | None = None
    min_exclusive: bool = False
    max_exclusive: bool = False

    def check(self, value):
        if not (_is_int(value) or isinstance(value, float)):
            raise self.invalid()
        value = float(value)
        if not math.isfinite(value):
            raise self.invalid()
        if self.min is not None and (value <= self.min if self.min_exclusive else value < self.min):
            raise self.invalid()
        if self.max is not None and (value >= self.max if self.max_exclusive else value > self.max):
            raise self.invalid()
        return value

    def describe(self) -> str:
        return "a number" + _range(self.min, self.max, self.min_exclusive, self.max_exclusive)


@dataclass(frozen=True)
class Bool(Spec):
    def check(self, value):
        if not isinstance(value, bool):  # "yes" as a string, or 1, is a mistake, not a switch
            raise self.invalid()
        return value

    def describe(self) -> str:
        return "true or false"


@dataclass(frozen=True)
class Str(Spec):
    """A non-empty string, one of ``choices`` when given."""

    choices: tuple[str, ...] | None = None

    def check(self, value):
        if not isinstance(value, str) or not value or (self.choices is not None and value not in self.choices):
            raise self.invalid()
        return value

    def describe(self) -> str:
        if self.choices is not None:
            return "one of " + ", ".join(self.choices)
        return "a non-empty string"


@dataclass(frozen=True)
class Path(Spec):
    """A file or directory: a local path or a URI (s3://, gs://), as a non-empty string."""

    def check(self, value):
        if not isinstance(value, str) or not value.strip():
            raise self.invalid()
        return value

    def describe(self) -> str:
        return "a path"


@dataclass(frozen=True)
class Optional(Spec):
    inner: Spec

    def check(self, value):
        if value is None:
            return None
        try:
            return self.inner.check(value)
        except Invalid:
            raise self.invalid() from None

    def describe(self) -> str:
        return f"{self.inner.describe()} or null"


@dataclass(frozen=True)
class StrList(Spec):
    """A list of non-empty strings (an empty string would match everything where they are substrings)."""

    min_items: int = 0

    def check(self, value):
        if not isinstance(value, list) or len(value) < self.min_items:
            raise self.invalid()
        if not all(isinstance(item, str) and item for item in value):
            raise self.invalid()
        return list(value)

    def describe(self) -> str:
        return "a non-empty list of strings" if self.min_items else "a list of strings"


@dataclass(frozen=True)
class Mapping(Spec):
    """A mapping of names (non-empty strings) to values of ``values``."""

    values: Spec
    min_items: int = 0

    def check(self, value):
        if not isinstance(value, dict) or len(value) < self.min_items:
            raise self.invalid()
        out = {}
        for key, item in value.items():
            if not isinstance(key, str) or not key:
                raise self.invalid()
            try:
                out[key] = self.values.check(item)
            except Invalid:
                raise self.invalid() from None
        return out

    def describe(self) -> str:
        return f"a {'non-empty ' if self.min_items else ''}mapping of names to {self.values.describe()}"


SPEC = "stack_v2.spec"  # dataclass field metadata key of a recipe parameter's Spec


def param(default: Any, spec: Spec):
    """A config dataclass field that is a recipe parameter: its default and its type and range."""
    if isinstance(default, (dict, list)):
        return field(default_factory=lambda: type(default)(default), metadata={SPEC: spec})
    return field(default=default, metadata={SPEC: spec})


def path_parameters(table: Parameters) -> set[str]:
    """The parameters holding a file or directory (a Path spec, optional or in a mapping's values)."""

    def is_path(spec: Spec) -> bool:
        if isinstance(spec, Path):
            return True
        inner = getattr(spec, "inner", None) or getattr(spec, "values", None)
        return isinstance(inner, Spec) and is_path(inner)

    return {name for name, p in table.params.items() if is_path(p.spec)}


@dataclass(frozen=True)
class Param:
    default: Any
    spec: Spec


@dataclass(frozen=True)
class Parameters:
    """One stage's parameters: name -> Param, and ``rule``: a check across them (the resolved set -> a
    message when they do not fit together, else None)."""

    params: dict[str, Param]
    rule: Callable[[dict], str | None] | None = field(default=None, compare=False)

    def __post_init__(self):
        for name, param in self.params.items():  # a default its own spec rejects is a bug here, not in a recipe
            try:
                param.spec.check(param.default)
            except Invalid as exc:
                raise ValueError(f"parameter {name}: default {param.default!r} is not {exc}") from None

    @classmethod
    def of_config(cls, config_type, rule=None) -> Parameters:
        """From a frozen config dataclass whose fields are made with ``param(default, spec)``: the one
        place a stage's defaults and ranges are written."""
        params = {}
        for f in dataclasses.fields(config_type):
            if SPEC not in f.metadata:
                continue  # not a recipe parameter (set by code, e.g. a nested config)
            default = f.default if f.default is not dataclasses.MISSING else f.default_factory()
            params[f.name] = Param(default, f.metadata[SPEC])
        return cls(params, rule)

    @classmethod
    def of(cls, defaults: dict, specs: dict[str, Spec], rule=None) -> Parameters:
        """From defaults and specs given apart (defaults read from a data file); the names must match."""
        if set(defaults) != set(specs):
            raise ValueError(f"parameters {sorted(map(str, defaults))} do not match specs {sorted(specs)}")
        return cls({name: Param(defaults[name], spec) for name, spec in specs.items()}, rule)

    def defaults(self) -> dict:
        """Every parameter's default, converted (a YAML ``100`` for a float parameter is ``100.0``)."""
        return {name: param.spec.check(param.default) for name, param in self.params.items()}

    def unknown(self, given: dict) -> list[str]:
        return sorted(str(name) for name in given if name not in self.params)

    def resolve(self, given: dict) -> dict:
        """The defaults updated with ``given``, each checked and converted; ParameterError for the first bad
        one (the caller rejects unknown names first) or with the rule's message when they do not fit together."""
        out = self.defaults()
        for name, value in given.items():
            try:
                out[name] = self.params[name].spec.check(value)
            except Invalid as exc:
                raise ParameterError(f"{name}={value!r} is not allowed ({exc})") from None
        if self.rule is not None and (message := self.rule(out)):
            raise ParameterError(message)
        return out
