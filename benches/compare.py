#!/usr/bin/env python3
"""Compare xlingo's fast inference engine with the burn reference model and llama.cpp.

In one invocation, on the same GGUF file and the same prompt/generation lengths, this runs

  * ``xlingo bench --engine gpu``        (the fast engine)
  * ``xlingo bench --engine reference``  (the burn reference model, CPU)
  * ``llama-bench -p P -n G``            (llama.cpp, built by benches/build-llama-bench.sh)

and prints prefill and decode throughput, time to first token, and the ratios
xlingo-gpu / llama.cpp and xlingo-gpu / reference. With ``--batch-size B`` > 1 every engine
serves B prompts at once (``xlingo bench --batch-size B``; llama.cpp's
``llama-batched-bench -npl B``, once per run) and the tok/s count all B sequences; the
reference engine, which serves one prompt at a time, runs as without it.
See benches/README.md.

Python 3 standard library only.
"""

import argparse
import datetime
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
CACHE = Path(os.environ.get("XLINGO_CACHE") or Path.home() / ".cache" / "xlingo")
DEFAULT_MODEL = CACHE / "models" / "SmolLM2-135M-Instruct.Q4_1.gguf"
LLAMA_SRC = CACHE / "llama.cpp-0.3.36-src"
LLAMA = "llama.cpp"
STAT_KEYS = ("prefill_tok_s", "decode_tok_s", "ttft_s")


def log(msg):
    print(f"compare: {msg}", file=sys.stderr, flush=True)


def stats(xs):
    xs = [float(x) for x in xs]
    return {"median": statistics.median(xs), "min": min(xs), "max": max(xs)}


# --- locating / building the binaries ------------------------------------------------------

def target_dir():
    for var in ("CARGO_TARGET_DIR", "XLINGO_TARGET_DIR"):
        if os.environ.get(var):
            return Path(os.environ[var])
    return CACHE / "target"


def cargo_env():
    env = dict(os.environ)
    env["PATH"] = str(Path.home() / ".cargo" / "bin") + os.pathsep + env.get("PATH", "")
    env["CARGO_TARGET_DIR"] = str(target_dir())
    return env


def xlingo_binary(args):
    """The xlingo binary: --xlingo, else <target>/release/xlingo, built when missing (or --build)."""
    if args.xlingo:
        return Path(args.xlingo)
    path = target_dir() / "release" / "xlingo"
    if args.build or not path.exists():
        cmd = ["cargo", "build", "--release", "-p", "xlingo-cli"]
        log(f"building {path}: {' '.join(cmd)} (CARGO_TARGET_DIR={target_dir()})")
        subprocess.run(cmd, cwd=REPO, env=cargo_env(), check=True, stdout=sys.stderr)
    return path


def llama_bench_binary(args):
    """llama-bench: --llama-bench, else the CUDA build if present, else the CPU build (built when
    missing, by benches/build-llama-bench.sh, whose last stdout line is the binary's path)."""
    if args.llama_bench:
        return Path(args.llama_bench)
    for sub in ("build-cuda", "build"):
        path = LLAMA_SRC / sub / "bin" / "llama-bench"
        batched = path.with_name("llama-batched-bench")
        if path.exists() and (args.batch_size == 1 or batched.exists()):
            return path
    script = REPO / "benches" / "build-llama-bench.sh"
    log(f"llama-bench not built yet: running {script}")
    out = subprocess.run([str(script)], check=True, stdout=subprocess.PIPE, text=True).stdout
    return Path(out.strip().splitlines()[-1])


# --- running the engines -------------------------------------------------------------------

class EngineError(Exception):
    pass


def run(cmd, timeout, env=None):
    log("$ " + " ".join(str(c) for c in cmd))
    t0 = time.monotonic()
    try:
        p = subprocess.run([str(c) for c in cmd], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           text=True, timeout=timeout, env=env)
    except FileNotFoundError as e:
        raise EngineError(f"cannot run {cmd[0]}: {e}")
    except subprocess.TimeoutExpired:
        raise EngineError(f"timed out after {timeout} s")
    wall = time.monotonic() - t0
    if p.returncode != 0:
        tail = "\n".join(p.stderr.strip().splitlines()[-15:])
        raise EngineError(f"exit status {p.returncode}; stderr tail:\n{tail}")
    return p.stdout, p.stderr, wall


def last_json(text, kind):
    """The whole of `text` as JSON, else its last line that parses as JSON of type `kind`."""
    try:
        v = json.loads(text)
        if isinstance(v, kind):
            return v
    except ValueError:
        pass
    for line in reversed(text.strip().splitlines()):
        try:
            v = json.loads(line)
        except ValueError:
            continue
        if isinstance(v, kind):
            return v
    raise EngineError(f"no JSON {kind.__name__} on stdout; stdout was:\n{text[-2000:]}")


def run_xlingo(binary, engine, args, runs):
    cmd = [binary, "bench", "--model", args.model, "--engine", engine,
           "--prompt-tokens", args.prompt_tokens, "--gen-tokens", args.gen_tokens,
           "--runs", runs, "--json"]
    if engine != "reference":
        # The reference engine serves one prompt at a time (`xlingo bench` refuses a batch).
        cmd[-1:-1] = ["--batch-size", args.batch_size]
    env = dict(os.environ)
    env.setdefault("XDG_RUNTIME_DIR", "/tmp")  # lavapipe warns without it
    # The CPU side of our engines uses rayon (where it uses threads at all): same thread count
    # as llama.cpp's -t, unless the caller set it.
    env.setdefault("RAYON_NUM_THREADS", str(args.threads))
    out, _err, wall = run(cmd, args.timeout, env)
    r = last_json(out, dict)
    missing = [k for k in ("engine", "device", *STAT_KEYS) if k not in r]
    if missing:
        raise EngineError(f"bench JSON lacks {missing}: {json.dumps(r)[:1000]}")
    for k in STAT_KEYS:
        if not all(q in r[k] for q in ("median", "min", "max")):
            raise EngineError(f"bench JSON field {k} lacks median/min/max: {r[k]}")
    if (r.get("prompt_tokens"), r.get("gen_tokens")) != (args.prompt_tokens, args.gen_tokens):
        log(f"warning: {engine} reports prompt_tokens={r.get('prompt_tokens')} "
            f"gen_tokens={r.get('gen_tokens')}, asked {args.prompt_tokens}/{args.gen_tokens}")
    r["name"] = f"xlingo-{engine}"
    r["command"] = " ".join(str(c) for c in cmd)
    r["wall_s"] = wall
    return r


def run_llama_batched(binary, args):
    """llama-batched-bench (built beside llama-bench) with B parallel prompts, once per run."""
    binary = Path(binary).with_name("llama-batched-bench")
    b, p, g = args.batch_size, args.prompt_tokens, args.gen_tokens
    cmd = [binary, "-m", args.model, "-c", b * (p + g), "-npp", p, "-ntg", g, "-npl", b,
           "-t", args.threads, "--output-format", "jsonl"]
    rows, wall = [], 0.0
    for _ in range(args.runs):
        out, _err, w = run(cmd, args.timeout)
        rows.append(last_json(out, dict))
        wall += w
    first = rows[0]
    return {
        "name": LLAMA,
        "engine": LLAMA,
        "device": f"CPU, {first.get('n_threads')} threads (n_gpu_layers {first.get('n_gpu_layers')})",
        "model": args.model,
        "prompt_tokens": p,
        "gen_tokens": g,
        "batch_size": b,
        "runs": len(rows),
        "prefill_tok_s": stats([r["speed_pp"] for r in rows]),
        "decode_tok_s": stats([r["speed_tg"] for r in rows]),
        # Time to read all B prompts (the first tokens come after it).
        "ttft_s": stats([r["t_pp"] for r in rows]),
        "ttft_is_estimate": True,
        "llama_batched_bench": rows,
        "command": " ".join(str(c) for c in cmd),
        "wall_s": wall,
    }


def run_llama(binary, args):
    if args.batch_size > 1:
        return run_llama_batched(binary, args)
    cmd = [binary, "-m", args.model, "-p", args.prompt_tokens, "-n", args.gen_tokens,
           "-r", args.runs, "-t", args.threads, "-o", "json"]
    out, _err, wall = run(cmd, args.timeout)
    tests = last_json(out, list)
    pp = [t for t in tests if t.get("n_prompt") == args.prompt_tokens and t.get("n_gen") == 0]
    tg = [t for t in tests if t.get("n_prompt") == 0 and t.get("n_gen") == args.gen_tokens]
    if not pp or not tg:
        raise EngineError(f"llama-bench JSON lacks the pp{args.prompt_tokens} or "
                          f"tg{args.gen_tokens} test: {out[-2000:]}")
    pp, tg = pp[0], tg[0]
    first = tests[0]
    gpu = first.get("gpu_info") or ""
    device = f"{gpu or first.get('cpu_info', '?')} ({first.get('backends', '?')})"
    return {
        "name": LLAMA,
        "engine": LLAMA,
        "device": device,
        "model": args.model,
        "prompt_tokens": args.prompt_tokens,
        "gen_tokens": args.gen_tokens,
        "runs": len(pp["samples_ts"]),
        "prefill_tok_s": stats(pp["samples_ts"]),
        "decode_tok_s": stats(tg["samples_ts"]),
        # llama-bench has no TTFT: the time of its pp test (P prompt tokens in, logits of the
        # last one out) is the same quantity without sampling.
        "ttft_s": stats([ns / 1e9 for ns in pp["samples_ns"]]),
        "ttft_is_estimate": True,
        "llama_cpp": {k: first.get(k) for k in (
            "build_commit", "build_number", "backends", "cpu_info", "gpu_info", "model_type",
            "model_size", "model_n_params", "n_threads", "n_gpu_layers", "n_batch", "n_ubatch",
            "flash_attn", "type_k", "type_v")},
        "llama_bench_tests": tests,
        "command": " ".join(str(c) for c in cmd),
        "wall_s": wall,
    }


# --- machine facts -------------------------------------------------------------------------

def machine_facts():
    facts = {"nproc": os.cpu_count(), "platform": platform.platform(),
             "python": platform.python_version()}
    try:
        facts["nproc_affinity"] = len(os.sched_getaffinity(0))
    except AttributeError:
        pass
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                facts["cpu_model"] = line.split(":", 1)[1].strip()
            elif line.startswith("flags") and "cpu_flags_simd" not in facts:
                flags = set(line.split(":", 1)[1].split())
                facts["cpu_flags_simd"] = sorted(f for f in flags if f.startswith(
                    ("avx", "fma", "f16c", "amx", "sse4")))
            if "cpu_model" in facts and "cpu_flags_simd" in facts:
                break
    except OSError:
        pass
    try:
        for line in open("/proc/meminfo"):
            if line.startswith("MemTotal:"):
                facts["mem_total_kib"] = int(line.split()[1])
                break
    except OSError:
        pass
    if shutil.which("nvidia-smi"):
        try:
            facts["nvidia_smi"] = subprocess.run(
                ["nvidia-smi", "--query-gpu=name,driver_version,memory.total",
                 "--format=csv,noheader"], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                text=True, timeout=30).stdout.strip()
        except (OSError, subprocess.SubprocessError):
            pass
    try:
        facts["xlingo_git"] = subprocess.run(
            ["git", "describe", "--always", "--dirty"], cwd=REPO, stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL, text=True).stdout.strip()
    except OSError:
        pass
    return facts


# --- report --------------------------------------------------------------------------------

def fmt_rate(s):
    return f"{s['median']:.1f} [{s['min']:.1f}–{s['max']:.1f}]"


def fmt_ttft(s):
    return f"{s['median'] * 1e3:.1f} [{s['min'] * 1e3:.1f}–{s['max'] * 1e3:.1f}]"


def ratios(results):
    """For every xlingo engine other than the reference: its median over llama.cpp's and over the
    reference's median, for prefill and decode."""
    ok = {r["name"]: r for r in results if "error" not in r}
    out = []
    for a in ok.values():
        if a["name"] in (LLAMA, "xlingo-reference"):
            continue
        for bname in (LLAMA, "xlingo-reference"):
            b = ok.get(bname)
            if b is None:
                continue
            for key, label in (("decode_tok_s", "decode"), ("prefill_tok_s", "prefill")):
                out.append({"numerator": a["name"], "denominator": bname, "metric": label,
                            "ratio": a[key]["median"] / b[key]["median"]})
    return out


def print_report(results, rat, facts, args):
    print(f"model: {args.model}")
    print(f"prompt {args.prompt_tokens} tokens, generate {args.gen_tokens} tokens, "
          f"threads {args.threads}; machine: {facts.get('cpu_model', '?')}, "
          f"{facts.get('nproc')} CPUs")
    if args.batch_size > 1:
        print(f"{args.batch_size} prompts at once: tok/s count all of them (the reference "
              f"engine serves one prompt at a time: its single-prompt numbers)")
    rows = [("engine", "device", "runs", "prefill tok/s", "decode tok/s", "TTFT ms")]
    for r in results:
        if "error" in r:
            rows.append((r["name"], "-", "-", "FAILED", "-", "-"))
        else:
            ttft = fmt_ttft(r["ttft_s"]) + (" (pp)" if r.get("ttft_is_estimate") else "")
            rows.append((r["name"], str(r["device"]), str(r.get("runs", "?")),
                         fmt_rate(r["prefill_tok_s"]), fmt_rate(r["decode_tok_s"]), ttft))
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    print("(median [min–max] over the runs)")
    for i, row in enumerate(rows):
        print("  ".join(c.ljust(w) for c, w in zip(row, widths)).rstrip())
        if i == 0:
            print("  ".join("-" * w for w in widths))
    if rat:
        print("\nratios of medians:")
        for x in rat:
            print(f"  {x['metric']:<8} {x['numerator']} / {x['denominator']}: {x['ratio']:.3f}")
    for r in results:
        if "error" in r:
            print(f"\n{r['name']} failed: {r['error']}")
    for r in results:
        if r["name"] == LLAMA and "error" not in r and "llama_cpp" in r:
            b = r["llama_cpp"]
            print(f"\nllama.cpp build {b.get('build_commit')} (build number "
                  f"{b.get('build_number')}), backends {b.get('backends')}; "
                  f"TTFT (pp) = time of its pp{args.prompt_tokens} test")


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default=str(DEFAULT_MODEL), help="GGUF file (default: %(default)s)")
    ap.add_argument("--prompt-tokens", type=int, default=64)
    ap.add_argument("--gen-tokens", type=int, default=64)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--reference-runs", type=int, default=1,
                    help="runs for the (slow) reference engine; same prompt and gen lengths")
    ap.add_argument("--threads", type=int, default=os.cpu_count(),
                    help="llama.cpp -t, and RAYON_NUM_THREADS for xlingo (default: nproc)")
    ap.add_argument("--xlingo", help="xlingo binary (default: $CARGO_TARGET_DIR/release/xlingo, "
                    "else $XLINGO_CACHE/target/release/xlingo; built when missing)")
    ap.add_argument("--build", action="store_true",
                    help="run `cargo build --release -p xlingo-cli` first even if the binary exists")
    ap.add_argument("--llama-bench", help="llama-bench binary (default: the CUDA build under "
                    f"{LLAMA_SRC}, else the CPU build; built when missing)")
    ap.add_argument("--engines", default="gpu,reference,llama.cpp",
                    help="comma-separated; any name but llama.cpp is passed to "
                    "`xlingo bench --engine` (default: %(default)s)")
    ap.add_argument("--batch-size", type=int, default=1,
                    help="prompts served at once (default: %(default)s)")
    ap.add_argument("--timeout", type=float, default=3600, help="seconds per engine")
    ap.add_argument("--json", metavar="OUT", help="write all results and machine facts here")
    args = ap.parse_args()
    engines = [e.strip() for e in args.engines.split(",") if e.strip()]

    if not Path(args.model).is_file():
        sys.exit(f"compare: model not found: {args.model} (xlingo fetch smollm2-135m-instruct)")

    facts = machine_facts()
    results = []
    xbin = None
    for engine in engines:
        name = LLAMA if engine == LLAMA else f"xlingo-{engine}"
        log(f"--- {name}")
        try:
            if engine == LLAMA:
                r = run_llama(llama_bench_binary(args), args)
            else:
                if isinstance(xbin, Exception):
                    raise EngineError(f"no xlingo binary: {xbin}")
                if xbin is None:
                    try:
                        xbin = xlingo_binary(args)
                    except (subprocess.CalledProcessError, OSError) as e:
                        xbin = e  # build once; later engines report the same failure
                        raise
                    facts["xlingo_binary"] = str(xbin)
                    if xbin.exists():
                        facts["xlingo_binary_mtime"] = datetime.datetime.fromtimestamp(
                            xbin.stat().st_mtime).isoformat(timespec="seconds")
                runs = args.reference_runs if engine == "reference" else args.runs
                r = run_xlingo(xbin, engine, args, runs)
        except (EngineError, subprocess.CalledProcessError, OSError) as e:
            log(f"{name} failed: {e}")
            r = {"name": name, "engine": engine, "error": str(e)}
        results.append(r)

    rat = ratios(results)
    print_report(results, rat, facts, args)
    if args.json:
        doc = {
            "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
            "model": args.model,
            "prompt_tokens": args.prompt_tokens,
            "gen_tokens": args.gen_tokens,
            "batch_size": args.batch_size,
            "runs": args.runs,
            "reference_runs": args.reference_runs,
            "threads": args.threads,
            "machine": facts,
            "results": results,
            "ratios": rat,
        }
        Path(args.json).write_text(json.dumps(doc, indent=2) + "\n")
        log(f"wrote {args.json}")
    return 1 if any("error" in r for r in results) else 0


if __name__ == "__main__":
    sys.exit(main())
