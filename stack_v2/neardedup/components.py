"""Connected components in Beam: min-label propagation unrolled ``max_rounds`` times, each round one
GroupByKey of the labels offered with the edges and one ParDo; one more round checks convergence and fails
the run, naming the parameter to raise, if any label still changes (never a silent partial clustering)."""

from __future__ import annotations

import apache_beam as beam

OWN, PROPOSED, NEIGHBOUR = 0, 1, 2  # what a node's grouped values are: its label, a label offered, an edge


def _relabel(element, last: bool = False):
    """One round at a node: its new label is the smallest offered (its own among them), offered on to
    itself and its neighbours for the next round. Two passes over the group, never a list of it: a star's
    centre has as many neighbours as its bucket had members. The last round yields (node, label) and,
    tagged ``changed``, a 1 for a node whose label still moved."""
    node, values = element
    label = own = None
    for kind, value in values:
        if kind != NEIGHBOUR:
            label = value if label is None or value < label else label
            if kind == OWN:
                own = value
    if last:
        yield node, label
        if own != label:
            yield beam.pvalue.TaggedOutput("changed", 1)
        return
    yield node, (OWN, label)
    for kind, value in values:
        if kind == NEIGHBOUR:
            yield value, (PROPOSED, label)


def _fail_if_changed(count, rounds: int):
    if count:
        raise RuntimeError(
            f"near_dedup: connected components did not converge in max_rounds={rounds} "
            f"({count} labels still changing); raise near_dedup.max_rounds in the recipe"
        )
    return count


class ConnectedComponents(beam.PTransform):
    """Edges (u, v) -> (node, label) for every node with an edge, the label the smallest node of its
    component; fails the run if labels still change after ``max_rounds`` rounds (never a partial clustering)."""

    def __init__(self, max_rounds: int):
        super().__init__()
        self._max_rounds = max_rounds

    def expand(self, edges):
        # Connected components by min-label propagation; a round is one Flatten, one GroupByKey and one
        # ParDo (the labels offered and the edges meet at each node), unrolled max_rounds + 1 times.
        adjacency = edges | "BothWays" >> beam.FlatMapTuple(lambda u, v: [(u, (NEIGHBOUR, v)), (v, (NEIGHBOUR, u))])
        offers = adjacency | "Init" >> beam.MapTuple(lambda u, edge: (u, (PROPOSED, min(u, edge[1]))))
        for i in range(self._max_rounds + 1):
            offers = (
                (offers, adjacency)
                | f"Round{i}" >> beam.Flatten()
                | f"Group{i}" >> beam.GroupByKey()
                | f"Relabel{i}" >> beam.FlatMap(_relabel)
            )
        # One more round checks convergence: any label still changing fails the run.
        last = (
            offers
            | "GroupLast" >> beam.GroupByKey()
            | "Labels" >> beam.FlatMap(_relabel, last=True).with_outputs("changed", main="labels")
        )
        labels = last.labels
        _ = (
            last.changed
            | "CountChanged" >> beam.CombineGlobally(sum)
            | "Converged" >> beam.Map(_fail_if_changed, self._max_rounds)
        )
        return labels
