"""Trigger branches in dataflow graphs: the structure architectural backdoors are made of.

An architectural backdoor (Bober-Irizar et al., "Architectural Backdoors in Neural Networks", 2023;
HiddenLayer's ShadowLogic, 2024) puts the trigger test in the graph, not in the weights: a comparison of
the model's input (or a slice, reduction or simple transform of it) with a constant, whose boolean result
selects (``Where``/``Select``) or branches (``If``) between the model's real output and an alternative the
attacker chose. It survives fine-tuning and is invisible in the weights.

This engine is format-independent: the format layer hands it a :class:`Graph` (nodes with op types, input
and output names, the graph's inputs, outputs and constants, each op already mapped to ONNX's vocabulary)
and gets back :class:`Trigger` records with the path as evidence. Ordinary models compare inputs with
constants too (attention masks: ``Where(Equal(mask, 0), -inf, 0)``), but that select feeds the model body;
what is reported is a select or branch driven by such a comparison that sits *after* the body: its result
reaches a graph output through no further body operator, and it chooses between a value computed by the
body and one that is not. ``unambiguous`` marks the form where the alternative is a constant or the raw
input itself (nothing a legitimate post-processing step produces).
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

#: Comparisons a trigger test is built from.
COMPARE_OPS = frozenset({"Equal", "Greater", "Less", "GreaterOrEqual", "LessOrEqual"})
#: Ops a trigger condition flows through on its way to the select (boolean logic, casts, reshapes).
COND_OPS = frozenset({
    "And", "Or", "Not", "Xor", "Cast", "Reshape", "Squeeze", "Unsqueeze", "Flatten", "Expand", "Identity",
    "ReduceMax", "ReduceMin", "ReduceSum", "ReduceProd", "ReduceMean", "Equal", "Greater", "Less",
    "GreaterOrEqual", "LessOrEqual", "Transpose", "Slice", "Gather", "Tile",
})
#: Cheap transforms of the input that keep a value "the raw input" for a trigger test.
SHALLOW_OPS = frozenset({
    "Slice", "Gather", "GatherElements", "GatherND", "Reshape", "Flatten", "Squeeze", "Unsqueeze", "Cast",
    "Identity", "Transpose", "Split", "ReduceSum", "ReduceMean", "ReduceMax", "ReduceMin", "ReduceProd",
    "ReduceL1", "ReduceL2", "Abs", "Sub", "Add", "Mul", "Div", "Neg", "Floor", "Ceil", "Round", "ArgMax",
    "ArgMin", "Concat",
})
#: Ops that make up a model body: learned layers (a value computed through one is "the model's output").
BODY_OPS = frozenset({
    "MatMul", "Gemm", "Conv", "ConvTranspose", "LSTM", "GRU", "RNN", "Attention", "MultiHeadAttention",
    "Einsum", "MatMulInteger", "QLinearMatMul", "QLinearConv", "ConvInteger", "BatchNormalization",
    "LayerNormalization", "InstanceNormalization", "Softmax", "LogSoftmax",
})
#: Nodes examined at most (larger graphs are cut; the caller is told).
MAX_NODES = 500_000
#: Triggers reported per graph.
MAX_TRIGGERS = 16


@dataclass(frozen=True)
class Node:
    """One operator: its name, op type (ONNX vocabulary), input and output value names."""

    name: str
    op: str
    inputs: tuple[str, ...]
    outputs: tuple[str, ...]


@dataclass
class Graph:
    """A dataflow graph as the format layer read it."""

    nodes: list[Node] = field(default_factory=list)
    inputs: set[str] = field(default_factory=set)
    outputs: list[str] = field(default_factory=list)
    constants: set[str] = field(default_factory=set)


@dataclass(frozen=True)
class Trigger:
    """A select or branch driven by an input-versus-constant comparison, placed after the model body."""

    select: str
    compare: str
    #: The path from the compared input to the graph output, as ``name (Op)`` steps.
    path: tuple[str, ...]
    #: True when the alternative value is a constant or the raw input (no post-processing explains it).
    unambiguous: bool


class _Flow:
    """Producer/consumer indexes and the per-value facts the search needs."""

    def __init__(self, g: Graph) -> None:
        self.g = g
        self.producer: dict[str, int] = {}
        self.consumers: dict[str, list[int]] = {}
        for i, n in enumerate(g.nodes):
            for o in n.outputs:
                self.producer[o] = i
            for v in n.inputs:
                self.consumers.setdefault(v, []).append(i)
        self.const = set(g.constants)
        self.raw: set[str] = set(g.inputs)
        self.body: set[str] = set()
        self._propagate()

    def _propagate(self) -> None:
        """Constant-ness, raw-input-ness and body-dependence, to a fixed point (graphs may be unsorted)."""
        changed = True
        rounds = 0
        while changed and rounds < 64:
            changed = False
            rounds += 1
            for n in self.g.nodes:
                ins = [v for v in n.inputs if v]
                if n.op == "Constant" or (ins and all(v in self.const for v in ins)):
                    new = [o for o in n.outputs if o not in self.const]
                    self.const.update(new)
                    changed |= bool(new)
                    continue
                dyn = [v for v in ins if v not in self.const]
                if n.op in SHALLOW_OPS and dyn and all(v in self.raw for v in dyn):
                    new = [o for o in n.outputs if o not in self.raw]
                    self.raw.update(new)
                    changed |= bool(new)
                if n.op in BODY_OPS or any(v in self.body for v in ins):
                    new = [o for o in n.outputs if o not in self.body]
                    self.body.update(new)
                    changed |= bool(new)

    def label(self, i: int) -> str:
        n = self.g.nodes[i]
        return f"{n.name or n.outputs[0] if n.outputs else '?'} ({n.op})"

    def input_chain(self, value: str) -> list[str]:
        """The shallow transforms from a graph input to ``value``, first step first (for evidence)."""
        steps: list[str] = []
        while value not in self.g.inputs and len(steps) < 32:
            i = self.producer.get(value)
            if i is None:
                break
            steps.append(self.label(i))
            value = next((v for v in self.g.nodes[i].inputs if v in self.raw), "")
        steps.append(f"input {value!r}")
        return steps[::-1]

    def reaches_output_without_body(self, value: str) -> list[int] | None:
        """Nodes from ``value`` to a graph output through no body op (None: every path meets the body)."""
        outputs = set(self.g.outputs)
        if value in outputs:
            return []
        seen = {value}
        queue: deque[tuple[str, list[int]]] = deque([(value, [])])
        while queue:
            v, path = queue.popleft()
            for c in self.consumers.get(v, ()):
                n = self.g.nodes[c]
                if n.op in BODY_OPS:
                    continue
                for o in n.outputs:
                    if o in seen:
                        continue
                    seen.add(o)
                    if o in outputs:
                        return [*path, c]
                    if len(seen) < 10_000:
                        queue.append((o, [*path, c]))
        return None

    def trigger_compare(self, cond: str) -> int | None:
        """The comparison of a raw input with a constant that ``cond`` derives from (None: none)."""
        seen: set[str] = set()
        stack = [cond]
        while stack and len(seen) < 2000:
            v = stack.pop()
            if v in seen:
                continue
            seen.add(v)
            i = self.producer.get(v)
            if i is None:
                continue
            n = self.g.nodes[i]
            if n.op in COMPARE_OPS:
                ins = [x for x in n.inputs if x]
                if len(ins) == 2 and any(x in self.raw for x in ins) and any(x in self.const for x in ins):
                    return i
            if n.op in COND_OPS:
                stack.extend(x for x in n.inputs if x)
        return None


def find_triggers(g: Graph) -> list[Trigger]:
    """Every select/branch after the model body whose condition tests the input against a constant."""
    if len(g.nodes) > MAX_NODES:
        return []
    flow = _Flow(g)
    found: list[Trigger] = []
    for i, n in enumerate(g.nodes):
        if n.op not in ("Where", "If") or not n.inputs:
            continue
        cmp_index = flow.trigger_compare(n.inputs[0])
        if cmp_index is None:
            continue
        if n.op == "Where":
            branches = [v for v in n.inputs[1:3] if v]
            body = [v for v in branches if v in flow.body]
            other = [v for v in branches if v not in flow.body]
            if not body or not other:
                continue
            unambiguous = all(v in flow.const or v in flow.raw for v in other)
        else:
            # If: the branches are sub-graphs; the condition alone decides which output the model gives.
            unambiguous = False
        tails = [flow.reaches_output_without_body(o) for o in n.outputs]
        tail = next((t for t in tails if t is not None), None)
        if tail is None:
            continue
        cmp_node = g.nodes[cmp_index]
        raw_in = next(x for x in cmp_node.inputs if x in flow.raw)
        const_in = next(x for x in cmp_node.inputs if x in flow.const)
        path = (*flow.input_chain(raw_in), f"{flow.label(cmp_index)} against constant {const_in!r}",
                      flow.label(i), *(flow.label(t) for t in tail), "graph output")
        found.append(Trigger(n.name or n.op, cmp_node.name or cmp_node.op, path, unambiguous))
        if len(found) >= MAX_TRIGGERS:
            break
    return found
