"""Beam's per-transform bookkeeping, made to cost once per DoFn instead of a dozen times.

``userstate.get_dofn_specs`` inspects the signature of every method of a DoFn to find state and timer
parameters. Beam calls it about fourteen times for each ParDo while a pipeline is built, translated and
run (``is_stateful_dofn``, ``validate_stateful_dofn``, ``to_runner_api``, the runner's own checks), and
the answer never changes for a given DoFn object: its methods are its class's. With a build's few
hundred ParDos that was about a third of the fixed cost of a run (issue 17's profile). Remembering the
answer per DoFn object (weakly: nothing is kept alive) removes it; ``install()`` is idempotent and runs
when a build is constructed and when a worker loads the stages.

The same inspection repeats for every copy of a DoFn: each bundle a runner processes unpickles its stage's
DoFns afresh, and Beam inspects every method of each again (``get_dofn_specs`` on the new object, then
``get_function_arguments`` per method for the invoker): with the traversal's levels that is a few hundred
DoFn copies per build, each with a dozen methods, and ``inspect.signature`` was most of the runner's set-up
cost. A function's signature is fixed once the function exists, and a bound method's is its function's
less the first parameter, whatever the instance; so Beam's ``get_signature`` remembers its answer per
Python function (weakly), for plain functions and methods of plain functions only.

For a new copy of a DoFn whose class is plain (its methods functions or classmethods, no properties or
other computed attributes, no ``__getattr__``), the methods ``get_dofn_specs`` inspects are its class's, so their
state and timer parameters are too: they are found once per class. Only methods with an ``_inspect_<name>`` hook,
whose parameters the object decides (``Map``'s ``process`` is its function's, held by the object), and bound
methods the object holds are inspected on each object, the way Beam does.

The DirectRunner runs a batch pipeline in process, on Beam's FnApiRunner (README: "DirectRunner (default),
in-process"). Beam's DirectRunner would first offer it to Prism, a Go runner it downloads from GitHub and starts
as another process: offline that fails, after translating and pickling the whole pipeline once more for it (a
tenth of a small build's CPU), and online the build would run on a runner it never chose. Beam skips Prism for
interactive runs (``SwitchingDirectRunner._is_interactive``, read nowhere else), so the DirectRunner is marked so.
"""

from __future__ import annotations

import inspect
import types
import weakref

from apache_beam.options.pipeline_options import PipelineOptions
from apache_beam.runners.direct.direct_runner import SwitchingDirectRunner
from apache_beam.transforms import core, ptransform, userstate
from apache_beam.transforms import util as beam_util
from apache_beam.typehints import decorators

_original = userstate.get_dofn_specs
_specs: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
_plans: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()  # DoFn class -> _Plan, or None: ask Beam
_original_view_as = PipelineOptions.view_as
_views: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
_original_signature = decorators.get_signature
_function_signatures: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
_method_signatures: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()  # by the method's function
# Modules that took Beam's get_signature by name (``from ... import get_signature``) besides its own.
_SIGNATURE_USERS = (decorators, core, ptransform, beam_util)


def _remembered_dofn_specs(dofn):
    try:
        state, timers = _specs[dofn]
    except KeyError:
        state, timers = _specs[dofn] = _specs_by_class(dofn)
    except TypeError:  # an object that cannot be weakly referenced or hashed: ask Beam every time
        return _original(dofn)
    return set(state), set(timers)  # copies: a caller may not change what is remembered


# Class attributes that never give a bound method (``types.MethodType``), whatever the object.
_NO_METHOD = (
    staticmethod,
    types.WrapperDescriptorType,
    types.MethodDescriptorType,
    types.ClassMethodDescriptorType,
    types.BuiltinFunctionType,
)


class _Plan:
    """What ``get_dofn_specs`` finds on every object of a class, and what it must ask each object."""

    def __init__(self, names: frozenset, hooked: tuple):
        self.names = names  # every attribute that gives a bound method; a DoFn's own may not shadow one
        self.hooked = hooked  # those with an ``_inspect_<name>`` hook: asked per object
        self.specs: tuple | None = None  # (state, timers) of the others, from the first object


def _plan(cls) -> _Plan | None:
    if cls.__getattribute__ is not object.__getattribute__ or hasattr(cls, "__getattr__"):
        return None
    methods, hooked = [], []
    for name in dir(cls):
        attr = inspect.getattr_static(cls, name)
        if isinstance(attr, (types.FunctionType, classmethod)):
            (hooked if hasattr(cls, f"_inspect_{name}") else methods).append(name)
        elif isinstance(attr, _NO_METHOD) or name in ("__class__", "__dict__", "__weakref__"):
            continue
        elif isinstance(attr, property) and attr is inspect.getattr_static(core.DoFn, name, None):
            continue  # DoFn's own properties (_process_defined, ...): booleans, never a method
        elif hasattr(type(attr), "__get__"):
            return None  # a property or another descriptor: what it gives may depend on the object
    return _Plan(frozenset(methods + hooked), tuple(hooked))


def _add_specs(dofn, name: str, state: set, timers: set) -> None:
    """Beam's ``get_dofn_specs`` for one method (userstate.py), its duplicate check included."""
    from apache_beam.runners.common import MethodWrapper

    method = MethodWrapper(dofn, name)
    param_ids = [d.param_id for d in method.defaults if isinstance(d, core._DoFnParam)]
    if len(param_ids) != len(set(param_ids)):
        raise ValueError(f"DoFn {dofn!r} has duplicate {name} method parameters: {param_ids}.")
    for d in method.defaults:
        if isinstance(d, core._StateDoFnParam):
            state.add(d.state_spec)
        elif isinstance(d, core._TimerDoFnParam):
            timers.add(d.timer_spec)


def _specs_by_class(dofn) -> tuple[set, set]:
    """``get_dofn_specs(dofn)``, the class's methods inspected once per class (see the module's doc)."""
    cls = type(dofn)
    try:
        plan = _plans[cls]
    except KeyError:
        plan = _plans[cls] = _plan(cls)
    own = getattr(dofn, "__dict__", None)
    if plan is None or own is None:
        return _original(dofn)
    per_object = set(plan.hooked)
    for name, value in own.items():
        if name in plan.names and name not in per_object:
            return _original(dofn)  # it hides a method whose specs are the class's
        if type(value) is types.MethodType:
            per_object.add(name)
    if plan.specs is None:
        state, timers = set(), set()
        for name in sorted(plan.names - set(plan.hooked)):
            _add_specs(dofn, name, state, timers)
        plan.specs = (frozenset(state), frozenset(timers))
    state, timers = set(plan.specs[0]), set(plan.specs[1])
    for name in sorted(per_object):
        # Beam inspects what the object gives as a bound method: Map's own ``process``, a plain function, is not
        if type(getattr(dofn, name, None)) is types.MethodType:
            _add_specs(dofn, name, state, timers)
    return state, timers


def _remembered_signature(func):
    """Beam's ``get_signature``, once per function: anything but a plain function or a method of one
    (builtins, classes, partials, callable objects) is asked every time."""
    kind = type(func)
    if kind is types.FunctionType:
        table, key = _function_signatures, func
    elif kind is types.MethodType and type(func.__func__) is types.FunctionType:
        table, key = _method_signatures, func.__func__
    else:
        return _original_signature(func)
    signature = table.get(key)
    if signature is None:
        signature = table[key] = _original_signature(func)
    return signature  # immutable: inspect.Signature changes only by making a new one


def _remembered_view(options, cls):
    """``PipelineOptions.view_as`` parses the flags again on every call (Beam calls it twice per transform
    applied); a view shares its options' values, so one view per class and options object serves all."""
    try:
        views = _views.setdefault(options, {})
    except TypeError:
        return _original_view_as(options, cls)
    view = views.get(cls)
    if view is None:
        view = views[cls] = _original_view_as(options, cls)
    return view


def install() -> None:
    """Make ``userstate.get_dofn_specs`` (and its callers in Beam) remember their answer per DoFn, and
    ``PipelineOptions.view_as`` its view per options object and class, and Beam's ``get_signature`` its
    answer per function; the DirectRunner in process, without trying Prism first."""
    userstate.get_dofn_specs = _remembered_dofn_specs
    SwitchingDirectRunner._is_interactive = True
    PipelineOptions.view_as = _remembered_view
    for module in _SIGNATURE_USERS:
        module.get_signature = _remembered_signature
