#!/usr/bin/env python3
"""helm_render.py: renders a Helm chart's templates without helm.

Debian has no helm package, so the chart test (helm_test.c) renders
deploy/helm/switchyard with this: the subset of Go's text/template and of
Sprig that the chart uses, implemented as Helm implements it (whitespace
trim markers, `define`/`include`, `if`/`else if`/`range`/`with`, variables,
pipelines). Anything outside that subset is an error naming the template
and line, never silently rendered: a construct the chart starts using must
be added here first. With a helm binary on PATH the test uses helm instead.

    helm_render.py CHART OUTDIR [-f VALUES.yaml ...] [--release NAME] [--namespace NS]

writes OUTDIR/<template file> for each template (files starting with _
only define templates; NOTES.txt is skipped), as `helm template` would.
"""
import base64
import hashlib
import json
import os
import re
import sys

import yaml


class TemplateError(Exception):
    pass


# ---- lexing: text and {{ actions }} -------------------------------------------------------

ACTION = re.compile(r"\{\{(-\s)?(.*?)(\s-)?\}\}", re.S)


def lex(src, name):
    """Yields ('text', s) and ('action', body, line) with trim markers applied."""
    out, pos = [], 0
    for m in ACTION.finditer(src):
        text = src[pos:m.start()]
        if m.group(1):
            text = text.rstrip(" \t\r\n")
        out.append(["text", text])
        line = src.count("\n", 0, m.start()) + 1
        out.append(["action", m.group(2).strip(), line, bool(m.group(3))])
        pos = m.end()
    out.append(["text", src[pos:]])
    # a right trim marker eats the whitespace that starts the next text
    for i, t in enumerate(out):
        if t[0] == "action" and t[3] and i + 1 < len(out):
            out[i + 1][1] = out[i + 1][1].lstrip(" \t\r\n")
    return [tuple(t[:3]) if t[0] == "action" else ("text", t[1]) for t in out]


TOKEN = re.compile(r"""\s*(?:
    (?P<str>"(?:[^"\\]|\\.)*")
  | (?P<raw>`[^`]*`)
  | (?P<num>-?\d+(?:\.\d+)?)
  | (?P<decl>:=)
  | (?P<assign>=)
  | (?P<punct>[|(),])
  | (?P<var>\$[A-Za-z0-9_]*(?:\.[A-Za-z0-9_]+)*)
  | (?P<field>(?:\.[A-Za-z0-9_]+)+|\.)
  | (?P<ident>[A-Za-z_][A-Za-z0-9_]*)
)""", re.X)


def tokens(body, where):
    out, pos = [], 0
    while pos < len(body):
        if body[pos:].strip() == "":
            break
        m = TOKEN.match(body, pos)
        if not m or m.end() == pos:
            raise TemplateError(f"{where}: cannot read {body[pos:]!r}")
        kind = m.lastgroup
        out.append((kind, m.group(kind)))
        pos = m.end()
    return out


# ---- parsing: a tree of nodes -------------------------------------------------------------

class Parser:
    def __init__(self, name, src):
        self.name = name
        self.items = lex(src, name)
        self.i = 0
        self.defines = {}

    def where(self, line):
        return f"{self.name}:{line}"

    def parse(self):
        body, stop = self.block(())
        if stop:
            raise TemplateError(f"{self.where(stop[2])}: unexpected {{{{{stop[1]}}}}}")
        return body

    def block(self, enders):
        """Nodes until an action whose keyword is in enders; returns (nodes, that action)."""
        nodes = []
        while self.i < len(self.items):
            it = self.items[self.i]
            self.i += 1
            if it[0] == "text":
                if it[1]:
                    nodes.append(("text", it[1]))
                continue
            _, body, line = it
            word = body.split(None, 1)[0] if body else ""
            if body.startswith("/*"):
                if not body.endswith("*/"):
                    raise TemplateError(f"{self.where(line)}: unterminated comment")
                continue
            if word in enders:
                return nodes, it
            if word in ("end", "else"):
                raise TemplateError(f"{self.where(line)}: unexpected {{{{{body}}}}}")
            nodes.append(self.statement(word, body, line))
        if enders:
            raise TemplateError(f"{self.name}: missing {{{{end}}}}")
        return nodes, None

    def statement(self, word, body, line):
        where = self.where(line)
        rest = body[len(word):].strip()
        if word in ("if", "with"):
            return self.conditional(word, rest, where)
        if word == "range":
            names = []
            m = re.match(r"^(\$\w+)\s*(?:,\s*(\$\w+)\s*)?:=\s*(.*)$", rest, re.S)
            if m:
                names = [n for n in (m.group(1), m.group(2)) if n]
                rest = m.group(3)
            pipe = self.pipeline(rest, where)
            then, stop = self.block(("end", "else"))
            other = []
            if stop[1] == "else":
                other, _ = self.block(("end",))
            return ("range", names, pipe, then, other, where)
        if word == "define":
            m = re.match(r'^"([^"]+)"$', rest)
            if not m:
                raise TemplateError(f"{where}: define needs a quoted name")
            nodes, _ = self.block(("end",))
            self.defines[m.group(1)] = nodes
            return ("text", "")
        if word in ("template", "block", "break", "continue"):
            raise TemplateError(f"{where}: {{{{{word}}}}} is not supported by helm_render.py")
        m = re.match(r"^(\$\w+)\s*(:=|=)\s*(.*)$", body, re.S)
        if m:
            return ("set", m.group(1), self.pipeline(m.group(3), where), where)
        return ("output", self.pipeline(body, where), where)

    def conditional(self, word, rest, where):
        pipe = self.pipeline(rest, where)
        then, stop = self.block(("end", "else"))
        other = []
        if stop[1] != "end":
            tail = stop[1][len("else"):].strip()
            if tail.startswith("if ") and word == "if":
                other = [self.conditional("if", tail[3:], self.where(stop[2]))]
            elif tail:
                raise TemplateError(f"{self.where(stop[2])}: unsupported {{{{{stop[1]}}}}}")
            else:
                other, _ = self.block(("end",))
        return (word, pipe, then, other, where)

    def pipeline(self, text, where):
        toks = tokens(text, where)
        cmds, pos = self.commands(toks, 0, where)
        if pos != len(toks):
            raise TemplateError(f"{where}: unexpected {toks[pos][1]!r}")
        return cmds

    def commands(self, toks, pos, where):
        cmds, cur = [], []
        while pos < len(toks):
            kind, val = toks[pos]
            if kind == "punct" and val == ")":
                break
            pos += 1
            if kind == "punct" and val == "|":
                if not cur:
                    raise TemplateError(f"{where}: empty command before |")
                cmds.append(cur)
                cur = []
            elif kind == "punct" and val == "(":
                inner, pos = self.commands(toks, pos, where)
                if pos >= len(toks) or toks[pos][1] != ")":
                    raise TemplateError(f"{where}: missing )")
                pos += 1
                cur.append(("pipe", inner))
            elif kind in ("decl", "assign") or (kind == "punct" and val == ","):
                raise TemplateError(f"{where}: unexpected {val!r}")
            else:
                cur.append((kind, val))
        if not cur:
            raise TemplateError(f"{where}: empty pipeline")
        cmds.append(cur)
        return cmds, pos


# ---- evaluation ---------------------------------------------------------------------------

def truthy(v):
    """Go's truth: false, 0, nil and empty strings, lists and maps are false."""
    if v is None or isinstance(v, bool):
        return bool(v)
    if isinstance(v, (int, float)):
        return v != 0
    if isinstance(v, (str, list, dict, tuple)):
        return len(v) > 0
    return True


def to_text(v, where):
    if v is None:
        return ""
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, float) and v.is_integer():
        return str(int(v))
    if isinstance(v, (int, float, str)):
        return str(v)
    raise TemplateError(f"{where}: printing a {type(v).__name__} (use toYaml)")


def go_quote(s):
    return json.dumps(s, ensure_ascii=False)


def go_printf(fmt, *args):
    out, ai = [], 0
    i = 0
    while i < len(fmt):
        c = fmt[i]
        if c != "%":
            out.append(c)
            i += 1
            continue
        verb = fmt[i + 1]
        i += 2
        if verb == "%":
            out.append("%")
            continue
        a = args[ai]
        ai += 1
        if verb in "sv":
            out.append(to_text(a, "printf"))
        elif verb == "d":
            out.append(str(int(a)))
        elif verb == "q":
            out.append(go_quote(to_text(a, "printf")))
        else:
            raise TemplateError(f"printf: verb %{verb} is not supported")
    return "".join(out)


def indent(n, s):
    pad = " " * int(n)
    return "\n".join(pad + line for line in to_text(s, "indent").split("\n"))


def to_yaml(v):
    if v is None:
        return "null"
    return yaml.safe_dump(v, default_flow_style=False, sort_keys=True, allow_unicode=True).rstrip("\n")


class Renderer:
    def __init__(self, chart_dir, values, release, namespace):
        with open(os.path.join(chart_dir, "Chart.yaml")) as f:
            chart = yaml.safe_load(f)
        self.chart_name = chart["name"]
        self.templates = {}  # name -> nodes (files and defines)
        self.files = []
        tdir = os.path.join(chart_dir, "templates")
        for fn in sorted(os.listdir(tdir)):
            path = os.path.join(tdir, fn)
            if fn == "NOTES.txt" or not os.path.isfile(path):
                continue
            with open(path) as f:
                p = Parser(f"{self.chart_name}/templates/{fn}", f.read())
            nodes = p.parse()
            for k, v in p.defines.items():
                if k in self.templates:
                    raise TemplateError(f"{fn}: template {k!r} defined twice")
                self.templates[k] = v
            self.templates[p.name] = nodes
            if not fn.startswith("_"):
                self.files.append((fn, p.name))
        self.root = {
            "Values": values,
            "Release": {"Name": release, "Namespace": namespace, "Service": "Helm",
                        "IsInstall": True, "IsUpgrade": False, "Revision": 1},
            "Chart": {"Name": chart["name"], "Version": str(chart["version"]),
                      "AppVersion": str(chart.get("appVersion", ""))},
            "Template": {"BasePath": f"{self.chart_name}/templates"},
        }
        self.depth = 0

    def render_all(self):
        out = {}
        for fn, name in self.files:
            self.root["Template"]["Name"] = name
            out[fn] = self.run(name, self.root)
        return out

    def run(self, name, dot):
        if name not in self.templates:
            raise TemplateError(f"no template {name!r}")
        self.depth += 1
        if self.depth > 50:
            raise TemplateError(f"{name}: include nested too deep")
        try:
            return self.nodes(self.templates[name], dot, {"$": dot})
        finally:
            self.depth -= 1

    def nodes(self, nodes, dot, scope):
        out = []
        for n in nodes:
            out.append(self.node(n, dot, scope))
        return "".join(out)

    def node(self, n, dot, scope):
        kind = n[0]
        if kind == "text":
            return n[1]
        if kind == "output":
            return to_text(self.pipe(n[1], dot, scope, n[2]), n[2])
        if kind == "set":
            scope[n[1]] = self.pipe(n[2], dot, scope, n[3])
            return ""
        if kind in ("if", "with"):
            _, pipe, then, other, where = n
            v = self.pipe(pipe, dot, scope, where)
            if truthy(v):
                return self.nodes(then, v if kind == "with" else dot, dict(scope))
            return self.nodes(other, dot, dict(scope))
        if kind == "range":
            _, names, pipe, then, other, where = n
            v = self.pipe(pipe, dot, scope, where)
            if not truthy(v):
                return self.nodes(other, dot, dict(scope))
            pairs = sorted(v.items()) if isinstance(v, dict) else list(enumerate(v)) \
                if isinstance(v, list) else None
            if pairs is None:
                raise TemplateError(f"{where}: range over a {type(v).__name__}")
            out = []
            for k, item in pairs:
                s = dict(scope)
                if len(names) == 1:
                    s[names[0]] = item
                elif len(names) == 2:
                    s[names[0]], s[names[1]] = k, item
                out.append(self.nodes(then, item, s))
            return "".join(out)
        raise TemplateError(f"unknown node {kind}")

    def pipe(self, cmds, dot, scope, where):
        val, first = None, True
        for cmd in cmds:
            val = self.command(cmd, dot, scope, where, None if first else (val,))
            first = False
        return val

    def operand(self, op, dot, scope, where):
        kind, v = op
        if kind == "str":
            return json.loads(v)
        if kind == "raw":
            return v[1:-1]
        if kind == "num":
            return float(v) if "." in v else int(v)
        if kind == "pipe":
            return self.pipe(v, dot, scope, where)
        if kind == "field":
            return dot if v == "." else self.fields(dot, v[1:].split("."), where, v)
        if kind == "var":
            name, _, path = v.partition(".")
            if name not in scope:
                raise TemplateError(f"{where}: undefined variable {name}")
            return self.fields(scope[name], path.split("."), where, v) if path else scope[name]
        if kind == "ident":
            if v in ("true", "false"):
                return v == "true"
            if v == "nil":
                return None
            return self.call(v, [], dot, scope, where)
        raise TemplateError(f"{where}: unexpected {v!r}")

    @staticmethod
    def fields(obj, path, where, text):
        for p in path:
            if obj is None:
                raise TemplateError(f"{where}: nil pointer evaluating {text}")
            if not isinstance(obj, dict):
                raise TemplateError(f"{where}: {text}: can't read field {p} of a {type(obj).__name__}")
            obj = obj.get(p)
        return obj

    def command(self, cmd, dot, scope, where, piped):
        head = cmd[0]
        if head[0] == "ident" and head[1] not in ("true", "false", "nil"):
            args = [self.operand(a, dot, scope, where) for a in cmd[1:]]
            if piped:
                args += list(piped)
            return self.call(head[1], args, dot, scope, where)
        if len(cmd) > 1 or piped:
            raise TemplateError(f"{where}: {head[1]!r} is not a function")
        return self.operand(head, dot, scope, where)

    def call(self, fn, a, dot, scope, where):
        def need(n):
            if len(a) != n:
                raise TemplateError(f"{where}: {fn} wants {n} arguments, got {len(a)}")
        if fn == "include":
            need(2)
            return self.run(a[0], a[1])
        if fn == "required":
            need(2)
            if a[1] is None or a[1] == "":
                raise TemplateError(f"{where}: {a[0]}")
            return a[1]
        funcs = {
            "quote": (1, lambda s: go_quote(to_text(s, where))),
            "squote": (1, lambda s: "'" + to_text(s, where) + "'"),
            "default": (2, lambda d, v: v if truthy(v) else d),
            "toYaml": (1, to_yaml),
            "nindent": (2, lambda n, s: "\n" + indent(n, s)),
            "indent": (2, indent),
            "trunc": (2, lambda n, s: s[:int(n)]),
            "trimSuffix": (2, lambda x, s: s[:-len(x)] if x and s.endswith(x) else s),
            "trimPrefix": (2, lambda x, s: s[len(x):] if x and s.startswith(x) else s),
            "contains": (2, lambda x, s: x in s),
            "has": (2, lambda x, lst: x in (lst or [])),
            "b64enc": (1, lambda s: base64.b64encode(to_text(s, where).encode()).decode()),
            "sha256sum": (1, lambda s: hashlib.sha256(to_text(s, where).encode()).hexdigest()),
            "first": (1, lambda lst: lst[0] if lst else None),
            "lower": (1, lambda s: s.lower()),
            "upper": (1, lambda s: s.upper()),
            "toString": (1, lambda s: to_text(s, where)),
            "empty": (1, lambda v: not truthy(v)),
            "not": (1, lambda v: not truthy(v)),
            "eq": (2, lambda x, y: x == y),
            "ne": (2, lambda x, y: x != y),
            "index": (2, lambda m, k: (m or {}).get(k) if isinstance(m, dict) or m is None
                      else m[int(k)]),
        }
        if fn in ("print", "printf", "and", "or"):
            if fn == "print":
                return "".join(to_text(x, where) for x in a)
            if fn == "printf":
                return go_printf(*a)
            if fn == "and":
                return next((x for x in a if not truthy(x)), a[-1])
            return next((x for x in a if truthy(x)), a[-1])
        if fn not in funcs:
            raise TemplateError(f"{where}: function {fn!r} is not supported by helm_render.py")
        n, f = funcs[fn]
        need(n)
        return f(*a)


def merge(base, over):
    """Helm's values merge: maps merge key by key, anything else replaces."""
    if isinstance(base, dict) and isinstance(over, dict):
        out = dict(base)
        for k, v in over.items():
            out[k] = merge(base.get(k), v) if k in base else v
        return out
    return over


# What Go's text/template and Sprig print for these (as `helm template`
# does); --self-test checks the renderer against them.
SELF_TESTS = [
    ("a\n  {{- 1 }}\nb", {}, "a1\nb"),
    ("a {{ 1 -}}  \n  b", {}, "a 1b"),
    ('{{ define "x" }}<{{ . }}>{{ end }}{{ include "x" 3 }}', {}, "<3>"),
    ("{{ if .Values.a }}yes{{ else if .Values.b }}b{{ else }}no{{ end }}", {"b": 1}, "b"),
    ("{{ range $i, $v := .Values.l }}{{ $i }}={{ $v }},{{ end }}", {"l": ["x", "y"]}, "0=x,1=y,"),
    ("{{ range .Values.m }}{{ . }}{{ end }}", {"m": {"b": 2, "a": 1}}, "12"),
    ("{{ with .Values.m }}{{ .a }}{{ else }}none{{ end }}", {"m": {}}, "none"),
    ("{{ .Values.x | default \"d\" | quote }}", {"x": ""}, '"d"'),
    ("k:{{ toYaml .Values.m | nindent 2 }}", {"m": {"b": [1], "a": "s"}}, "k:\n  a: s\n  b:\n  - 1"),
    ("{{ printf \"%s-%d\" \"a\" 3 | trunc 3 }}", {}, "a-3"),
    ("{{ $x := .Values.a }}{{ $x }}{{ $.Values.a }}", {"a": "v"}, "vv"),
    ("{{/* c */}}x{{- /* c */ -}} y", {}, "xy"),
    ("{{ has \"a\" .Values.l }} {{ not .Values.l }} {{ .Values.n }}", {"l": ["a"], "n": 2.0}, "true false 2"),
]


def render_snippet(src, values):
    """Renders one template text as the only file of a throwaway chart."""
    import tempfile
    with tempfile.TemporaryDirectory() as d:
        os.makedirs(os.path.join(d, "templates"))
        with open(os.path.join(d, "Chart.yaml"), "w") as f:
            f.write("name: t\nversion: 1.0.0\n")
        with open(os.path.join(d, "templates", "t.yaml"), "w") as f:
            f.write(src)
        return Renderer(d, values, "r", "ns").render_all()["t.yaml"]


def self_test():
    bad = 0
    for src, values, want in SELF_TESTS:
        got = render_snippet(src, values)
        if got != want:
            print(f"self-test: {src!r} gave {got!r}, expected {want!r}", file=sys.stderr)
            bad += 1
    refused = ("{{ tpl .Values.a . }}", "{{ if 1 }}", "{{ end }}", "{{ .Values.a.b }}")
    for src in refused:
        try:
            render_snippet(src, {})
            print(f"self-test: {src!r} was accepted, expected an error", file=sys.stderr)
            bad += 1
        except TemplateError:
            pass
    total = len(SELF_TESTS) + len(refused)
    print(f"self-test: {total - bad} of {total} ok")
    return 1 if bad else 0


def main(argv):
    if argv == ["--self-test"]:
        return self_test()
    import argparse
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("chart")
    ap.add_argument("outdir")
    ap.add_argument("-f", "--values", action="append", default=[])
    ap.add_argument("--release", default="sy")
    ap.add_argument("--namespace", default="default")
    args = ap.parse_args(argv)
    with open(os.path.join(args.chart, "values.yaml")) as f:
        values = yaml.safe_load(f) or {}
    for path in args.values:
        with open(path) as f:
            values = merge(values, yaml.safe_load(f) or {})
    try:
        out = Renderer(args.chart, values, args.release, args.namespace).render_all()
    except TemplateError as e:
        print(f"helm_render.py: {e}", file=sys.stderr)
        return 1
    os.makedirs(args.outdir, exist_ok=True)
    for fn, text in out.items():
        with open(os.path.join(args.outdir, fn), "w") as f:
            f.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
