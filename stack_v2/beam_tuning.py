"""Beam's per-transform bookkeeping, made to cost once per DoFn instead of a dozen times.

``userstate.get_dofn_specs`` inspects the signature of every method of a DoFn to find state and timer
parameters. Beam calls it about fourteen times for each ParDo while a pipeline is built, translated and
run (``is_stateful_dofn``, ``validate_stateful_dofn``, ``to_runner_api``, the runner's own checks), and
the answer never changes for a given DoFn object: its methods are its class's. With a build's few
hundred ParDos that was about a third of the fixed cost of a run (issue 17's profile). Remembering the
answer per DoFn object (weakly: nothing is kept alive) removes it; ``install()`` is idempotent and runs
when a build is constructed and when a worker loads the stages.
"""

from __future__ import annotations

import weakref

from apache_beam.options.pipeline_options import PipelineOptions
from apache_beam.transforms import userstate

_original = userstate.get_dofn_specs
_specs: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
_original_view_as = PipelineOptions.view_as
_views: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def _remembered_dofn_specs(dofn):
    try:
        state, timers = _specs[dofn]
    except KeyError:
        state, timers = _specs[dofn] = _original(dofn)
    except TypeError:  # an object that cannot be weakly referenced or hashed: ask Beam every time
        return _original(dofn)
    return set(state), set(timers)  # copies: a caller may not change what is remembered


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
    ``PipelineOptions.view_as`` its view per options object and class."""
    userstate.get_dofn_specs = _remembered_dofn_specs
    PipelineOptions.view_as = _remembered_view
