#!/usr/bin/python3
"""Write the generated part of docs/models-tried.md from an export report and a try_models.sh run.

    /usr/bin/python3 scripts/write_models_tried.py MODELS_DIR TRIES_DIR COMMIT > generated.md

MODELS_DIR holds export_report.json (scripts/export_models.py); TRIES_DIR is the OUT_DIR of
scripts/try_models.sh (summary.json from scripts/summarize_tries.py). Prints markdown: the exports,
the errors grouped by message, one row per (model, export form) and the rank run.
"""

import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from summarize_tries import ALL, normalize, fmt  # noqa: E402


def cell(s, n=300):
    s = (s or "").replace("|", "\\|").replace("\n", " ")
    return s if len(s) <= n else s[:n] + "…"


def main():
    models_dir, tries, commit = sys.argv[1], sys.argv[2], sys.argv[3]
    exports = json.load(open(os.path.join(models_dir, "export_report.json")))
    summary = json.load(open(os.path.join(tries, "summary.json")))
    rows = {r["model"]: r for r in summary["models"]}
    out = []
    w = out.append

    w("### Exports")
    w("")
    w("| model | form | export | input | opset | MB | note |")
    w("| --- | --- | --- | --- | --- | --- | --- |")
    for e in sorted(exports, key=lambda e: (e["form"] not in ("default", "train"), e["model"], e["form"])):
        note = e.get("why", "")
        if e.get("earlier"):
            note = "smallest size that exports; smaller: " + e["earlier"][0].split(":")[0] + \
                " … " + e["earlier"][-1].split(":", 1)[0] + ": " + e["earlier"][-1].split(":", 1)[1][:120]
        w("| %s | %s | %s | %s | %s | %s | %s |" % (
            e["model"], e["form"], e["status"], "×".join(map(str, e.get("input", []))), e.get("opset", ""),
            e.get("mb", ""), cell(note, 200)))
    w("")

    verdicts = {}
    for r in rows.values():
        verdicts[r["verdict"]] = verdicts.get(r["verdict"], 0) + 1
    w("### Outcomes at %s" % commit)
    w("")
    w("%d files scored: %s. *ok*: every proxy asked gave a value; *errors*: exit 1, some proxies gave an "
      "error (listed), the rest values; *refused*: the whole model refused with a message; a crash would "
      "be *panic*, *fatal*, *timeout*, *rc=N* or *bad-json*." % (
          len(rows), ", ".join("%s %d" % kv for kv in sorted(verdicts.items()))))
    w("")
    groups = {}
    for r in rows.values():
        for p, m in r["errors"].items():
            groups.setdefault(normalize(m), []).append("%s:%s" % (r["model"], p))
        if r.get("model_error"):
            groups.setdefault(normalize(r["model_error"]), []).append(r["model"])
        for p in r.get("missing", []):
            groups.setdefault("(neither a value nor an error)", []).append("%s:%s" % (r["model"], p))
        if r["verdict"] not in ("ok", "errors", "refused"):
            groups.setdefault("CRASH %s: %s" % (r["verdict"], cell(r["stderr_tail"], 200)), []).append(r["model"])
    w("#### Errors, grouped by message (names and numbers elided)")
    w("")
    w("| n | message | model:proxy |")
    w("| --- | --- | --- |")
    for msg, who in sorted(groups.items(), key=lambda kv: (-len(kv[1]), kv[0])):
        w("| %d | %s | %s |" % (len(who), cell(msg, 400), ", ".join(sorted(who))))
    w("")
    w("#### Per model")
    w("")
    w("Values are scores, log10 for synflow and synflow_bn. Times are on a 2-core machine shared with "
      "other jobs (load 8–10), niced, `--threads 1`: wall time is mostly waiting; CPU s is what the run used.")
    w("")
    w("| model | outcome | wall s | CPU s | peak RSS MB | scored at | values | errors | notes |")
    w("| --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    for name in sorted(rows):
        r = rows[name]
        vals = " ".join("%s=%s" % (p, fmt(r["values"][p])) for p in ALL if p in r["values"])
        errs = "; ".join("%s: %s" % (p, m) for p, m in sorted(r["errors"].items()))
        if r.get("model_error"):
            errs = r["model_error"]
        if r["verdict"] not in ("ok", "errors", "refused"):
            errs = r["stderr_tail"]
        asked = r["proxies_asked"]
        if len(asked) < len(ALL):
            vals += " (asked: all but %s)" % ",".join(p for p in ALL if p not in asked)
        notes = "; ".join(n.split(":")[0] for n in (r.get("notes") or []))
        w("| %s | %s | %s | %s | %s | %s | %s | %s | %s |" % (
            name, r["verdict"], fmt(r["wall_s"]), fmt(r["cpu_s"]), fmt(r["peak_rss_mb"]),
            "×".join(map(str, r.get("input_shape") or [])), vals, cell(errs, 400), cell(notes, 300)))
    rank = summary.get("rank")
    w("")
    w("#### rank over the folder")
    w("")
    if not rank:
        w("not run yet.")
    else:
        w("rc %d (%s), %s s, peak RSS %s MB: %d of %d files recorded, %d with a model-level error; not "
          "recorded: %s." % (rank["rc"], rank["verdict"], fmt(rank["wall_s"]), fmt(rank["peak_rss_mb"]),
                             rank["recorded"], rank["files"], len(rank["failed"]),
                             ", ".join(rank["missing"]) or "none"))
        if rank["failed"]:
            w("")
            w("| model | error |")
            w("| --- | --- |")
            for f, e in sorted(rank["failed"].items()):
                w("| %s | %s |" % (f, cell(e, 300)))
    print("\n".join(out))


if __name__ == "__main__":
    main()
