#!/usr/bin/env python3
"""Presidio vs the Curator (`qbranch redact`) on the simulator's held-out PII lines.

Reads every held-out dataset (`<datasets>/<kind>/seed-<N>/{logs,labels}`), joins `logs`
rows to `labels` rows on (source = target, offset = attributes.offset), and takes per
seed a fixed stratified subsample: every line with a `pii` label plus PII-free lines
(lookalike-labelled or unlabelled, any kind) drawn uniformly with a fixed RNG seed up to
`--per-seed` lines. Both detectors see exactly these lines.

Matching (as curator/tests/evaluation.rs): a label is found when a finding of the same
entity overlaps it (byte spans into the UTF-8 line); a finding is correct when it
overlaps a label of its entity. Presidio's character offsets are converted to bytes.

Optionally (`--real-corpus DIR`) runs Presidio over every file in DIR and counts lines
with any finding (mapped entities, and any entity at all).

Needs: pyarrow, presidio-analyzer, a spaCy English pipeline (`--spacy-model`).
"""

from __future__ import annotations

import argparse
import collections
import json
import random
import sys
import tempfile
import os
import time
from pathlib import Path

# tldextract (Presidio's email recogniser) would fetch the public suffix list over the
# network; use the snapshot it ships.
os.environ.setdefault("TLDEXTRACT_PUBLIC_SUFFIX_LIST_URLS", "")

sys.path.insert(0, str(Path(__file__).resolve().parent))
from qbranch_run import findings_with_spans  # noqa: E402

REPO = Path(__file__).resolve().parents[2]
KINDS = ["pii_flood", "debug_dump", "clean", "lookalikes"]
OUR_ENTITIES = [
    "api_key", "aws_access_key", "aws_secret_key", "bearer_token", "credit_card", "email",
    "ipv4", "ipv6", "jwt", "person_name", "phone", "ssn",
]
PRESIDIO_MAP = {
    "CREDIT_CARD": "credit_card",
    "US_SSN": "ssn",
    "PHONE_NUMBER": "phone",
    "EMAIL_ADDRESS": "email",
    "IP_ADDRESS": None,  # ipv4 or ipv6 by the value
    "PERSON": "person_name",
}
NOT_COVERED = ["api_key", "aws_access_key", "aws_secret_key", "bearer_token", "jwt"]


def load_seed(datasets: Path, seed: int):
    import pyarrow.parquet as pq

    rows = []  # (kind, line, spans or None, has_lookalike)
    for kind in KINDS:
        base = datasets / kind / f"seed-{seed}"
        logs = pq.ParquetDataset(base / "logs").read(columns=["source", "offset", "line"])
        labels = pq.ParquetDataset(base / "labels").read(columns=["kind", "target", "attributes"])
        lab: dict[tuple[str, int], list] = collections.defaultdict(list)
        for k, t, a in zip(*(labels.column(c).to_pylist() for c in ["kind", "target", "attributes"])):
            att = json.loads(a)
            lab[(t, att["offset"])].append((k, att["spans"]))
        for s, o, line in zip(*(logs.column(c).to_pylist() for c in ["source", "offset", "line"])):
            ls = lab.get((s, o), [])
            pii = [sp for k, sps in ls if k == "pii" for sp in sps]
            look = any(k == "pii_lookalike" for k, _ in ls)
            rows.append((kind, line, pii, look))
    return rows


def subsample(rows, per_seed: int, rng: random.Random):
    pii = [r for r in rows if r[2]]
    free = [r for r in rows if not r[2]]
    n_free = max(0, per_seed - len(pii))
    picked = pii + rng.sample(free, min(n_free, len(free)))
    return picked, len(pii), len(free)


def overlaps(a0, a1, b0, b1):
    return a0 < b1 and b0 < a1


def score(lines, findings_per_line):
    """lines: list of (text, label spans); findings_per_line: list of [(entity, start, end)]."""
    per = {e: dict(labels=0, found=0, findings=0, correct=0) for e in OUR_ENTITIES}
    free_lines = free_changed = 0
    for (text, spans), fs in zip(lines, findings_per_line):
        if not spans:
            free_lines += 1
            free_changed += bool(fs)
        for sp in spans:
            c = per.setdefault(sp["entity"], dict(labels=0, found=0, findings=0, correct=0))
            c["labels"] += 1
            c["found"] += any(e == sp["entity"] and overlaps(s, t, sp["start"], sp["end"]) for e, s, t in fs)
        for e, s, t in fs:
            c = per.setdefault(e, dict(labels=0, found=0, findings=0, correct=0))
            c["findings"] += 1
            c["correct"] += any(e == sp["entity"] and overlaps(s, t, sp["start"], sp["end"]) for sp in spans)
    return per, free_lines, free_changed


def presidio_engine(model: str):
    from presidio_analyzer import AnalyzerEngine
    from presidio_analyzer.nlp_engine import NlpEngineProvider

    conf = {"nlp_engine_name": "spacy", "models": [{"lang_code": "en", "model_name": model}]}
    nlp = NlpEngineProvider(nlp_configuration=conf).create_engine()
    return AnalyzerEngine(nlp_engine=nlp, supported_languages=["en"])


def presidio_findings(engine, text: str, threshold: float):
    """(mapped findings as (entity, byte start, byte end), all raw entity types found)."""
    res = engine.analyze(text=text, language="en", score_threshold=threshold)
    mapped, raw = [], []
    for r in res:
        raw.append(r.entity_type)
        if r.entity_type not in PRESIDIO_MAP:
            continue
        ent = PRESIDIO_MAP[r.entity_type]
        value = text[r.start:r.end]
        if ent is None:
            ent = "ipv6" if ":" in value else "ipv4"
        b0 = len(text[: r.start].encode("utf-8"))
        b1 = b0 + len(value.encode("utf-8"))
        mapped.append((ent, b0, b1))
    return mapped, raw


def presidio_real(engine, corpus: Path, threshold: float, max_lines: int, sample_seed: int, qbranch: str | None):
    """Per file (a fixed uniform sample of at most max_lines non-empty lines): lines with a
    mapped Presidio finding, with any Presidio finding, and (same lines) with a qbranch finding."""
    real = {}
    for p in sorted(corpus.iterdir()):
        if not p.is_file() or p.name.startswith(".") or p.name.endswith(".tsv"):
            continue
        texts = [l.decode("utf-8", "replace") for l in p.read_bytes().split(b"\n")]
        idx = [i for i, t in enumerate(texts) if t]
        total = len(idx)
        if max_lines and len(idx) > max_lines:
            idx = sorted(random.Random(sample_seed).sample(idx, max_lines))
        q_lines = None
        if qbranch:
            with tempfile.TemporaryDirectory() as tmp:
                f = Path(tmp) / "lines.txt"
                f.write_bytes(b"".join(texts[i].encode("utf-8") + b"\n" for i in idx))
                fs, _, _, _ = findings_with_spans(qbranch, f)
                q_lines = len({x.line for x in fs})
        n = any_mapped = any_raw = 0
        ents, raw_ents = collections.Counter(), collections.Counter()
        examples = []
        cpu0 = time.process_time()
        for i in idx:
            text = texts[i]
            n += 1
            mapped, raw = presidio_findings(engine, text, threshold)
            any_mapped += bool(mapped)
            any_raw += bool(raw)
            ents.update({e for e, _, _ in mapped})
            raw_ents.update(set(raw))
            if mapped:
                examples.append(dict(line_no=i + 1, line=text,
                                     findings=[(e, text.encode()[s:t].decode("utf-8", "replace")) for e, s, t in mapped]))
        real[p.name] = dict(lines_in_file=total, lines=n, lines_with_mapped_finding=any_mapped,
                            lines_with_any_finding=any_raw, lines_per_mapped_entity=dict(ents),
                            lines_per_raw_entity=dict(raw_ents), qbranch_lines_with_finding=q_lines,
                            cpu_s=time.process_time() - cpu0, examples=examples)
        print(f"real {p.name}: {n} of {total} lines, Presidio {any_mapped} with a mapped finding "
              f"({any_raw} any), qbranch {q_lines}", flush=True)
    return real


def table(per_q, per_p, n_lines, q_rate, p_rate, free):
    out = ["| entity | labels | qbranch recall | qbranch precision (findings) | Presidio recall | Presidio precision (findings) |",
           "| --- | --- | --- | --- | --- | --- |"]
    ratio = lambda a, b: f"{a / b:.4f}" if b else "n/a"
    for e in sorted(set(per_q) | set(per_p)):
        q, p = per_q.get(e, {}), per_p.get(e, {})
        if e in NOT_COVERED:
            pr, pp = "not covered", "not covered"
        else:
            pr = ratio(p.get("found", 0), p.get("labels", 0))
            pp = f"{ratio(p.get('correct', 0), p.get('findings', 0))} ({p.get('findings', 0)})"
        out.append(f"| {e} | {q.get('labels', 0)} | {ratio(q.get('found', 0), q.get('labels', 0))} | "
                   f"{ratio(q.get('correct', 0), q.get('findings', 0))} ({q.get('findings', 0)}) | {pr} | {pp} |")
    (qf, qc), (pf, pc) = free
    out.append(f"\nPII-free lines with any finding: qbranch {qc} of {qf}; Presidio (mapped entities) {pc} of {pf}")
    out.append(f"Lines: {n_lines}; qbranch {q_rate:,.0f} lines per CPU-second; Presidio {p_rate:,.1f} lines per CPU-second")
    return "\n".join(out)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--datasets", type=Path, default=REPO / "datasets/standard/held-out/pii")
    ap.add_argument("--seeds", type=int, nargs="+", default=[10001, 10002, 10003, 10004])
    ap.add_argument("--per-seed", type=int, default=4000, help="lines per seed (all PII lines + PII-free fill); 0 = every line")
    ap.add_argument("--sample-seed", type=int, default=7)
    ap.add_argument("--qbranch", default=str(REPO / "target/release/qbranch"))
    ap.add_argument("--spacy-model", default="en_core_web_sm")
    ap.add_argument("--threshold", type=float, default=0.0, help="Presidio score_threshold (its default is 0)")
    ap.add_argument("--skip-presidio", action="store_true")
    ap.add_argument("--real-max-lines", type=int, default=1000, help="per corpus file, a fixed uniform sample (0 = all)")
    ap.add_argument("--real-only", action="store_true", help="only the --real-corpus run")
    ap.add_argument("--real-corpus", type=Path, help="also run Presidio over every file here")
    ap.add_argument("--out", type=Path, default=Path("presidio-compare-out"))
    args = ap.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)

    if args.real_only:
        engine = presidio_engine(args.spacy_model)
        real = presidio_real(engine, args.real_corpus, args.threshold, args.real_max_lines, args.sample_seed, args.qbranch)
        (args.out / "presidio_real.json").write_text(json.dumps(real, indent=1, ensure_ascii=False))
        return
    lines, meta = [], []
    for seed in args.seeds:
        rows = load_seed(args.datasets, seed)
        if args.per_seed:
            picked, n_pii, n_free = subsample(rows, args.per_seed, random.Random(args.sample_seed * 100003 + seed))
        else:
            picked, n_pii, n_free = rows, sum(bool(r[2]) for r in rows), sum(not r[2] for r in rows)
        kinds = collections.Counter(r[0] for r in picked)
        meta.append(dict(seed=seed, total=len(rows), pii_lines=n_pii, pii_free_lines=n_free,
                         picked=len(picked), picked_by_kind=dict(kinds),
                         picked_lookalike=sum(r[3] for r in picked if not r[2])))
        lines += [(r[1], r[2]) for r in picked]
    print(json.dumps(meta, indent=1), flush=True)
    lines_path = args.out / "lines.txt"
    with open(lines_path, "wb") as f:
        for text, _ in lines:
            assert "\n" not in text
            f.write(text.encode("utf-8") + b"\n")

    # qbranch
    fs, unresolved, q_cpu, q_wall = findings_with_spans(args.qbranch, lines_path)
    q_per_line = [[] for _ in lines]
    for x in fs:
        if x.line < len(lines):
            q_per_line[x.line].append((x.entity, x.start, x.end if x.end is not None else x.start + 1))
    per_q, qf, qc = score(lines, q_per_line)
    q_rate = len(lines) / q_cpu if q_cpu else float("inf")
    print(f"qbranch: {len(fs)} findings ({unresolved} spans unresolved), {q_cpu:.2f} CPU-s, {q_wall:.2f} s wall", flush=True)

    result = dict(meta=meta, lines=len(lines), qbranch=dict(per=per_q, free=[qf, qc], cpu_s=q_cpu, wall_s=q_wall,
                                                           lines_per_cpu_s=q_rate, unresolved_spans=unresolved))
    per_p, pf, pc, p_rate = {}, 0, 0, float("nan")
    if not args.skip_presidio:
        t0 = time.perf_counter()
        engine = presidio_engine(args.spacy_model)
        print(f"presidio engine ready in {time.perf_counter() - t0:.1f} s", flush=True)
        p_per_line, raw_counts = [], collections.Counter()
        fp_examples = []
        cpu0, w0 = time.process_time(), time.perf_counter()
        for i, (text, spans) in enumerate(lines):
            mapped, raw = presidio_findings(engine, text, args.threshold)
            p_per_line.append(mapped)
            raw_counts.update(raw)
            if (i + 1) % 2000 == 0:
                el = time.process_time() - cpu0
                print(f"  presidio {i + 1}/{len(lines)} lines, {(i + 1) / el:.1f} lines/CPU-s", flush=True)
        p_cpu, p_wall = time.process_time() - cpu0, time.perf_counter() - w0
        per_p, pf, pc = score(lines, p_per_line)
        p_rate = len(lines) / p_cpu
        for (text, spans), fs_ in zip(lines, p_per_line):
            for e, s, t in fs_:
                if not any(e == sp["entity"] and overlaps(s, t, sp["start"], sp["end"]) for sp in spans):
                    fp_examples.append(dict(entity=e, value=text.encode()[s:t].decode("utf-8", "replace"), line=text))
        with open(args.out / "presidio_false_positives.jsonl", "w") as f:
            for x in fp_examples:
                f.write(json.dumps(x, ensure_ascii=False) + "\n")
        result["presidio"] = dict(per=per_p, free=[pf, pc], cpu_s=p_cpu, wall_s=p_wall, lines_per_cpu_s=p_rate,
                                  raw_entity_counts=dict(raw_counts), model=args.spacy_model, threshold=args.threshold)
        print(f"presidio: {p_cpu:.1f} CPU-s, {p_wall:.1f} s wall", flush=True)

    if args.real_corpus and not args.skip_presidio:
        result["presidio_real"] = presidio_real(engine, args.real_corpus, args.threshold, args.real_max_lines, args.sample_seed, args.qbranch)

    (args.out / "result.json").write_text(json.dumps(result, indent=1, ensure_ascii=False))
    md = table(per_q, per_p, len(lines), q_rate, p_rate, ((qf, qc), (pf, pc)))
    (args.out / "table.md").write_text(md + "\n")
    print(md)


if __name__ == "__main__":
    main()
