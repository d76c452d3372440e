"""Rasa's inference graph run in plain order, without dask (patch 6 of
feedbot_rasa.patches; docs/performance.md has the profiles).

Rasa 3.6 runs its model as a graph of components (tokenizer, featurizers,
classifier; the policies and the ensemble), three or four times a turn: once
to read the message and once per predicted action. `DaskGraphRunner.run`
computes the part of the graph the targets need, turns it into a dask graph
and hands it to dask's synchronous scheduler, which orders the tasks, tracks
their dependents and frees their results, for a graph of a dozen nodes. That
bookkeeping was a tenth of a Rasa instance's CPU here, more than the
classifier it runs.

`run` below gives the same result: the same nodes called with the same
inputs (each node's output reaches its dependents as a `(name, output)`
tuple, an unknown need as its bare name, as dask passes them), the same
clash check on inputs, a RuntimeError turned into `GraphRunError` and any
other exception passed through. The order a run needs is worked out once
per runner and set of targets (a loaded graph never changes) instead of on
every call. Independent nodes may run in another order than dask would pick;
the graph's components are functions of their inputs, so that is not
visible (tests/test_rasa_patches.py compares both runners on the trained
models).
"""

from __future__ import annotations

from typing import Any

from rasa.engine.exceptions import GraphRunError
from rasa.engine.graph import GraphSchema
from rasa.engine.runner.dask import DaskGraphRunner

# sha256 of each function's source, first 16 hex digits (checked by
# feedbot_rasa.patches before anything is replaced).
EXPECTED_SOURCES = {
    "DaskGraphRunner.run": "45f0f52f574f3aa9",
    "DaskGraphRunner._build_dask_graph": "5bb99f974d512a36",
    "DaskGraphRunner._add_inputs_to_graph": "d04a0ca2df6241c1",
    "GraphSchema.minimal_graph_schema": "58dfb30335499fff",
    "GraphSchema._all_dependencies_schema": "eab261021d184a11",
}

# Each step: the node's name, the node, the names of what it needs.
Plan = tuple[tuple[str, Any, tuple[str, ...]], ...]


def replaced_functions() -> dict[str, Any]:
    """The code whose behaviour `run` reproduces."""
    return {
        "DaskGraphRunner.run": DaskGraphRunner.run,
        "DaskGraphRunner._build_dask_graph": DaskGraphRunner._build_dask_graph,
        "DaskGraphRunner._add_inputs_to_graph": DaskGraphRunner._add_inputs_to_graph,
        "GraphSchema.minimal_graph_schema": GraphSchema.minimal_graph_schema,
        "GraphSchema._all_dependencies_schema": GraphSchema._all_dependencies_schema,
    }


def plan(runner: DaskGraphRunner, targets: tuple[str, ...]) -> Plan:
    """The nodes `targets` need, each after what it needs (worked out once)."""
    plans: dict[tuple[str, ...], Plan] = runner.__dict__.setdefault("_feedbot_plans", {})
    found = plans.get(targets)
    if found is not None:
        return found
    schema = runner._graph_schema.minimal_graph_schema(list(targets))
    steps: list[tuple[str, Any, tuple[str, ...]]] = []
    placed: set[str] = set()

    def place(name: str) -> None:
        if name in placed or name not in schema.nodes:
            return  # placed already, or an input placeholder
        placed.add(name)
        needs = tuple(schema.nodes[name].needs.values())
        for need in needs:
            place(need)
        steps.append((name, runner._instantiated_nodes[name], needs))

    for target in targets:
        place(target)
    plans[targets] = found = tuple(steps)
    return found


def run(
    self: DaskGraphRunner,
    inputs: dict[str, Any] | None = None,
    targets: list[str] | None = None,
) -> dict[str, Any]:
    """`DaskGraphRunner.run`, in a precomputed order instead of through dask."""
    run_targets = tuple(targets if targets else self._graph_schema.target_names)
    steps = plan(self, run_targets)
    values: dict[str, Any] = {}
    if inputs:
        keys = {name for name, _, _ in steps}  # dask's graph, inputs added one by one
        for input_name, input_value in inputs.items():
            if isinstance(input_value, str) and input_value in keys:
                raise GraphRunError(
                    f"Input value '{input_value}' clashes with a node name. Make sure "
                    f"that none of the input names passed to the `run` method are the "
                    f"same as node names in the graph schema."
                )
            values[input_name] = (input_name, input_value)
            keys.add(input_name)
    try:
        for name, node, needs in steps:
            if name in values:  # an input given in the node's place, as dask does
                continue
            values[name] = node(*(values.get(need, need) for need in needs))
    except RuntimeError as e:
        raise GraphRunError("Error running runner.") from e
    return dict(values.get(target, target) for target in run_targets)
