#!/usr/bin/env python3
"""Training throughput of `xlingo train sft` against PyTorch + PEFT, in one invocation.

For each method (LoRA, full fine-tuning) both trainers run the same optimizer steps on the same
token ids: xlingo trains with `--log-batches`, which writes every step's micro-batches (ids and
loss masks) to batches.jsonl, and the PyTorch loop replays exactly those micro-batches. Both
start from the same float32 weights (the GGUF dequantised: by xlingo's loader, and by
transformers' `gguf_file=` loader), right-pad each micro-batch, take the next-token loss on the
response tokens weighted per target token across the step's micro-batches, clip gradients to
norm 1, and step AdamW (betas 0.9/0.999, eps 1e-5, no weight decay) under the same warm-up +
cosine learning rate. LoRA: the same rank, alpha, target projections, no dropout. burn's
gradient clipping (`GradientClippingConfig::Norm`) bounds each parameter tensor's norm on its
own, not the global norm; the PyTorch loop does the same by default (`--torch-clip per-tensor`)
so that full fine-tuning follows the same loss curve step for step (LoRA's A starts from
different random draws, so only its step-1 loss is comparable).

Timing excludes start-up and model loading on both sides: xlingo's metrics.jsonl has the wall
time of each optimizer step (`step_s`: forward, backward and update of all micro-batches), and
the PyTorch loop times the same span with time.perf_counter(). The first `--skip` steps (warm-up:
allocations, first-touch of weights) are left out of both. Reported: target tokens/s (tokens
that count in the loss), total tokens/s (every token fed in, padding excluded), seconds per
step, and xlingo / PyTorch ratios. The step-1 losses of the two trainers should agree (same
weights and data; LoRA's B starts at 0), which shows both compute the same thing.

Threads: burn's CPU backend (flex) runs its matmuls (the gemm crate) and reductions on rayon's
global pool, sized by RAYON_NUM_THREADS; torch uses torch.set_num_threads. Both get --threads.

Usage:
  benches/train_bench.py                      # LoRA + full, 6 steps of 2x2 examples, nproc threads
  benches/train_bench.py --json out.json --steps 8 --methods lora
  benches/train_bench.py --device gpu         # xlingo on burn's wgpu backend, torch on CUDA
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
CACHE = Path(os.environ.get("XLINGO_CACHE", Path.home() / ".cache" / "xlingo"))
DEFAULT_MODEL = CACHE / "models" / "SmolLM2-135M-Instruct.Q4_1.gguf"
HF_TARGETS = {"q": "q_proj", "k": "k_proj", "v": "v_proj", "o": "o_proj", "gate": "gate_proj", "up": "up_proj", "down": "down_proj"}


def find_xlingo(arg: str | None) -> str:
    if arg:
        return arg
    for d in [os.environ.get("CARGO_TARGET_DIR"), os.environ.get("XLINGO_TARGET_DIR"), str(CACHE / "target")]:
        for profile in ["release", "debug"]:
            if d and Path(d, profile, "xlingo").exists():
                return str(Path(d, profile, "xlingo"))
    found = shutil.which("xlingo")
    if found:
        return found
    sys.exit("no xlingo binary: pass --xlingo or set CARGO_TARGET_DIR")


def lr_at(step: int, peak: float, warmup: int, total: int) -> float:
    """crates/train/src/schedule.rs: linear warm-up from 0, then cosine to peak/10."""
    floor = peak / 10.0
    if step < warmup:
        return peak * (step + 1) / warmup
    decay = max(total - warmup, 1)
    progress = min((step - warmup) / decay, 1.0)
    return floor + (peak - floor) * 0.5 * (1.0 + math.cos(math.pi * progress))


def machine() -> dict:
    info = {"platform": platform.platform(), "nproc": os.cpu_count(), "python": platform.python_version()}
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                info["cpu"] = line.split(":", 1)[1].strip()
                break
        info["loadavg_before"] = Path("/proc/loadavg").read_text().split()[:3]
    except OSError:
        pass
    try:
        info["git"] = subprocess.run(["git", "-C", str(REPO), "describe", "--always", "--dirty"], capture_output=True, text=True).stdout.strip()
    except OSError:
        pass
    if shutil.which("nvidia-smi"):
        info["nvidia_smi"] = subprocess.run(["nvidia-smi", "-L"], capture_output=True, text=True).stdout.strip()
    return info


def summarise(steps: list[dict], skip: int) -> dict:
    timed = steps[skip:]
    seconds = sum(s["step_s"] for s in timed)
    tokens = sum(s["tokens"] for s in timed)
    inputs = sum(s["input_tokens"] for s in timed)
    return {
        "steps_timed": len(timed),
        "seconds": seconds,
        "target_tokens": tokens,
        "input_tokens": inputs,
        "target_tok_s": tokens / seconds,
        "total_tok_s": inputs / seconds,
        "s_per_step": seconds / len(timed),
        "step_losses": [s["loss"] for s in steps],
        "step_seconds": [s["step_s"] for s in steps],
    }


def run_xlingo(args, method: str, out: Path) -> tuple[dict, list[list[list[dict]]]]:
    cmd = [
        args.xlingo, "train", "sft", "--model", str(args.model), "--data", str(args.data), "--out", str(out),
        "--method", method, "--steps", str(args.steps), "--warmup", str(args.warmup), "--lr", str(args.lr[method]),
        "--batch-size", str(args.batch_size), "--grad-accum", str(args.grad_accum), "--max-len", str(args.max_len),
        "--valid-fraction", "0", "--eval-every", "0", "--save-every", "0", "--no-export", "--log-batches",
        "--rank", str(args.rank), "--alpha", str(args.alpha), "--targets", ",".join(args.targets),
        "--device", "gpu" if args.device == "gpu" else "cpu",
    ]
    env = dict(os.environ, RAYON_NUM_THREADS=str(args.threads))
    t0 = time.time()
    done = subprocess.run(cmd, env=env, capture_output=True, text=True)
    if done.returncode != 0:
        sys.exit(f"xlingo train sft failed:\n{done.stderr}")
    wall = time.time() - t0
    steps = [json.loads(l) for l in (out / "metrics.jsonl").read_text().splitlines() if l.strip()]
    steps = [s for s in steps if s.get("step", 0) > 0 and "loss" in s]
    batches = [json.loads(l) for l in (out / "batches.jsonl").read_text().splitlines() if l.strip()]
    assert [b["step"] for b in batches] == list(range(1, args.steps + 1)), "batches.jsonl out of order"
    result = summarise(steps, args.skip)
    result["wall_s_including_start_up"] = wall
    trainable = [l for l in done.stderr.splitlines() if "trainable parameters" in l]
    result["log"] = trainable[0].strip() if trainable else None
    return result, [b["micro_batches"] for b in batches]


def run_torch(args, method: str, batches) -> dict:
    import torch
    import torch.nn.functional as F
    from transformers import AutoModelForCausalLM

    device = torch.device("cuda" if args.device == "gpu" else "cpu")
    torch.manual_seed(0)
    model = AutoModelForCausalLM.from_pretrained(str(args.model.parent), gguf_file=args.model.name, dtype=torch.float32)
    model.to(device)
    model.config.use_cache = False
    if method == "lora":
        from peft import LoraConfig, get_peft_model

        config = LoraConfig(
            r=args.rank, lora_alpha=args.alpha, lora_dropout=0.0, bias="none",
            target_modules=[HF_TARGETS[t] for t in args.targets], task_type="CAUSAL_LM",
        )
        model = get_peft_model(model, config)
    model.train()
    params = [p for p in model.parameters() if p.requires_grad]
    trainable = sum(p.numel() for p in params)
    optim = torch.optim.AdamW(params, lr=args.lr[method], betas=(0.9, 0.999), eps=1e-5, weight_decay=0.0)

    steps = []
    for step, micro_batches in enumerate(batches):
        lr = lr_at(step, args.lr[method], args.warmup, args.steps)
        for group in optim.param_groups:
            group["lr"] = lr
        tokens = sum(sum(e["loss_on_next"]) for m in micro_batches for e in m)
        inputs = sum(len(e["ids"]) for m in micro_batches for e in m)
        if device.type == "cuda":
            torch.cuda.synchronize()
        t0 = time.perf_counter()
        loss_sum = 0.0
        for micro in micro_batches:
            length = max(len(e["ids"]) for e in micro)
            ids = torch.zeros(len(micro), length, dtype=torch.long)
            targets = torch.full((len(micro), length), -100, dtype=torch.long)
            for i, e in enumerate(micro):
                ids[i, : len(e["ids"])] = torch.tensor(e["ids"])
                for t, on in enumerate(e["loss_on_next"]):
                    if on and t + 1 < len(e["ids"]):
                        targets[i, t] = e["ids"][t + 1]
            ids, targets = ids.to(device), targets.to(device)
            logits = model(input_ids=ids).logits
            loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), targets.reshape(-1), ignore_index=-100, reduction="sum") / tokens
            loss.backward()
            loss_sum += float(loss.detach())
        if args.torch_clip == "global":
            torch.nn.utils.clip_grad_norm_(params, 1.0)
        else:  # as burn does: every parameter tensor's gradient on its own
            for p in params:
                if p.grad is not None:
                    torch.nn.utils.clip_grad_norm_([p], 1.0)
        optim.step()
        optim.zero_grad(set_to_none=True)
        if device.type == "cuda":
            torch.cuda.synchronize()
        steps.append({"step_s": time.perf_counter() - t0, "tokens": tokens, "input_tokens": inputs, "loss": loss_sum})
        print(f"    torch step {step + 1}: loss {loss_sum:.4f}, {steps[-1]['step_s']:.2f}s", flush=True)
    result = summarise(steps, args.skip)
    result["trainable_params"] = trainable
    return result


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--xlingo", help="xlingo binary (default: $CARGO_TARGET_DIR/{release,debug}/xlingo, then PATH)")
    ap.add_argument("--model", type=Path, default=DEFAULT_MODEL, help="GGUF base model")
    ap.add_argument("--data", type=Path, help="CoIT JSONL (default: `xlingo data coit --lang es --bible --max-pairs 64`)")
    ap.add_argument("--methods", default="lora,full")
    ap.add_argument("--steps", type=int, default=6)
    ap.add_argument("--skip", type=int, default=1, help="leading steps left out of the timing (warm-up)")
    ap.add_argument("--warmup", type=int, default=2, help="learning-rate warm-up steps")
    ap.add_argument("--batch-size", type=int, default=2)
    ap.add_argument("--grad-accum", type=int, default=2)
    ap.add_argument("--max-len", type=int, default=160)
    ap.add_argument("--rank", type=int, default=8)
    ap.add_argument("--alpha", type=float, default=16.0)
    ap.add_argument("--targets", default="q,k,v,o")
    ap.add_argument("--lora-lr", type=float, default=1e-3)
    ap.add_argument("--full-lr", type=float, default=2e-5)
    ap.add_argument("--torch-clip", choices=["per-tensor", "global"], default="per-tensor",
                    help="gradient clipping in the PyTorch loop (burn clips per tensor)")
    ap.add_argument("--threads", type=int, default=os.cpu_count())
    ap.add_argument("--device", choices=["cpu", "gpu"], default="cpu", help="gpu: xlingo on burn's wgpu backend, torch on CUDA")
    ap.add_argument("--json", type=Path, help="write every result here")
    args = ap.parse_args()
    args.targets = args.targets.split(",")
    args.lr = {"lora": args.lora_lr, "full": args.full_lr}
    args.xlingo = find_xlingo(args.xlingo)
    if args.skip >= args.steps:
        sys.exit("--skip must be smaller than --steps")

    import torch
    import transformers

    torch.set_num_threads(args.threads)
    facts = machine()
    versions = {"torch": torch.__version__, "transformers": transformers.__version__}
    try:
        import peft

        versions["peft"] = peft.__version__
    except ImportError:
        pass
    xlingo_version = subprocess.run([args.xlingo, "--version"], capture_output=True, text=True).stdout.strip()

    results = []
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        if args.data is None:
            args.data = tmp / "coit-es.jsonl"
            subprocess.run([args.xlingo, "data", "coit", "--lang", "es", "--bible", "--max-pairs", "64", "--out", str(args.data)], check=True, capture_output=True)
        for method in args.methods.split(","):
            print(f"{method}: xlingo train sft ({args.steps} steps of {args.batch_size}x{args.grad_accum}, {args.threads} threads)", flush=True)
            xl, batches = run_xlingo(args, method, tmp / f"xlingo-{method}")
            print(f"    xlingo step times: {', '.join(f'{s:.2f}' for s in xl['step_seconds'])} s", flush=True)
            print(f"{method}: PyTorch{' + PEFT' if method == 'lora' else ''} on the same batches", flush=True)
            pt = run_torch(args, method, batches)
            results.append({"method": method, "xlingo": xl, "torch": pt})

    print(f"\n{facts.get('cpu', '?')}, {args.threads} threads, device {args.device}; {args.steps} steps of "
          f"{args.batch_size}x{args.grad_accum} examples (max {args.max_len} tokens), first {args.skip} not timed")
    print(f"{'method':<6} {'trainer':<16} {'target tok/s':>12} {'total tok/s':>12} {'s/step':>8} {'step losses'}")
    for r in results:
        for who, name in [("xlingo", "xlingo (burn)"), ("torch", "PyTorch + PEFT" if r["method"] == "lora" else "PyTorch")]:
            x = r[who]
            losses = " ".join(f"{v:.4f}" for v in x["step_losses"])
            print(f"{r['method']:<6} {name:<16} {x['target_tok_s']:12.1f} {x['total_tok_s']:12.1f} {x['s_per_step']:8.2f}  {losses}")
        r["ratio_xlingo_over_torch"] = r["xlingo"]["total_tok_s"] / r["torch"]["total_tok_s"]
        diffs = [abs(a - b) for a, b in zip(r["xlingo"]["step_losses"], r["torch"]["step_losses"])]
        r["step1_loss_diff"] = diffs[0]
        r["max_step_loss_diff"] = max(diffs)
        print(f"{r['method']:<6} {'ratio xlingo/PyTorch':<29} {r['ratio_xlingo_over_torch']:12.3f}")
    if args.json:
        doc = {
            "generator": "benches/train_bench.py",
            "machine": facts,
            "versions": versions,
            "xlingo": {"binary": args.xlingo, "version": xlingo_version},
            "settings": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()},
            "results": results,
        }
        doc["machine"]["loadavg_after"] = Path("/proc/loadavg").read_text().split()[:3] if Path("/proc/loadavg").exists() else None
        args.json.write_text(json.dumps(doc, indent=1) + "\n")
        print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
