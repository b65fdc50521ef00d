"""One training step of a GPT-style model in Megatron's tensor x pipeline x data-parallel layout, vs numpy.

Optionally with MoE experts; the step's time and where it went, for the slowest rank and per pipeline stage.

SPMD: one rank per SIP. ``kernbench.tp.initialize_model_parallel(tp, pp)`` splits the ``tp x pp x dp`` ranks as
Megatron does. The model is ``layers`` transformer blocks (split evenly over the ``pp`` stages) on ``hidden``-wide
activations of ``micro_batch x seq`` tokens: causal self-attention with ``heads`` heads (QKV a column-parallel GEMM,
the scores and softmax per head on the PEs, the output projection row-parallel, all-reduced in the tensor-parallel
group) and an MLP (``hidden -> 4 hidden``, ReLU, back: column- then row-parallel, all-reduced), each with its
residual. With ``experts=E`` the MLP is E experts instead (E / dp on each rank of a data-parallel group, its
expert-parallel group): a seeded router (not trained) sends each token to its top expert, whose output is scaled by
the router's probability; tokens go to the expert's rank and back with ``all_to_all_single`` (their counts
first). The loss is ``0.5 |y|^2`` of the last stage's output, averaged over micro-batches and data-parallel ranks.

The step runs Megatron's 1F1B schedule over ``micro_batches`` micro-batches: warm-up forwards, then one forward
and one backward at a time, activations and gradients passed between stages with ``batch_isend_irecv`` (each
stage's send paired with its neighbour's receive), then the cool-down backwards. Each layer's weight gradients
are complete after its last micro-batch's backward; they are all-reduced (``AVG``) in the data-parallel group in
buckets of ``bucket_mib`` as soon as a bucket is full (``async_op=True``, one stream per group), overlapped with
the rest of the backward. The GEMMs and the attention run on the PEs of cube 1; the groups' collectives on PEs of
their own (`kernbench.runtime.groups`).

Times (simulated, from a barrier at the start): ``compute_ns`` (the kernels' time), exposed ``tp_ns`` (the
tensor-parallel all-reduces the rank waited for), ``moe_ns`` (all-to-alls), ``pp_ns`` (point-to-point transfers:
each message's closed-form time, `kernbench.ccl.model`, up to the time the rank waited), ``bubble_ns`` (the rest
of the waiting for other stages), ``dp_ns`` (from the last backward kernel until the gradients are all-reduced),
and ``step_ns``. Checks: every rank's gradients (after the data-parallel all-reduce) against the same model in
numpy (f16 tolerance), and that the replicas of each shard agree bit for bit.
"""

from __future__ import annotations

import math
from functools import cache
from typing import Any

import numpy as np

from kernbench.ccl.model import Hardware
from kernbench.runtime import DPPolicy
from kernbench.tp import parallel_state as ps

SPMD = True
PARAMS = {
    "tp": (1, "tensor-parallel size (groups of consecutive ranks)", (1, None)),
    "pp": (1, "pipeline stages", (1, None)),
    "dp": (
        0,
        "data-parallel size (0: what tp x pp leave of the ranks; else tp x pp x dp must be the ranks)",
        (0, None),
    ),
    "layers": (4, "transformer blocks, split evenly over the stages", (1, None)),
    "hidden": (128, "hidden size (a multiple of heads)", (8, None)),
    "heads": (4, "attention heads (a multiple of tp)", (1, None)),
    "seq": (32, "tokens per sequence", (1, None)),
    "micro_batch": (2, "sequences per micro-batch", (1, None)),
    "micro_batches": (4, "micro-batches per step (per data-parallel rank)", (1, None)),
    "experts": (0, "MoE experts instead of the MLP (0: a dense MLP; a multiple of the data-parallel size)", (0, None)),
    "bucket_mib": (0.25, "gradient bucket size in MiB (DDP's bucket_cap_mb)", (0, None)),
    "seed": (0, "seed of the weights and the data", (0, 2**63 - 1)),
}

F16, F32 = 2, 4
COMPUTE_CUBE = 1
"""The cube whose PEs run the GEMMs and the attention (cube 0 and the IO-edge cubes run the groups' collectives)."""
MASK = -1.0e4
"""Added to the scores above the diagonal (causal attention)."""


# -- kernels ---------------------------------------------------------------------------------------------------------


def _program(tl: Any) -> tuple[int, int]:
    return tl.program_id(0), tl.num_programs(0)


def _t(tile: Any) -> Any:
    """A 2D tile transposed in registers (the GEMM unit takes either layout)."""
    rows, cols = tile.shape
    return tile[np.arange(rows)[None, :], np.arange(cols)[:, None]]


def mm_kernel(
    a: int, b: int, c: int, m: int, k: int, n: int, ta: bool, tb: bool, acc: bool, out: str, scale: float, tl: Any
) -> None:
    """``C[rows] (+)= scale * op(A)[rows] @ op(B)``, rows of C split over the launch's PEs; ``ta``: A is stored as
    A^T (k, m); ``tb``: B as B^T (n, k); ``acc``: add to C (gradients over micro-batches); C in dtype ``out``."""
    p, programs = _program(tl)
    block = -(-m // programs)
    r0, rows = p * block, min(block, m - p * block)
    if rows <= 0:
        return
    if ta:
        left = _t(tl.load(a + r0 * F16, (k, rows), "f16", row_stride=m * F16))
    else:
        left = tl.load(a + r0 * k * F16, (rows, k), "f16")
    right = _t(tl.load(b, (n, k), "f16")) if tb else tl.load(b, (k, n), "f16")
    result = tl.dot(left, right, out_dtype="f32")
    if scale != 1.0:
        result = result * scale
    size = F32 if out == "f32" else F16
    if acc:
        result = result + tl.load(c + r0 * n * size, (rows, n), out).to("f32")
    tl.store(c + r0 * n * size, result, out)


GELU_C = math.sqrt(2.0 / math.pi)


def _gelu(tl: Any, x: Any) -> tuple[Any, Any]:
    """GPT's GELU (tanh form, as x * sigmoid(2u)) of an f32 tile, and its derivative."""
    u = (x + x * x * x * 0.044715) * GELU_C
    s = tl.sigmoid(u * 2.0)
    du = (x * x * (3 * 0.044715) + 1.0) * GELU_C
    return x * s, s + x * s * (1.0 - s) * 2.0 * du


def ew_kernel(x: int, y: int, out: int, m: int, n: int, what: str, tl: Any) -> None:
    """Element-wise over rows split across the PEs: ``add`` (x + y), ``gelu`` (of x), ``gelu_grad`` (x times the
    GELU's derivative at y)."""
    p, programs = _program(tl)
    block = -(-m // programs)
    r0, rows = p * block, min(block, m - p * block)
    if rows <= 0:
        return
    a = tl.load(x + r0 * n * F16, (rows, n), "f16").to("f32")
    if what == "add":
        result = a + tl.load(y + r0 * n * F16, (rows, n), "f16").to("f32")
    elif what == "gelu":
        result = _gelu(tl, a)[0]
    else:
        result = a * _gelu(tl, tl.load(y + r0 * n * F16, (rows, n), "f16").to("f32"))[1]
    tl.store(out + r0 * n * F16, result, "f16")


def _causal(seq: int) -> np.ndarray:
    return np.triu(np.full((seq, seq), MASK, np.float32), 1)


def attention_kernel(
    qkv: int, ctx: int, dctx: int, dqkv: int, seqs: int, seq: int, heads: int, d: int, tl: Any
) -> None:
    """Causal attention of this rank's ``heads`` heads, sequences split over the PEs. Forward (``dctx`` 0): ``ctx``
    = softmax(q k^T / sqrt(d)) v per head. Backward: the scores recomputed, ``dqkv`` from ``dctx``."""
    p, programs = _program(tl)
    width = heads * d
    scale, mask = 1.0 / math.sqrt(d), _causal(seq)
    for s in range(p, seqs, programs):
        tile = tl.load(qkv + s * seq * 3 * width * F16, (seq, 3 * width), "f16").to("f32")
        outs, grads = [], []
        g = None if not dctx else tl.load(dctx + s * seq * width * F16, (seq, width), "f16").to("f32")
        for h in range(heads):
            q, k, v = (tile[:, i * width + h * d : i * width + (h + 1) * d] for i in range(3))
            probs = tl.softmax(tl.dot(q, _t(k), out_dtype="f32") * scale + mask, axis=-1)
            if g is None:
                outs.append(tl.dot(probs, v, out_dtype="f32"))
                continue
            do = g[:, h * d : (h + 1) * d]
            dv = tl.dot(_t(probs), do, out_dtype="f32")
            dp = tl.dot(do, _t(v), out_dtype="f32")
            ds = probs * (dp - tl.sum(dp * probs, axis=1)[:, None])
            grads.append((tl.dot(ds, k, out_dtype="f32") * scale, tl.dot(_t(ds), q, out_dtype="f32") * scale, dv))
        if g is None:
            tl.store(ctx + s * seq * width * F16, tl.cat(outs, axis=1), "f16")
        else:
            parts = [part[i] for i in range(3) for part in grads]
            tl.store(dqkv + s * seq * 3 * width * F16, tl.cat(parts, axis=1), "f16")


def rows_kernel(src: int, dst: int, n: int, tl: Any, *, rows: list[int], factors: list[float] | None = None) -> None:
    """``dst[i] = src[rows[i]] (* factors[i])``: tokens gathered in expert order and back (on one PE)."""
    if not rows:
        return
    tile = tl.load(src, (max(rows) + 1, n), "f16").to("f32")
    picked = tile[np.array(rows)]
    if factors is not None:
        picked = picked * np.array(factors, np.float32)[:, None]
    tl.store(dst, picked, "f16")


def scatter_kernel(src: int, dst: int, m: int, n: int, tl: Any, *, rows: list[int], factors: list[float]) -> None:
    """``dst[rows[i]] = src[i] * factors[i]`` into an (m, n) tile (the tokens' expert outputs back in place)."""
    tile = np.zeros((m, n), np.float32)
    if rows:
        tile[np.array(rows)] = 1.0  # which rows are written: the rest stays 0
    got = tl.load(src, (max(1, len(rows)), n), "f16").to("f32") if rows else None
    out = tl.zeros((m, n), "f32")
    if got is not None:
        index = np.full(m, len(rows), np.int64)
        index[np.array(rows)] = np.arange(len(rows))
        padded = tl.cat([got * np.array(factors, np.float32)[:, None], tl.zeros((1, n), "f32")])
        out = padded[index]
    tl.store(dst, out, "f16")


# -- the model in numpy (the reference) ------------------------------------------------------------------------------


@cache
def _weights(key: tuple) -> dict[str, np.ndarray]:
    p = dict(key)
    rng = np.random.default_rng(p["seed"])
    h, f = p["hidden"], 4 * p["hidden"]

    def w(rows: int, cols: int) -> np.ndarray:
        return (rng.standard_normal((rows, cols)) / np.sqrt(rows)).astype(np.float16)

    out = {}
    for layer in range(p["layers"]):
        out[f"{layer}.qkv"], out[f"{layer}.o"] = w(h, 3 * h), w(h, h)
        if p["experts"]:
            out[f"{layer}.router"] = w(h, p["experts"])
            for e in range(p["experts"]):
                out[f"{layer}.e{e}.w1"], out[f"{layer}.e{e}.w2"] = w(h, f), w(f, h)
        else:
            out[f"{layer}.w1"], out[f"{layer}.w2"] = w(h, f), w(f, h)
    return out


def weights(p: dict) -> dict[str, np.ndarray]:
    return _weights(tuple(sorted(p.items())))


def tokens(p: dict, replica: int, mb: int) -> np.ndarray:
    """Micro-batch ``mb`` of data-parallel replica ``replica``: the first stage's input."""
    rng = np.random.default_rng([p["seed"], 7, replica, mb])
    return rng.standard_normal((p["micro_batch"] * p["seq"], p["hidden"])).astype(np.float16)


def _split_heads(p: dict, tp: int) -> list[np.ndarray]:
    """The columns of the full QKV weight each tensor-parallel rank holds: its heads' q, k and v."""
    h, heads = p["hidden"], p["heads"]
    d, local = h // heads, heads // tp
    return [
        np.concatenate([np.arange(i * h + r * local * d, i * h + (r + 1) * local * d) for i in range(3)])
        for r in range(tp)
    ]


def _np_gelu(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    u = (x + 0.044715 * x**3) * GELU_C
    s = 0.5 * (1.0 + np.tanh(u))  # sigmoid(2u)
    return x * s, s + x * s * (1.0 - s) * 2.0 * (1.0 + 3 * 0.044715 * x * x) * GELU_C


def _r(x: np.ndarray) -> np.ndarray:
    """Rounded to f16 where the device stores f16 (so the reference sees the same inputs at each step)."""
    return x.astype(np.float16).astype(np.float32)


def _attention(x: np.ndarray, wq: np.ndarray, p: dict, heads: int) -> tuple[np.ndarray, np.ndarray, Any]:
    """Forward of the attention on ``heads`` heads with QKV weight ``wq`` (local columns): (qkv, ctx) and the
    backward, as the device computes them (f32 inside, f16 where stored)."""
    seqs, seq, d = p["micro_batch"], p["seq"], p["hidden"] // p["heads"]
    width = heads * d
    qkv = _r(x @ wq)
    mask, scale = _causal(seq), 1.0 / math.sqrt(d)
    ctx = np.zeros((seqs * seq, width), np.float32)
    saved = []
    for s in range(seqs):
        rows = slice(s * seq, (s + 1) * seq)
        for h in range(heads):
            q, k, v = (qkv[rows, i * width + h * d : i * width + (h + 1) * d] for i in range(3))
            sc = q @ k.T * scale + mask
            pr = np.exp(sc - sc.max(axis=1, keepdims=True))
            pr /= pr.sum(axis=1, keepdims=True)
            ctx[rows, h * d : (h + 1) * d] = pr @ v
            saved.append((rows, h, q, k, v, pr))

    def backward(dctx: np.ndarray) -> np.ndarray:
        dqkv = np.zeros_like(qkv)
        for rows, h, q, k, v, pr in saved:
            do = dctx[rows, h * d : (h + 1) * d]
            dv = pr.T @ do
            dp = do @ v.T
            ds = pr * (dp - (dp * pr).sum(axis=1, keepdims=True))
            for i, grad in enumerate((ds @ k * scale, ds.T @ q * scale, dv)):
                dqkv[rows, i * width + h * d : i * width + (h + 1) * d] = grad
        return _r(dqkv)

    return qkv, _r(ctx), backward


def expected(p: dict) -> dict[str, np.ndarray]:
    """Every weight's gradient, averaged over micro-batches and data-parallel replicas, from the whole model in
    one place, rounded where the device stores f16."""
    ws = {k: v.astype(np.float32) for k, v in weights(p).items()}
    dp, m = p["dp"], p["micro_batches"]
    grads = {k: np.zeros_like(v) for k, v in ws.items() if not k.endswith("router")}
    for replica in range(dp):
        for mb in range(m):
            x = tokens(p, replica, mb).astype(np.float32)
            saved: list[tuple[Any, ...]] = []  # per layer: x, ctx, attention's backward, x1, MLP activations, gate
            for layer in range(p["layers"]):
                _, ctx, attn_back = _attention(x, ws[f"{layer}.qkv"], p, p["heads"])
                x1 = _r(x + _r(ctx @ ws[f"{layer}.o"]))
                if p["experts"]:
                    logits = x1 @ ws[f"{layer}.router"]
                    probs = np.exp(logits - logits.max(axis=1, keepdims=True))
                    probs /= probs.sum(axis=1, keepdims=True)
                    top = probs.argmax(axis=1)
                    gate = probs[np.arange(len(top)), top]
                    mlp = np.zeros_like(x1)
                    acts: dict[int, tuple[np.ndarray, np.ndarray, np.ndarray]] = {}
                    for e in range(p["experts"]):
                        sel = top == e
                        pre = _r(x1[sel] @ ws[f"{layer}.e{e}.w1"])
                        a = _r(_np_gelu(pre)[0])
                        mlp[sel] = _r(_r(a @ ws[f"{layer}.e{e}.w2"]) * gate[sel, None])
                        acts[e] = (sel, pre, a)
                else:
                    pre = _r(x1 @ ws[f"{layer}.w1"])
                    a = _r(_np_gelu(pre)[0])
                    mlp, gate = _r(a @ ws[f"{layer}.w2"]), None
                saved.append((x, ctx, attn_back, x1, acts if p["experts"] else (pre, a), gate))
                x = _r(x1 + mlp)
            g = _r(x / m)
            for layer in reversed(range(p["layers"])):
                x0, ctx, attn_back, x1, layer_acts, gate = saved[layer]
                if p["experts"]:
                    back = np.zeros_like(g)
                    for e, (sel, pre, a) in layer_acts.items():
                        dy = _r(g[sel] * gate[sel, None])
                        grads[f"{layer}.e{e}.w2"] += a.T @ dy / dp
                        da = _r(_r(dy @ ws[f"{layer}.e{e}.w2"].T) * _np_gelu(pre)[1])
                        grads[f"{layer}.e{e}.w1"] += x1[sel].T @ da / dp
                        back[sel] = _r(da @ ws[f"{layer}.e{e}.w1"].T)
                    dx1 = _r(g + back)
                else:
                    pre, a = layer_acts
                    grads[f"{layer}.w2"] += a.T @ g / dp
                    da = _r(_r(g @ ws[f"{layer}.w2"].T) * _np_gelu(pre)[1])
                    grads[f"{layer}.w1"] += x1.T @ da / dp
                    dx1 = _r(g + _r(da @ ws[f"{layer}.w1"].T))
                grads[f"{layer}.o"] += ctx.T @ dx1 / dp
                dqkv = attn_back(_r(dx1 @ ws[f"{layer}.o"].T))
                grads[f"{layer}.qkv"] += x0.T @ dqkv / dp
                g = _r(dx1 + _r(dqkv @ ws[f"{layer}.qkv"].T))
    return grads


# -- one rank --------------------------------------------------------------------------------------------------------


class Rank:
    """One rank's part of the step: its groups, weights and buffers, the kernels it launches, its clocks."""

    def __init__(self, torch: Any, p: dict) -> None:
        self.torch, self.p, self.dist = torch, p, torch.distributed
        self.tp_group, self.pp_group = (
            ps.get_tensor_model_parallel_group(torch),
            ps.get_pipeline_model_parallel_group(torch),
        )
        self.dp_group = ps.get_data_parallel_group(torch)
        self.tp, self.tp_rank = p["tp"], ps.get_tensor_model_parallel_rank(torch)
        self.stage, self.dp_rank = ps.get_pipeline_model_parallel_rank(torch), ps.get_data_parallel_rank(torch)
        self.grid = [(COMPUTE_CUBE, pe) for pe in range(torch.topo.pes_per_cube)]
        h, t = p["hidden"], p["micro_batch"] * p["seq"]
        self.h, self.t, self.f = h, t, 4 * h
        self.heads, self.d = p["heads"] // self.tp, h // p["heads"]
        self.hl, self.fl = self.heads * self.d, self.f // self.tp
        per_stage = p["layers"] // p["pp"]
        self.layers = list(range(self.stage * per_stage, (self.stage + 1) * per_stage))
        self.clock = dict.fromkeys(("compute_ns", "tp_ns", "moe_ns", "p2p_ns", "pp_model_ns"), 0.0)
        self.hw = Hardware(torch.topo)
        self.done: set[str] = set()  # gradients complete this step
        self.works: list[Any] = []  # the data-parallel all-reduces in flight

    # -- memory

    def tensor(self, shape: tuple[int, ...], dtype: str = "f16", data: np.ndarray | None = None) -> Any:
        t = self.torch.empty(shape, dtype, dp=DPPolicy(num_cubes=1, num_pes=1))
        if data is not None:
            t.copy_(data)
        return t

    # -- timed work

    def timed(self, what: str, fn: Any, *args: Any, **kw: Any) -> Any:
        start = self.torch.engine.now()
        out = fn(*args, **kw)
        self.clock[what] += self.torch.engine.now() - start
        return out

    def mm(
        self, a: int, b: int, c: int, m: int, k: int, n: int, *, ta=False, tb=False, acc=False, out="f16", scale=1.0
    ) -> None:
        self.timed(
            "compute_ns",
            self.torch.launch,
            "gemm",
            mm_kernel,
            a,
            b,
            c,
            m,
            k,
            n,
            ta,
            tb,
            acc,
            out,
            scale,
            grid=self.grid,
        )

    def ew(self, x: int, y: Any, out: int, m: int, n: int, what: str) -> None:
        self.timed("compute_ns", self.torch.launch, what, ew_kernel, x, y, out, m, n, what, grid=self.grid)

    def attention(self, qkv: int, ctx: int, dctx: int = 0, dqkv: int = 0) -> None:
        seqs, seq = self.p["micro_batch"], self.p["seq"]
        name = "attention_bwd" if dctx else "attention"
        self.timed(
            "compute_ns",
            self.torch.launch,
            name,
            attention_kernel,
            qkv,
            ctx,
            dctx,
            dqkv,
            seqs,
            seq,
            self.heads,
            self.d,
            grid=self.grid,
        )

    def tp_all_reduce(self, t: Any) -> None:
        if self.tp > 1:
            self.timed("tp_ns", self.dist.all_reduce, t, group=self.tp_group)

    def exchange(self, sends: list[tuple[Any, int]], recvs: list[tuple[Any, int]]) -> None:
        """Activations or gradients to and from the neighbouring stages, in one batch (as Megatron's
        send_forward_recv_backward and friends)."""
        if not sends and not recvs:
            return
        ops = [self.dist.P2POp(self.dist.isend, t, peer, self.pp_group) for t, peer in sends]
        ops += [self.dist.P2POp(self.dist.irecv, t, peer, self.pp_group) for t, peer in recvs]
        start = self.torch.engine.now()
        for work in self.dist.batch_isend_irecv(ops):
            work.wait()
        took = self.torch.engine.now() - start
        self.clock["p2p_ns"] += took
        nbytes = self.t * self.h * F16
        me = self.dist.get_rank()
        model = max(
            self.hw.sip_hop_ns(len(_route(self.torch, me, peer)), nbytes)
            + self.hw.sip_hop_ns(len(_route(self.torch, me, peer)), 8)
            for _, peer in sends + recvs
        )
        self.clock["pp_model_ns"] += min(took, model)

    # -- weights, gradients, activations (all made before the step is timed)

    def setup(self) -> None:
        p, ws, r = self.p, weights(self.p), self.tp_rank
        cols = _split_heads(p, self.tp)[r]
        hl, fl = self.hl, self.fl
        self.w: dict[str, Any] = {}
        self.expert_grads: dict[str, Any] = {}
        shards: dict[str, np.ndarray] = {}
        for layer in self.layers:
            shards[f"{layer}.qkv"] = ws[f"{layer}.qkv"][:, cols]
            shards[f"{layer}.o"] = ws[f"{layer}.o"][r * hl : (r + 1) * hl]
            if p["experts"]:
                self.w[f"{layer}.router"] = self.tensor(ws[f"{layer}.router"].shape, data=ws[f"{layer}.router"])
                for e in self.my_experts():
                    for name in ("w1", "w2"):
                        key = f"{layer}.e{e}.{name}"
                        self.w[key] = self.tensor(ws[key].shape, data=ws[key])
                        self.expert_grads[key] = self.torch.zeros(
                            ws[key].shape, "f32", dp=DPPolicy(num_cubes=1, num_pes=1)
                        )
            else:
                shards[f"{layer}.w1"] = ws[f"{layer}.w1"][:, r * fl : (r + 1) * fl]
                shards[f"{layer}.w2"] = ws[f"{layer}.w2"][r * fl : (r + 1) * fl]
        for key, value in shards.items():
            self.w[key] = self.tensor(value.shape, data=np.ascontiguousarray(value))
        self.shapes = {key: value.shape for key, value in shards.items()}
        # gradient buckets, in the order the backward completes them (last layer first), bucket_mib each
        cap = max(1, int(p["bucket_mib"] * (1 << 20)))
        order = [
            key
            for layer in reversed(self.layers)
            for key in (f"{layer}.w2", f"{layer}.w1", f"{layer}.o", f"{layer}.qkv")
            if key in shards
        ]
        groups: list[list[str]] = [[]]
        for key in order:
            groups[-1].append(key)
            if sum(math.prod(self.shapes[k]) * F32 for k in groups[-1]) >= cap:
                groups.append([])
        self.buckets = [g for g in groups if g]
        self.grad: dict[str, int] = {}
        self.bucket_tensors = []
        for keys in self.buckets:
            t = self.torch.zeros(
                (sum(math.prod(self.shapes[k]) for k in keys),), "f32", dp=DPPolicy(num_cubes=1, num_pes=1)
            )
            offset = 0
            for k in keys:
                self.grad[k] = t.va + offset * F32
                offset += math.prod(self.shapes[k])
            self.bucket_tensors.append(t)
        self.bucket_of = {k: i for i, keys in enumerate(self.buckets) for k in keys}
        m, t = p["micro_batches"], self.t
        self.acts = [
            {
                "x": [self.tensor((t, self.h)) for _ in range(len(self.layers) + 1)],
                "qkv": [self.tensor((t, 3 * hl)) for _ in self.layers],
                "ctx": [self.tensor((t, hl)) for _ in self.layers],
                "x1": [self.tensor((t, self.h)) for _ in self.layers],
                "pre": [self.tensor((t, fl)) for _ in self.layers] if not p["experts"] else [],
                "a": [self.tensor((t, fl)) for _ in self.layers] if not p["experts"] else [],
                "moe": [{} for _ in self.layers],
            }
            for _ in range(m)
        ]
        self.tmp = self.tensor((t, self.h))
        self.g = [self.tensor((t, self.h)) for _ in range(2)]
        self.dx1 = self.tensor((t, self.h))
        self.big = self.tensor((t, max(self.fl, 3 * hl)))
        self.small = self.tensor((t, hl))
        self.inputs = (  # the first stage's micro-batches of tokens
            [self.tensor((t, self.h), data=tokens(p, self.dp_rank, mb)) for mb in range(m)] if self.stage == 0 else []
        )
        if p["experts"]:
            dp = p["dp"]
            self.send_buf = self.tensor((t, self.h))
            self.recv_buf = self.tensor((dp * t, self.h))
            self.ebuf = self.tensor((dp * t, self.h))
            self.ybuf = self.tensor((dp * t, self.h))
            self.dabuf = self.tensor((dp * t, self.f))
            self.logits = self.torch.zeros((t, p["experts"]), "f32", dp=DPPolicy(num_cubes=1, num_pes=1))
            self.counts_out = self.torch.zeros(
                (len(self.my_experts()) * dp,), "i32", dp=DPPolicy(num_cubes=1, num_pes=1)
            )
            self.counts_in = self.torch.zeros(
                (len(self.my_experts()) * dp,), "i32", dp=DPPolicy(num_cubes=1, num_pes=1)
            )
            # each micro-batch's expert inputs and activations, by expert, kept for the backward
            self.expert_in = [[self.tensor((dp * t, self.h)) for _ in self.layers] for _ in range(m)]
            self.expert_pre = [[self.tensor((dp * t, self.f)) for _ in self.layers] for _ in range(m)]
            self.expert_acts = [[self.tensor((dp * t, self.f)) for _ in self.layers] for _ in range(m)]

    def my_experts(self) -> list[int]:
        per = self.p["experts"] // self.p["dp"]
        return list(range(self.dp_rank * per, (self.dp_rank + 1) * per))

    # -- one layer, forward and backward

    def forward_layer(self, mb: int, i: int) -> None:
        a, layer, t, h, hl = self.acts[mb], self.layers[i], self.t, self.h, self.hl
        x, qkv, ctx, x1, out = a["x"][i], a["qkv"][i], a["ctx"][i], a["x1"][i], a["x"][i + 1]
        self.mm(x.va, self.w[f"{layer}.qkv"].va, qkv.va, t, h, 3 * hl)
        self.attention(qkv.va, ctx.va)
        self.mm(ctx.va, self.w[f"{layer}.o"].va, self.tmp.va, t, hl, h)
        self.tp_all_reduce(self.tmp)
        self.ew(x.va, self.tmp.va, x1.va, t, h, "add")
        if self.p["experts"]:
            self.moe_forward(mb, i)
        else:
            pre, act = a["pre"][i], a["a"][i]
            self.mm(x1.va, self.w[f"{layer}.w1"].va, pre.va, t, h, self.fl)
            self.ew(pre.va, 0, act.va, t, self.fl, "gelu")
            self.mm(act.va, self.w[f"{layer}.w2"].va, self.tmp.va, t, self.fl, h)
            self.tp_all_reduce(self.tmp)
        self.ew(x1.va, self.tmp.va, out.va, t, h, "add")

    def backward_layer(self, mb: int, i: int, g: Any, out: Any, last: bool) -> None:
        """The gradient ``g`` of layer i's output in, its input's gradient into ``out``; ``last``: this is the
        layer's last micro-batch (its weight gradients are complete after it)."""
        a, layer, t, h, hl, fl = self.acts[mb], self.layers[i], self.t, self.h, self.hl, self.fl
        x, qkv, ctx, x1 = a["x"][i], a["qkv"][i], a["ctx"][i], a["x1"][i]
        if self.p["experts"]:
            self.moe_backward(mb, i, g)
        else:
            pre, act, da = a["pre"][i], a["a"][i], self.big
            self.mm(act.va, g.va, self.grad[f"{layer}.w2"], fl, t, h, ta=True, acc=True, out="f32")
            self.mm(g.va, self.w[f"{layer}.w2"].va, da.va, t, h, fl, tb=True)
            self.ew(da.va, pre.va, da.va, t, fl, "gelu_grad")
            self.mm(x1.va, da.va, self.grad[f"{layer}.w1"], h, t, fl, ta=True, acc=True, out="f32")
            self.mm(da.va, self.w[f"{layer}.w1"].va, self.tmp.va, t, fl, h, tb=True)
            self.tp_all_reduce(self.tmp)
            self.ew(g.va, self.tmp.va, self.dx1.va, t, h, "add")
        self.mm(ctx.va, self.dx1.va, self.grad[f"{layer}.o"], hl, t, h, ta=True, acc=True, out="f32")
        self.mm(self.dx1.va, self.w[f"{layer}.o"].va, self.small.va, t, h, hl, tb=True)
        self.attention(qkv.va, 0, self.small.va, self.big.va)
        self.mm(x.va, self.big.va, self.grad[f"{layer}.qkv"], h, t, 3 * hl, ta=True, acc=True, out="f32")
        self.mm(self.big.va, self.w[f"{layer}.qkv"].va, self.tmp.va, t, 3 * hl, h, tb=True)
        self.tp_all_reduce(self.tmp)
        self.ew(self.dx1.va, self.tmp.va, out.va, t, h, "add")
        if last:
            for key in (f"{layer}.w2", f"{layer}.w1", f"{layer}.o", f"{layer}.qkv"):
                if key in self.bucket_of:
                    self.ready(key)

    # -- MoE

    def moe_forward(self, mb: int, i: int) -> None:
        """Route each token to its top expert, send it there, run the experts, bring the outputs back scaled by
        the router's probability (into ``tmp``)."""
        p, layer, t, h, x1 = self.p, self.layers[i], self.t, self.h, self.acts[mb]["x1"][i]
        self.mm(x1.va, self.w[f"{layer}.router"].va, self.logits.va, t, h, p["experts"], out="f32")
        start = self.torch.engine.now()
        logits = self.logits.numpy().astype(np.float32)
        probs = np.exp(logits - logits.max(axis=1, keepdims=True))
        probs /= probs.sum(axis=1, keepdims=True)
        top, per = probs.argmax(axis=1), p["experts"] // p["dp"]
        gate = probs[np.arange(t), top]
        send_rows = [int(k) for e in range(p["experts"]) for k in np.flatnonzero(top == e)]
        send = [int(np.count_nonzero(top // per == o)) for o in range(p["dp"])]
        counts = np.array([np.count_nonzero(top == e) for e in range(p["experts"])], np.int32)
        self.counts_out.copy_(counts)
        self.dist.all_to_all_single(self.counts_in, self.counts_out, group=self.dp_group)
        got = self.counts_in.numpy().astype(int).reshape(p["dp"], per)  # [source, my expert]
        recv = [int(c) for c in got.sum(axis=1)]
        # received rows are by source, then by expert: regroup them by expert
        starts = np.concatenate([[0], np.cumsum(recv)])
        order: list[int] = []
        spans: list[tuple[int, int]] = []
        for e in range(per):
            first = len(order)
            for j in range(p["dp"]):
                base = int(starts[j]) + int(got[j, :e].sum())
                order += range(base, base + int(got[j, e]))
            spans.append((first, len(order)))
        self.clock["moe_ns"] += self.torch.engine.now() - start
        self.acts[mb]["moe"][i] = {
            "rows": send_rows,
            "send": send,
            "recv": recv,
            "gate": gate,
            "order": order,
            "spans": spans,
        }
        self.pick_rows("dispatch", x1.va, self.send_buf.va, send_rows)
        self.timed("moe_ns", self.dist.all_to_all_single, self.recv_buf, self.send_buf, recv, send, group=self.dp_group)
        inputs, pre, acts = self.expert_in[mb][i], self.expert_pre[mb][i], self.expert_acts[mb][i]
        self.pick_rows("by_expert", self.recv_buf.va, inputs.va, order)
        for e, (lo, hi) in zip(self.my_experts(), spans, strict=True):
            n = hi - lo
            if not n:
                continue
            self.mm(inputs.va + lo * h * F16, self.w[f"{layer}.e{e}.w1"].va, pre.va + lo * self.f * F16, n, h, self.f)
            self.ew(pre.va + lo * self.f * F16, 0, acts.va + lo * self.f * F16, n, self.f, "gelu")
            self.mm(
                acts.va + lo * self.f * F16, self.w[f"{layer}.e{e}.w2"].va, self.ybuf.va + lo * h * F16, n, self.f, h
            )
        inverse = list(np.argsort(order)) if order else []
        self.pick_rows("by_source", self.ybuf.va, self.recv_buf.va, [int(k) for k in inverse])
        self.timed("moe_ns", self.dist.all_to_all_single, self.send_buf, self.recv_buf, send, recv, group=self.dp_group)
        factors = [float(gate[k]) for k in send_rows]
        self.combine(send_rows, factors)

    def pick_rows(self, name: str, src: int, dst: int, rows: list[int], factors: list[float] | None = None) -> None:
        """Rows of ``src`` gathered into ``dst`` in the order ``rows`` (scaled by ``factors``), on one PE."""
        self.timed(
            "compute_ns",
            self.torch.launch,
            name,
            rows_kernel,
            src,
            dst,
            self.h,
            rows=rows,
            factors=factors,
            grid=[(COMPUTE_CUBE, 0)],
        )

    def combine(self, rows: list[int], factors: list[float]) -> None:
        """The tokens' rows back from the experts (in ``send_buf``) scattered into ``tmp`` at their places."""
        self.timed(
            "compute_ns",
            self.torch.launch,
            "combine",
            scatter_kernel,
            self.send_buf.va,
            self.tmp.va,
            self.t,
            self.h,
            rows=rows,
            factors=factors,
            grid=[(COMPUTE_CUBE, 0)],
        )

    def moe_backward(self, mb: int, i: int, g: Any) -> None:
        """The experts' part of the backward: gradients to the experts and back (the router is not trained: its
        probabilities are constants here), the expert weights' gradients; ``dx1`` = g + what comes back."""
        layer, t, h, f = self.layers[i], self.t, self.h, self.f
        r = self.acts[mb]["moe"][i]
        rows, send, recv, order, spans = r["rows"], r["send"], r["recv"], r["order"], r["spans"]
        factors = [float(r["gate"][k]) for k in rows]
        self.pick_rows("dispatch", g.va, self.send_buf.va, rows, factors)
        self.timed("moe_ns", self.dist.all_to_all_single, self.recv_buf, self.send_buf, recv, send, group=self.dp_group)
        self.pick_rows("by_expert", self.recv_buf.va, self.ybuf.va, order)
        pre, acts, inputs = self.expert_pre[mb][i], self.expert_acts[mb][i], self.expert_in[mb][i]
        for e, (lo, hi) in zip(self.my_experts(), spans, strict=True):
            n = hi - lo
            if not n:
                continue
            dy, act, da = self.ybuf.va + lo * h * F16, acts.va + lo * f * F16, self.dabuf.va + lo * f * F16
            self.mm(act, dy, self.expert_grads[f"{layer}.e{e}.w2"].va, f, n, h, ta=True, acc=True, out="f32", scale=1.0)
            self.mm(dy, self.w[f"{layer}.e{e}.w2"].va, da, n, h, f, tb=True)
            self.ew(da, pre.va + lo * f * F16, da, n, f, "gelu_grad")
            self.mm(
                inputs.va + lo * h * F16,
                da,
                self.expert_grads[f"{layer}.e{e}.w1"].va,
                h,
                n,
                f,
                ta=True,
                acc=True,
                out="f32",
            )
            self.mm(da, self.w[f"{layer}.e{e}.w1"].va, self.ebuf.va + lo * h * F16, n, f, h, tb=True)
        inverse = list(np.argsort(order)) if order else []
        self.pick_rows("by_source", self.ebuf.va, self.recv_buf.va, [int(k) for k in inverse])
        self.timed("moe_ns", self.dist.all_to_all_single, self.send_buf, self.recv_buf, send, recv, group=self.dp_group)
        self.combine(rows, [1.0] * len(rows))
        self.ew(g.va, self.tmp.va, self.dx1.va, t, h, "add")

    # -- the data-parallel gradient all-reduce, bucket by bucket

    def ready(self, key: str) -> None:
        """Gradient ``key`` is complete; when its bucket is, start the bucket's all-reduce (the DP group's
        stream runs them in order)."""
        self.done.add(key)
        k = self.bucket_of[key]
        if all(name in self.done for name in self.buckets[k]) and self.p["dp"] > 1:
            self.works.append(
                self.dist.all_reduce(self.bucket_tensors[k], op="avg", group=self.dp_group, async_op=True)
            )


def _route(torch: Any, src: int, dst: int) -> tuple:
    from kernbench.topology import sip_route

    return sip_route(torch.topo.system, src, dst)


def schedule(pp: int, stage: int, m: int) -> list[tuple[str, int]]:
    """Megatron's 1F1B order for one stage: ``("F", i)`` forwards and ``("B", i)`` backwards of micro-batch i."""
    warmup = min(pp - stage - 1, m)
    out = [("F", i) for i in range(warmup)]
    for k in range(m - warmup):
        out += [("F", warmup + k), ("B", k)]
    return out + [("B", i) for i in range(m - warmup, m)]


def worker(_rank: int, torch: Any, p: dict, want: dict[str, np.ndarray]) -> dict:
    dist = torch.distributed
    dist.init_process_group("ahbm")
    ps.initialize_model_parallel(p["tp"], p["pp"], torch=torch)
    me = Rank(torch, p)
    with torch:
        me.setup()
        prev, nxt = ps.get_pipeline_model_parallel_prev_rank(torch), ps.get_pipeline_model_parallel_next_rank(torch)
        first, last = ps.is_pipeline_first_stage(torch), ps.is_pipeline_last_stage(torch)
        m, n_layers = p["micro_batches"], len(me.layers)
        steps = schedule(p["pp"], me.stage, m)
        dist.barrier()
        start = torch.engine.now()
        grad_in = me.g[0]
        for k, (kind, mb) in enumerate(steps):
            acts = me.acts[mb]["x"]
            if kind == "F":
                if first:
                    me.pick_rows("input", me.inputs[mb].va, acts[0].va, list(range(me.t)))
                elif k == 0 or steps[k - 1][0] == "F":
                    me.exchange([], [(acts[0], prev)])  # a forward's input, alone (warm-up, or its first)
                for i in range(n_layers):
                    me.forward_layer(mb, i)
                following = steps[k + 1] if k + 1 < len(steps) else None
                if not last:
                    if following is not None and following[0] == "B":  # send_forward_recv_backward
                        me.exchange([(acts[n_layers], nxt)], [(grad_in, nxt)])
                    else:
                        me.exchange([(acts[n_layers], nxt)], [])
            else:
                if last:  # the loss's gradient: 0.5 |y|^2 averaged over the micro-batches
                    me.timed(
                        "compute_ns",
                        torch.launch,
                        "loss_grad",
                        _scale_kernel,
                        acts[n_layers].va,
                        grad_in.va,
                        me.t,
                        me.h,
                        1.0 / m,
                        grid=me.grid,
                    )
                elif steps[k - 1][0] == "B":
                    me.exchange([], [(grad_in, nxt)])  # cool-down: a backward's gradient, alone
                g = grad_in
                for i in reversed(range(n_layers)):
                    out = me.g[1] if g is me.g[0] else me.g[0]
                    me.backward_layer(mb, i, g, out, last=mb == m - 1)
                    g = out
                grad_in = me.g[1] if g is me.g[0] else me.g[0]
                following = steps[k + 1] if k + 1 < len(steps) else None
                if not first:
                    if following is not None and following[0] == "F":  # send_backward_recv_forward
                        me.exchange([(g, prev)], [(me.acts[following[1]]["x"][0], prev)])
                    else:
                        me.exchange([(g, prev)], [])
        backward_end = torch.engine.now()
        for work in me.works:
            work.wait()
        if p["experts"] and p["dp"] > 1:
            for t in me.expert_grads.values():
                torch.launch(
                    "expert_grad_scale",
                    _scale32_kernel,
                    t.va,
                    math.prod(t.shape),
                    1.0 / p["dp"],
                    grid=[(COMPUTE_CUBE, 0)],
                )
        end = torch.engine.now()
        got = {key: me.bucket_tensors[me.bucket_of[key]].numpy() for key in me.bucket_of}
        grads = {}
        for key in me.bucket_of:
            k = me.bucket_of[key]
            offset = sum(math.prod(me.shapes[x]) for x in me.buckets[k][: me.buckets[k].index(key)])
            grads[key] = got[key][offset : offset + math.prod(me.shapes[key])].reshape(me.shapes[key])
        grads.update({key: t.numpy() for key, t in me.expert_grads.items()})
    err, digest = _compare(p, me, grads, want)
    ps.destroy_model_parallel(torch)
    dist.destroy_process_group()
    c = me.clock
    pp_ns = c["pp_model_ns"]
    return {
        "stage": me.stage,
        "tp_rank": me.tp_rank,
        "compute_ns": c["compute_ns"],
        "tp_ns": c["tp_ns"],
        "moe_ns": c["moe_ns"],
        "pp_ns": pp_ns,
        "bubble_ns": c["p2p_ns"] - pp_ns,
        "dp_ns": end - backward_end,
        "step_ns": end - start,
        "err": err,
        "digest": digest,
    }


def _scale_kernel(x: int, out: int, m: int, n: int, factor: float, tl: Any) -> None:
    """``out = x * factor`` over rows split across the PEs (f16)."""
    p, programs = _program(tl)
    block = -(-m // programs)
    r0, rows = p * block, min(block, m - p * block)
    if rows > 0:
        tl.store(out + r0 * n * F16, tl.load(x + r0 * n * F16, (rows, n), "f16").to("f32") * factor, "f16")


def _scale32_kernel(x: int, n: int, factor: float, tl: Any) -> None:
    """``x *= factor`` for ``n`` f32 values (the expert gradients' share of the data-parallel mean)."""
    tl.store(x, tl.load(x, (n,), "f32") * factor, "f32")


def _compare(p: dict, me: Rank, grads: dict[str, np.ndarray], want: dict[str, np.ndarray]) -> tuple[float, str]:
    """The largest error of this rank's gradients against numpy's (relative to each one's largest value), and a
    digest of the bits of the replicated ones (the same on every data-parallel replica of the shard)."""
    import hashlib

    cols = _split_heads(p, p["tp"])[me.tp_rank]
    hl, fl, r = me.hl, me.fl, me.tp_rank
    err, digest = 0.0, hashlib.sha256()
    for key in sorted(grads):
        full = want[key]
        kind = key.split(".")[-1]
        ref = {
            "qkv": full[:, cols] if kind == "qkv" else None,
            "o": full[r * hl : (r + 1) * hl] if kind == "o" else None,
        }.get(kind)
        if ref is None:
            if kind == "w1" and ".e" not in key:
                ref = full[:, r * fl : (r + 1) * fl]
            elif kind == "w2" and ".e" not in key:
                ref = full[r * fl : (r + 1) * fl]
            else:
                ref = full
        scale = float(np.abs(ref).max()) or 1.0
        err = max(err, float(np.abs(grads[key].astype(np.float64) - ref).max()) / scale)
        if ".e" not in key:  # experts are not replicated: each data-parallel rank holds its own
            digest.update(np.ascontiguousarray(grads[key]).tobytes())
    return err, digest.hexdigest()


RTOL = 0.05
"""Gradients within 5 % of the largest of their matrix: activations are f16 on the device, f32 in numpy."""


def resolve_dp(p: dict, world: int) -> dict:
    """``p`` with ``dp`` resolved against the ``world`` ranks (0: what tp x pp leave), checked with every rule."""
    for name in ("tp", "pp", "layers", "hidden", "heads", "seq", "micro_batch", "micro_batches"):
        if p[name] < 1:
            raise ValueError(f"{name} must be >= 1, got {p[name]}")
    if world % (p["tp"] * p["pp"]):
        raise ValueError(f"tp x pp ({p['tp']} x {p['pp']}) must divide the {world} ranks")
    dp = world // (p["tp"] * p["pp"])
    if p["dp"] not in (0, dp):
        raise ValueError(f"tp x pp x dp ({p['tp']} x {p['pp']} x {p['dp']}) must be the {world} ranks (dp={dp})")
    if p["layers"] % p["pp"]:
        raise ValueError(f"layers ({p['layers']}) must be a multiple of pp ({p['pp']})")
    if p["heads"] % p["tp"] or p["hidden"] % p["heads"]:
        raise ValueError(f"heads ({p['heads']}) must be a multiple of tp ({p['tp']}) and divide hidden ({p['hidden']})")
    if p["experts"] % dp:
        raise ValueError(f"experts ({p['experts']}) must be a multiple of the data-parallel size {dp}")
    return {**p, "dp": dp}


def check_before_run(params: dict, topo: Any, ccl: Any) -> None:
    """The layout's rules, checked by ``kernbench run`` before the run (a usage error): one rank per SIP of the
    collective's world."""
    from kernbench.ccl import world_size_of

    resolve_dp(params, world_size_of(ccl.selected(), topo))


def run(torch: Any, **params: Any) -> dict:
    p = {name: params.get(name, default) for name, (default, *_) in PARAMS.items()}
    world = torch.distributed.plans()[0].world_size
    p = resolve_dp(p, world)
    torch.multiprocessing.spawn(worker, args=(torch, p, expected(p)), nprocs=world)
    results = list(torch.multiprocessing.results.values())
    keys = ("compute_ns", "tp_ns", "pp_ns", "dp_ns", "moe_ns", "bubble_ns", "step_ns")
    worst = max(results, key=lambda r: r["step_ns"])
    stages = {}
    for s in range(p["pp"]):
        mine = [r for r in results if r["stage"] == s]
        slowest = max(mine, key=lambda r: r["step_ns"])
        stages[f"stage{s}"] = {k: slowest[k] for k in keys}
    replicas: dict[tuple, set] = {}
    for r in results:
        replicas.setdefault((r["stage"], r["tp_rank"]), set()).add(r["digest"])
    err = max(r["err"] for r in results)
    return {
        "result": f"tp={p['tp']} pp={p['pp']} dp={p['dp']}" + (f" experts={p['experts']}" if p["experts"] else ""),
        "checks": {
            "grads_match_numpy": err <= RTOL,
            "replicas_agree_bit_for_bit": all(len(d) == 1 for d in replicas.values()),
        },
        "sim_latency_ns": worst["step_ns"],
        **{k: worst[k] for k in keys},
        "stages": stages,
        "world_size": world,
        "dp": p["dp"],
        "max_rel_err": err,
    }
