"""Run `qbranch redact` over a file and recover each finding's byte span.

Alerts carry entity, 1-based line and start column but not the end, so the file is
redacted a second time with every category set to `hash`: each value is then replaced
whole by `[LABEL_HASH:<16 hex>]`, and the end of each finding follows from the text
between two tokens (which is the input, unchanged). Detection does not depend on the
policy, so the findings are the ones a default (`redact`) run alerts on.
"""

from __future__ import annotations

import json
import os
import re
import resource
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

CATEGORIES = ["credit_card", "ssn", "phone", "email", "api_key", "ip_address", "name"]
HASH_TOKEN = re.compile(rb"\[[A-Z_]+_HASH:[0-9a-f]{16}\]")


@dataclass
class Finding:
    line: int  # 0-based line index in the file
    entity: str
    start: int  # byte offsets into the line
    end: int | None  # None when the span could not be recovered
    rule: str


def _children_cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def run_redact(binary: str, path: Path, config: str | None = None, workdir: Path | None = None):
    """Returns (output lines as bytes, alerts as dicts, child CPU seconds, wall seconds)."""
    import time

    with tempfile.TemporaryDirectory(dir=workdir) as tmp:
        alerts_path = Path(tmp) / "alerts.jsonl"
        args = [binary, "redact", str(path), "--alerts", str(alerts_path)]
        if config is not None:
            cfg = Path(tmp) / "policy.toml"
            cfg.write_text(config)
            args += ["--config", str(cfg)]
        cpu0, t0 = _children_cpu(), time.perf_counter()
        out = subprocess.run(args, stdout=subprocess.PIPE, check=True).stdout
        cpu, wall = _children_cpu() - cpu0, time.perf_counter() - t0
        alerts = [json.loads(l) for l in alerts_path.read_text().splitlines() if l.strip()]
    return out.split(b"\n"), alerts, cpu, wall


def hash_config() -> str:
    return "[policy]\n" + "".join(f'{c} = "hash"\n' for c in CATEGORIES)


def findings_with_spans(binary: str, path: Path, workdir: Path | None = None):
    """Findings (with byte spans) for every line of `path`, plus CPU/wall of the hash run."""
    inp = path.read_bytes().split(b"\n")
    out, alerts, cpu, wall = run_redact(binary, path, hash_config(), workdir)
    by_line: dict[int, list[dict]] = {}
    for a in alerts:
        by_line.setdefault(a["line"] - 1, []).append(a)
    findings: list[Finding] = []
    unresolved = 0
    for i, al in by_line.items():
        al.sort(key=lambda a: a["column"])
        src = inp[i] if i < len(inp) else b""
        # invalid UTF-8 is replaced before scanning; our inputs are valid UTF-8
        dst = out[i] if i < len(out) else b""
        toks = list(HASH_TOKEN.finditer(dst))
        ok = len(toks) == len(al)
        ends: list[int | None] = []
        if ok:
            for k, a in enumerate(al):
                if k + 1 < len(al):
                    gap = toks[k + 1].start() - toks[k].end()
                    e = al[k + 1]["column"] - gap
                else:
                    e = len(src) - (len(dst) - toks[k].end())
                ends.append(e if e > a["column"] else None)
        else:
            ends = [None] * len(al)
        for a, e in zip(al, ends):
            unresolved += e is None
            findings.append(Finding(i, a["entity"], a["column"], e, a["rule"]))
    return findings, unresolved, cpu, wall
