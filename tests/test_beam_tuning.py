"""stack_v2.beam_tuning: Beam's per-DoFn and per-options bookkeeping remembered, with Beam's answers."""

from __future__ import annotations

import apache_beam as beam
from apache_beam.coders import VarIntCoder
from apache_beam.options.pipeline_options import PipelineOptions, StandardOptions, TypeOptions
from apache_beam.testing.util import assert_that, equal_to
from apache_beam.transforms import userstate
from apache_beam.transforms.userstate import ReadModifyWriteStateSpec

from stack_v2 import beam_tuning

beam_tuning.install()
COUNT = ReadModifyWriteStateSpec("count", VarIntCoder())


class _Stateful(beam.DoFn):
    def process(self, element, count=beam.DoFn.StateParam(COUNT)):
        seen = (count.read() or 0) + 1
        count.write(seen)
        yield element[0], seen


class _Plain(beam.DoFn):
    def process(self, element):
        yield element


def test_specs_are_beams_and_the_same_on_every_call():
    stateful = _Stateful()
    assert userstate.get_dofn_specs(stateful) == beam_tuning._original(stateful)
    assert userstate.get_dofn_specs(stateful) == ({COUNT}, set())
    assert userstate.is_stateful_dofn(stateful) and not userstate.is_stateful_dofn(_Plain())
    first, _ = userstate.get_dofn_specs(stateful)
    first.clear()  # a caller changing its copy changes nothing remembered
    assert userstate.get_dofn_specs(stateful) == ({COUNT}, set())


def test_a_stateful_dofn_still_runs_with_its_state():
    with beam.Pipeline() as p:
        out = p | beam.Create([("a", 1), ("a", 2), ("b", 3)]) | beam.ParDo(_Stateful())
        assert_that(out, equal_to([("a", 1), ("a", 2), ("b", 1)]))


def test_views_share_the_options_values():
    options = PipelineOptions(["--runner=DirectRunner", "--pipeline_type_check"])
    standard = options.view_as(StandardOptions)
    assert options.view_as(StandardOptions) is standard  # one view per options object and class
    assert standard.runner == "DirectRunner" and options.view_as(TypeOptions).pipeline_type_check
    standard.runner = "DaskRunner"  # a change through one view is seen through the others
    assert options.view_as(StandardOptions).runner == "DaskRunner"
    assert options.get_all_options()["runner"] == "DaskRunner"
    other = PipelineOptions(["--runner=PortableRunner"])
    assert other.view_as(StandardOptions).runner == "PortableRunner"  # views are per options object


class _WithProperty(beam.DoFn):
    @property
    def helper(self):
        return self.process  # a bound method a property hands out: only the object can say

    def process(self, element):
        yield element


def test_specs_by_class_are_beams_for_every_kind_of_dofn():
    def with_state(element, count=beam.DoFn.StateParam(COUNT)):
        yield element

    plain = _Plain()
    plain.extra = _Stateful().process  # a method of the object's own: asked of Beam
    dofns = [
        _Stateful(),
        _Stateful(),  # the second of a class: from the class's plan
        _Plain(),
        plain,
        _WithProperty(),
        beam.ParDo(beam.Map(lambda x: x).fn).fn,  # Map's process: its function decides, per object
        beam.core.CallableWrapperDoFn(with_state),
        beam.core.CallableWrapperDoFn(lambda x: [x]),
        beam.core.CallableWrapperDoFn(_Stateful().process),  # a bound method as Map's process: inspected
        beam.core.CallableWrapperDoFn(len),  # a builtin: not a method
    ]
    for dofn in dofns:
        assert beam_tuning._specs_by_class(dofn) == beam_tuning._original(dofn), dofn
    assert beam_tuning._plans[_WithProperty] is None and beam_tuning._plans[_Stateful] is not None


def test_signatures_are_remembered_per_function_and_are_beams():
    from apache_beam.typehints import decorators

    def f(a, b=1):
        return a

    assert decorators.get_signature(f) is decorators.get_signature(f)
    assert decorators.get_signature(_Plain().process) == beam_tuning._original_signature(_Plain().process)
    assert str(decorators.get_signature(_Plain().process)) == "(element)"  # bound: without self
    assert str(decorators.get_signature(_Plain.process)) == "(self, element)"


def test_the_direct_runner_runs_in_process_without_trying_prism(monkeypatch):
    from apache_beam.runners.portability import prism_runner

    tried = []
    monkeypatch.setattr(prism_runner.PrismRunner, "run_pipeline", lambda *args: tried.append(args))
    with beam.Pipeline(options=PipelineOptions(["--runner=DirectRunner"])) as p:
        assert_that(p | beam.Create([1, 2]) | beam.Map(lambda x: x * 2), equal_to([2, 4]))
    assert not tried
