"""Connected components in Beam, labelled with their smallest node.

Two ways, chosen at run time from the number of edges (one count, a side input):
- at most ``local_max_edges`` edges: every edge crosses one GroupByKey to a single key and one worker
  labels them with a union-find (``local_labels``): a graph that small (about 400 bytes an edge in memory)
  fits one worker, and it costs one shuffle instead of ``max_rounds + 1``;
- more: min-label propagation unrolled ``max_rounds`` times, each round one GroupByKey of the labels offered
  with the edges and one ParDo; one more round checks convergence and fails the run, naming the parameter to
  raise, if any label still changes (never a silent partial clustering). The rounds are in the graph either
  way; below the limit they run on nothing.

Both give every node the smallest node of its component, so the choice never changes a result.
"""

from __future__ import annotations

from collections.abc import Iterable

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


def local_labels(edges: Iterable[tuple[str, str]]) -> dict[str, str]:
    """node -> the smallest node of its component, for every node of ``edges`` (union-find, path halving)."""
    parent: dict[str, str] = {}

    def root(node: str) -> str:
        while (up := parent[node]) != node:
            parent[node] = parent[up]
            node = parent[node]
        return node

    for u, v in edges:
        parent.setdefault(u, u)
        parent.setdefault(v, v)
        ru, rv = root(u), root(v)
        if ru != rv:  # the smaller root stays the root: a component's root is its smallest node
            parent[max(ru, rv)] = min(ru, rv)
    return {node: root(node) for node in parent}


def _route(edge, count: int, local_max_edges: int):
    """An edge to the single-worker union-find when the whole graph is small enough, else to the rounds."""
    if count <= local_max_edges:
        yield beam.pvalue.TaggedOutput("local", (None, edge))
    else:
        yield edge


def _label_locally(group):
    _key, edges = group
    yield from local_labels(edges).items()


def _fail_if_changed(count, rounds: int):
    if count:
        raise RuntimeError(
            f"near_dedup: connected components did not converge in max_rounds={rounds} "
            f"({count} labels still changing); raise near_dedup.max_rounds in the recipe"
        )
    return count


class ConnectedComponents(beam.PTransform):
    """Edges (u, v) -> (node, label) for every node with an edge, the label the smallest node of its
    component: by one worker's union-find when there are at most ``local_max_edges`` edges (0: never), else
    by propagation rounds, failing the run if labels still change after ``max_rounds`` (never a partial
    clustering)."""

    def __init__(self, max_rounds: int, local_max_edges: int = 0):
        super().__init__()
        self._max_rounds, self._local_max_edges = max_rounds, local_max_edges

    def expand(self, edges):
        count = edges | "CountEdges" >> beam.combiners.Count.Globally()
        routed = edges | "Route" >> beam.FlatMap(
            _route, beam.pvalue.AsSingleton(count), self._local_max_edges
        ).with_outputs("local", main="rounds")
        local = routed.local | "OneWorker" >> beam.GroupByKey() | "UnionFind" >> beam.FlatMap(_label_locally)
        return (local, routed.rounds | "Propagate" >> _Propagation(self._max_rounds)) | "Labels" >> beam.Flatten()


class _Propagation(beam.PTransform):
    """Min-label propagation: edges -> (node, label), ``max_rounds`` rounds, then the convergence check."""

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
