#!/usr/bin/env python3
"""Real-world logs through `qbranch redact`: how many lines change, and why.

  real_logs.py collect --out CORPUS [--fetch CACHE]
      Copies this machine's logs (journal if any, /var/log/*.log, apt logs, npm debug
      logs, pyenv build logs) and logs shipped inside installed Debian packages (gdb's
      DejaGnu check.log, OpenJDK's jtreg logs) into CORPUS, one file per source. With
      --fetch, also downloads (pip download / apt-get download, into CACHE) packages that
      ship log samples: fail2ban's test logs (Debian) and log-ai-compressor's examples
      (PyPI sdist). Writes CORPUS/SOURCES.tsv (file, package, version, path inside, lines).

  real_logs.py measure --corpus CORPUS --qbranch BIN --out OUT
      Per file: lines, lines changed (input vs default-policy output, line by line),
      changed lines per entity (from --alerts), and OUT/changed.jsonl with every changed
      line, its findings and the matched values (byte spans recovered by a hash-policy
      run; see qbranch_run.py) for manual review. OUT/table.md is the summary.
      --policy-pii FILE: a TSV (file, reason) of corpus files that hold personal data by
      qbranch's policy; they are reported apart from the PII-free files.

The corpus stays out of git: it holds other people's logs.
"""

from __future__ import annotations

import argparse
import collections
import glob
import gzip
import json
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from qbranch_run import findings_with_spans, run_redact  # noqa: E402

REPO = Path(__file__).resolve().parents[2]


def _lines(p: Path) -> int:
    data = p.read_bytes()
    return data.count(b"\n") + (1 if data and not data.endswith(b"\n") else 0)


def _dpkg_owner(path: str) -> tuple[str, str]:
    try:
        pkg = subprocess.run(["dpkg", "-S", path], capture_output=True, text=True, check=True).stdout.split(":")[0]
        ver = subprocess.run(["dpkg-query", "-W", "-f=${Version}", pkg], capture_output=True, text=True, check=True).stdout
        return pkg, ver
    except (subprocess.CalledProcessError, FileNotFoundError):
        return "-", "-"


def _read(path: Path) -> bytes:
    return gzip.open(path).read() if path.suffix == ".gz" else path.read_bytes()


def collect(out: Path, fetch: Path | None):
    out.mkdir(parents=True, exist_ok=True)
    sources = []

    def put(name: str, data: bytes, package: str, version: str, inside: str):
        (out / name).write_bytes(data)
        sources.append((name, package, version, inside, _lines(out / name)))

    # this machine
    j = subprocess.run(["journalctl", "--no-pager", "-o", "short-iso"], capture_output=True)
    if j.returncode == 0 and j.stdout.count(b"\n") > 1:
        put("journal.log", j.stdout, "this machine", "-", "journalctl -o short-iso")
    for p in sorted(glob.glob("/var/log/*.log")) + sorted(glob.glob("/var/log/apt/*.log")):
        if Path(p).stat().st_size:
            put("machine-" + p.strip("/").replace("/", "_"), Path(p).read_bytes(), "this machine", "-", p)
    npm = sorted(glob.glob(str(Path.home() / ".npm/_logs/*.log")))
    if npm:
        put("machine-npm-debug.log", b"".join(Path(p).read_bytes() for p in npm), "this machine", "-",
            f"~/.npm/_logs/*.log ({len(npm)} files)")
    pyb = sorted(glob.glob("/tmp/python-build.*.log"))
    if pyb:
        put("machine-pyenv-python-build.log", b"".join(Path(p).read_bytes() for p in pyb), "this machine", "-",
            f"/tmp/python-build.*.log ({len(pyb)} files)")

    # logs shipped in installed Debian packages
    for p in ["/usr/share/doc/gdb/check.log.gz"] + sorted(glob.glob("/usr/share/doc/openjdk-*-jre-headless/test-*/*.log*")):
        if Path(p).exists():
            pkg, ver = _dpkg_owner(p)
            name = "deb-" + pkg.split(":")[0] + "-" + Path(p).name.removesuffix(".gz")
            put(name, _read(Path(p)), pkg, ver, p)

    if fetch:
        fetch.mkdir(parents=True, exist_ok=True)
        # fail2ban's filter test logs: real auth-failure lines (addresses, user names)
        subprocess.run(["apt-get", "download", "fail2ban"], cwd=fetch, check=False)
        for deb in sorted(fetch.glob("fail2ban_*.deb")):
            ver = deb.name.split("_")[1]
            x = fetch / "fail2ban-x"
            subprocess.run(["dpkg-deb", "-x", str(deb), str(x)], check=True)
            base = next(x.glob("usr/lib/python3/dist-packages/fail2ban/tests/files"))
            files = sorted(p for p in (base / "logs").iterdir() if p.is_file()) + sorted(base.glob("*.log"))
            put("deb-fail2ban-tests-logs.log", b"".join(_read(p).rstrip(b"\n") + b"\n" for p in files),
                "fail2ban (Debian)", ver, f"usr/lib/python3/dist-packages/fail2ban/tests/files/{{logs/*,*.log}} ({len(files)} files)")
        subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "--no-binary", ":all:", "-q",
                        "-d", str(fetch), "log-ai-compressor"], check=False)
        for sd in sorted(fetch.glob("log_ai_compressor-*.tar.gz")):
            ver = sd.name.removeprefix("log_ai_compressor-").removesuffix(".tar.gz")
            with tarfile.open(sd) as t:
                for m in t.getmembers():
                    if m.name.endswith(".log") and "/examples/" in m.name:
                        put("pypi-log-ai-compressor-" + Path(m.name).name, t.extractfile(m).read(),
                            "log-ai-compressor (PyPI sdist)", ver, m.name)
        # the console crate's zellij session capture, if cargo has it
        for p in sorted(glob.glob(str(Path.home() / ".cargo/registry/src/*/console-*/tests/data/*.log"))):
            crate = Path(p).parts[-4]
            put("crate-" + crate + "-" + Path(p).name, Path(p).read_bytes(), "console (crates.io)",
                crate.removeprefix("console-"), "tests/data/" + Path(p).name)

    with open(out / "SOURCES.tsv", "w") as f:
        f.write("file\tpackage\tversion\tpath\tlines\n")
        for row in sources:
            f.write("\t".join(map(str, row)) + "\n")
    for row in sources:
        print("\t".join(map(str, row)))


def measure(corpus: Path, binary: str, out: Path, policy_pii: Path | None):
    out.mkdir(parents=True, exist_ok=True)
    pii_files = {}
    if policy_pii and policy_pii.exists():
        for l in policy_pii.read_text().splitlines():
            if l.strip() and not l.startswith("#"):
                name, _, why = l.partition("\t")
                pii_files[name.strip()] = why.strip()
    rows = []
    with open(out / "changed.jsonl", "w") as ch:
        for p in sorted(corpus.iterdir()):
            if not p.is_file() or p.name.startswith(".") or p.name == "SOURCES.tsv":
                continue
            inp = p.read_bytes().split(b"\n")
            red, alerts, cpu, _ = run_redact(binary, p)
            n = len(inp) - (1 if inp and inp[-1] == b"" else 0)
            changed = [i for i in range(n) if i >= len(red) or red[i] != inp[i]]
            alert_lines = {a["line"] - 1 for a in alerts}
            per_entity = collections.Counter()
            for e, i in {(a["entity"], a["line"] - 1) for a in alerts}:
                per_entity[e] += 1
            spans, unresolved, _, _ = findings_with_spans(binary, p)
            by_line = collections.defaultdict(list)
            for f in spans:
                v = inp[f.line][f.start:f.end] if f.end is not None else inp[f.line][f.start:f.start + 40]
                by_line[f.line].append(dict(entity=f.entity, rule=f.rule, start=f.start, end=f.end,
                                            value=v.decode("utf-8", "replace")))
            for i in changed:
                ch.write(json.dumps(dict(file=p.name, line=i + 1, text=inp[i].decode("utf-8", "replace"),
                                         redacted=red[i].decode("utf-8", "replace") if i < len(red) else None,
                                         findings=by_line.get(i, [])), ensure_ascii=False) + "\n")
            no_finding = sum(1 for i in changed if i not in alert_lines)
            rows.append(dict(file=p.name, lines=n, changed=len(changed), alert_lines=len(alert_lines),
                             changed_without_finding=no_finding,
                             per_entity=dict(per_entity), unresolved=unresolved, cpu_s=cpu,
                             policy_pii=pii_files.get(p.name)))
            print(f"{p.name}: {n} lines, {len(changed)} changed {dict(per_entity)}", flush=True)
    (out / "result.json").write_text(json.dumps(rows, indent=1))
    md = []
    for title, sel in [("PII-free by policy", lambda r: not r["policy_pii"]), ("contains PII by policy", lambda r: r["policy_pii"])]:
        group = [r for r in rows if sel(r)]
        if not group:
            continue
        md += [f"### {title}", "", "| file | lines | changed | % | changed lines per entity | changed, no finding (invalid UTF-8 replaced) |",
               "| --- | --- | --- | --- | --- | --- |"]
        for r in group:
            ents = ", ".join(f"{k} {v}" for k, v in sorted(r["per_entity"].items())) or "-"
            md.append(f"| {r['file']} | {r['lines']} | {r['changed']} | {100 * r['changed'] / max(r['lines'], 1):.3f} | {ents} | {r['changed_without_finding']} |")
        tl, tc = sum(r["lines"] for r in group), sum(r["changed"] for r in group)
        tn = sum(r["changed_without_finding"] for r in group)
        md += [f"| **total** | {tl} | {tc} | {100 * tc / max(tl, 1):.3f} | | {tn} |",
               f"| **total, findings only** | {tl} | {tc - tn} | {100 * (tc - tn) / max(tl, 1):.3f} | | |", ""]
    (out / "table.md").write_text("\n".join(md) + "\n")
    print("\n".join(md))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    c = sub.add_parser("collect")
    c.add_argument("--out", type=Path, required=True)
    c.add_argument("--fetch", type=Path, help="download package samples into this cache folder")
    m = sub.add_parser("measure")
    m.add_argument("--corpus", type=Path, required=True)
    m.add_argument("--qbranch", default=str(REPO / "target/release/qbranch"))
    m.add_argument("--out", type=Path, default=Path("real-logs-out"))
    m.add_argument("--policy-pii", type=Path, default=Path(__file__).resolve().parent / "policy_pii.tsv",
                   help="TSV: corpus file, reason it holds PII by policy")
    a = ap.parse_args()
    if a.cmd == "collect":
        collect(a.out, a.fetch)
    else:
        measure(a.corpus, a.qbranch, a.out, a.policy_pii)


if __name__ == "__main__":
    main()
