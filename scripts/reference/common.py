"""Shared helpers for the outside-implementation reference scripts.

Pure Python + numpy + jinja2 only, so both the HF venv and the llama.cpp venv
can import it.  Nothing here depends on torch or llama_cpp.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import json
import math
import os
import platform
import sys
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
REPO_ROOT = HERE.parent.parent
PROMPTS_PATH = HERE / "prompts.json"

EXPECTED_SHA256 = "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53"
EXPECTED_SIZE = 98_362_432
MODEL_NAME = "SmolLM2-135M-Instruct.Q4_1.gguf"

TOP_K = 10
N_NEW_TOKENS = 32


def sha256_file(path: str | os.PathLike, expected: str = EXPECTED_SHA256) -> str:
    """Hash the model file and abort if it is not the expected GGUF."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    digest = h.hexdigest()
    if expected and digest != expected:
        sys.exit(f"sha256 mismatch for {path}: got {digest}, expected {expected}")
    return digest


def pkg_version(name: str) -> str | None:
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return None


def base_versions() -> dict:
    return {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "machine": platform.machine(),
        "numpy": pkg_version("numpy"),
        "jinja2": pkg_version("jinja2"),
        "torch": pkg_version("torch"),
        "transformers": pkg_version("transformers"),
        "tokenizers": pkg_version("tokenizers"),
        "accelerate": pkg_version("accelerate"),
        "gguf": pkg_version("gguf"),
        "llama_cpp_python": pkg_version("llama_cpp_python"),
    }


def load_prompts(path: str | os.PathLike = PROMPTS_PATH) -> list[dict]:
    with open(path, encoding="utf-8") as f:
        return json.load(f)["prompts"]


def render_chat_template(template: str, messages: list[dict], bos_token: str, eos_token: str) -> str:
    """Render a chat template the way transformers does (sandboxed jinja2,
    trim_blocks + lstrip_blocks, add_generation_prompt=True)."""
    from jinja2.sandbox import ImmutableSandboxedEnvironment

    env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True)
    tmpl = env.from_string(template)
    return tmpl.render(
        messages=messages,
        add_generation_prompt=True,
        bos_token=bos_token,
        eos_token=eos_token,
    )


def build_cases(prompts: list[dict], chat_template: str, bos_token: str, eos_token: str) -> list[dict]:
    """Each prompt twice: raw text, then the chat-templated rendering."""
    cases = []
    for p in prompts:
        cases.append({"name": f"{p['id']}_raw", "chat": False, "lang": p["lang"], "text": p["text"]})
    for p in prompts:
        messages = [{"role": "user", "content": p["text"]}]
        rendered = render_chat_template(chat_template, messages, bos_token, eos_token)
        cases.append(
            {"name": f"{p['id']}_chat", "chat": True, "lang": p["lang"], "text": rendered, "messages": messages}
        )
    return cases


def f32(x) -> float:
    """Shortest decimal that round-trips the float32 value exactly."""
    return float(str(np.float32(x)))


def logsumexp64(row: np.ndarray) -> float:
    r = row.astype(np.float64)
    m = r.max()
    return float(m + math.log(np.exp(r - m).sum()))


def positions_from_logits(logits: np.ndarray, k: int = TOP_K) -> list[dict]:
    """logits: float32 [T, V]; row t predicts token t+1.

    Top-k ordering: descending logit, ties broken by ascending token id.
    logsumexp is over the whole vocabulary, accumulated in float64 from the
    float32 logits.
    """
    assert logits.ndim == 2 and logits.dtype == np.float32, (logits.shape, logits.dtype)
    out = []
    for row in logits:
        order = np.argsort(-row, kind="stable")[:k]
        top = row[order]
        out.append(
            {
                "top_ids": [int(i) for i in order],
                "top_logits": [f32(v) for v in top],
                "logsumexp": round(logsumexp64(row), 6),
                "margin": f32(np.float32(top[0]) - np.float32(top[1])),
            }
        )
    return out


def write_fixture(path: str | os.PathLike, doc: dict) -> None:
    """JSON with one line per position, so diffs stay readable and the file stays small."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    dumps = lambda o: json.dumps(o, ensure_ascii=False, separators=(",", ":"))
    lines = ["{"]
    head = {k: v for k, v in doc.items() if k != "cases"}
    for key, val in head.items():
        lines.append(f"  {json.dumps(key)}: {json.dumps(val, ensure_ascii=False)},")
    lines.append('  "cases": [')
    for ci, case in enumerate(doc["cases"]):
        lines.append("    {")
        items = [(k, v) for k, v in case.items() if k != "positions"]
        for k, v in items:
            lines.append(f"      {json.dumps(k)}: {dumps(v)},")
        lines.append('      "positions": [')
        pos = case["positions"]
        for pi, p in enumerate(pos):
            lines.append("        " + dumps(p) + ("," if pi + 1 < len(pos) else ""))
        lines.append("      ]")
        lines.append("    }" + ("," if ci + 1 < len(doc["cases"]) else ""))
    lines.append("  ]")
    lines.append("}")
    text = "\n".join(lines) + "\n"
    json.loads(text)  # self-check
    path.write_text(text, encoding="utf-8")
    print(f"wrote {path} ({len(text.encode('utf-8')):,} bytes)")
