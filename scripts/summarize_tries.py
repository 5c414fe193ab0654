#!/usr/bin/python3
"""Summarize a scripts/try_models.sh run: OUT_DIR/summary.json and OUT_DIR/summary.md.

    /usr/bin/python3 scripts/summarize_tries.py FOLDER OUT_DIR

Per model: exit code, wall time and peak RSS (from /usr/bin/time -v), every proxy's value or error
message, and a verdict: "ok" (every proxy a value), "errors" (exit 1, each failing proxy with its
message, or the whole model refused with a message), or a crash: "panic", "fatal" (Go fatal error),
"timeout", "signal"/"rc=N" (any other exit code), "bad-json" (exit 0/1 without the promised JSON).
Then the errors grouped by message (quoted names and paths replaced by …), and the rank run: which
models of FOLDER it recorded, with a value or an error, and which it lost.
"""

import glob
import json
import os
import re
import sys

ALL = ["grad_norm", "snip", "grasp", "fisher", "jacob_cov", "plain", "synflow", "synflow_bn", "nwot",
       "params", "flops", "l2_norm"]
GROUPS = {"all": ALL, "paper": ALL[:8],
          "datafree": ["synflow", "synflow_bn", "params", "flops", "l2_norm"]}


def expand(p):
    out = []
    for part in p.split(","):
        out += GROUPS.get(part.strip(), [part.strip()])
    return [n for n in ALL if n in out]


def read(path, default=""):
    try:
        with open(path, errors="replace") as f:
            return f.read()
    except OSError:
        return default


def time_field(text, key):
    m = re.search(re.escape(key) + r": (.*)", text)
    return m.group(1).strip() if m else None


def wall_seconds(s):
    if not s:
        return None
    parts = [float(x) for x in s.split(":")]
    t = 0.0
    for x in parts:
        t = t * 60 + x
    return t


def normalize(msg, model_path=None):
    m = msg
    if model_path:
        m = m.replace(model_path, "FILE")
    m = re.sub(r"/[^\s:\"]+\.onnx", "FILE", m)
    m = re.sub(r'"[^"]*"', '"…"', m)
    m = re.sub(r"\b\d+(\.\d+)?(e[-+]?\d+)?\b", "N", m)
    return m.strip()


def classify(rc, err, parsed):
    if rc in (124, 137) or (rc is not None and rc == 128 + 9):
        return "timeout"
    if "panic:" in err or "goroutine " in err and "panic" in err:
        return "panic"
    if "fatal error:" in err:
        return "fatal"
    if rc not in (0, 1):
        return "rc=%s" % rc
    if parsed is None:
        return "refused" if rc == 1 and err.strip() else "bad-json"
    return "ok" if rc == 0 and not parsed.get("errors") else "errors"


def fmt(v):
    if v is None:
        return ""
    if isinstance(v, float):
        return "%.4g" % v
    return str(v)


def main():
    folder, out = sys.argv[1], sys.argv[2]
    rows = []
    for rcf in sorted(glob.glob(os.path.join(out, "score", "*.rc"))):
        base = rcf[:-3]
        name = os.path.basename(base)
        rc = int(read(rcf, "-1").strip() or -1)
        err = read(base + ".err")
        tim = read(base + ".time")
        want = expand(read(base + ".proxies", "all").strip())
        parsed = None
        try:
            parsed = json.loads(read(base + ".json"))
        except ValueError:
            parsed = None
        verdict = classify(rc, err, parsed)
        rss = time_field(tim, "Maximum resident set size (kbytes)")
        row = {"model": name, "rc": rc, "verdict": verdict,
               "wall_s": wall_seconds(time_field(tim, "Elapsed (wall clock) time (h:mm:ss or m:ss)")),
               "peak_rss_mb": round(int(rss) / 1024) if rss else None,
               "cpu_s": round(sum(float(time_field(tim, k) or 0) for k in
                                  ("User time (seconds)", "System time (seconds)")), 1),
               "proxies_asked": want, "values": {}, "errors": {}, "missing": [],
               "stderr_tail": "\n".join(err.strip().splitlines()[-6:])}
        if parsed is not None:
            row["input_shape"] = parsed.get("input_shape")
            row["notes"] = parsed.get("notes")
            for p, r in (parsed.get("proxies") or {}).items():
                row["values"][p] = r.get("log10", r.get("score")) if r.get("log10") is not None else r.get("score")
            row["errors"] = parsed.get("errors") or {}
            row["missing"] = [p for p in want if p not in row["values"] and p not in row["errors"]]
        elif verdict == "refused":
            line = [l for l in err.strip().splitlines() if l.strip()]
            row["model_error"] = line[-1] if line else ""
        rows.append(row)

    # rank
    rank = None
    if os.path.exists(os.path.join(out, "rank.rc")):
        recs = {}
        for line in read(os.path.join(out, "rank.jsonl")).splitlines():
            try:
                r = json.loads(line)
            except ValueError:
                continue
            recs[os.path.basename(r.get("path", r.get("name", "")))] = r
        files = sorted(os.path.basename(f) for f in glob.glob(os.path.join(folder, "**", "*.onnx"), recursive=True))
        rerr = read(os.path.join(out, "rank.err"))
        rtim = read(os.path.join(out, "rank.time"))
        rrc = int(read(os.path.join(out, "rank.rc"), "-1").strip() or -1)
        rank = {"rc": rrc, "verdict": classify(rrc, rerr, {}) if rrc not in (0, 1) or "panic:" in rerr or "fatal error:" in rerr else "ran",
                "files": len(files), "recorded": sum(f in recs for f in files),
                "missing": [f for f in files if f not in recs],
                "failed": {f: recs[f].get("error") for f in files if f in recs and recs[f].get("error")},
                "wall_s": wall_seconds(time_field(rtim, "Elapsed (wall clock) time (h:mm:ss or m:ss)")),
                "peak_rss_mb": (lambda s: round(int(s) / 1024) if s else None)(time_field(rtim, "Maximum resident set size (kbytes)")),
                "stderr_tail": "\n".join(rerr.strip().splitlines()[-8:])}

    with open(os.path.join(out, "summary.json"), "w") as f:
        json.dump({"models": rows, "rank": rank}, f, indent=1)

    # grouped errors
    groups = {}
    for r in rows:
        if r["verdict"] in ("ok", "errors", "refused"):
            for p, m in r["errors"].items():
                groups.setdefault(normalize(m), []).append("%s:%s" % (r["model"], p))
            if r.get("model_error"):
                groups.setdefault(normalize(r["model_error"]), []).append("%s:(model)" % r["model"])
            for p in r["missing"]:
                groups.setdefault("(proxy neither valued nor in errors)", []).append("%s:%s" % (r["model"], p))
        else:
            last = r["stderr_tail"].splitlines()
            key = "CRASH %s: %s" % (r["verdict"], normalize(next((l for l in r["stderr_tail"].splitlines()
                                                                  if "panic:" in l or "fatal error:" in l),
                                                                 last[0] if last else "")))
            groups.setdefault(key, []).append(r["model"])

    md = []
    n = len(rows)
    by = {}
    for r in rows:
        by[r["verdict"]] = by.get(r["verdict"], 0) + 1
    md.append("%d models scored: %s." % (n, ", ".join("%s %d" % (k, v) for k, v in sorted(by.items()))))
    md.append("")
    md.append("### Errors and crashes, grouped by message")
    md.append("")
    md.append("| # | message (names and numbers elided) | model:proxy |")
    md.append("| --- | --- | --- |")
    for msg, who in sorted(groups.items(), key=lambda kv: -len(kv[1])):
        md.append("| %d | `%s` | %s |" % (len(who), msg.replace("|", "\\|")[:400], ", ".join(who)))
    md.append("")
    md.append("### Per model")
    md.append("")
    md.append("| model | verdict | rc | wall s | CPU s | peak RSS MB | input | values | errors |")
    md.append("| --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    for r in rows:
        vals = " ".join("%s=%s" % (p, fmt(r["values"][p])) for p in ALL if p in r["values"])
        errs = "; ".join("%s: %s" % (p, m) for p, m in sorted(r["errors"].items()))
        if r.get("model_error"):
            errs = r["model_error"]
        if r["verdict"] not in ("ok", "errors", "refused"):
            errs = (r["stderr_tail"].splitlines() or [""])[0]
        md.append("| %s | %s | %s | %s | %s | %s | %s | %s | %s |" % (
            r["model"], r["verdict"], r["rc"], fmt(r["wall_s"]), fmt(r["cpu_s"]), fmt(r["peak_rss_mb"]),
            "×".join(map(str, r.get("input_shape") or [])), vals, errs.replace("|", "\\|")[:600]))
    if rank:
        md.append("")
        md.append("### rank over the folder")
        md.append("")
        md.append("rc %d (%s), %s s, peak RSS %s MB: %d of %d files recorded, %d of them with an error; missing: %s" % (
            rank["rc"], rank["verdict"], fmt(rank["wall_s"]), fmt(rank["peak_rss_mb"]), rank["recorded"],
            rank["files"], len(rank["failed"]), ", ".join(rank["missing"]) or "none"))
        if rank["verdict"] != "ran":
            md.append("")
            md.append("```\n%s\n```" % rank["stderr_tail"])
    with open(os.path.join(out, "summary.md"), "w") as f:
        f.write("\n".join(md) + "\n")
    print("\n".join(md[:2 + 4 + len(groups)]))


if __name__ == "__main__":
    main()
