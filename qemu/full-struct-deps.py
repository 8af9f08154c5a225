#!/usr/bin/env python3
"""Which QEMU code outside the generic coroutine layer uses struct Coroutine.

Full mode (docs/qemu-full-mode.md) replaces util/qemu-coroutine*.c and the
backend; any other QEMU source that touches struct Coroutine's fields ties
full mode to QEMU's layout. This finds them by compiling, not by grep:

  full-struct-deps.py BUILD_DIR [SCRATCH_DIR]

Every C object the built tree has is compiled again (-fsyntax-only, the
tree's own compile command, nothing written into the tree) with a patched
include/qemu/coroutine_int.h put first on the quote-include path, twice:
  renamed     every field of struct Coroutine renamed, so each use is a
              "has no member named FIELD" error naming the field;
  incomplete  struct Coroutine left undefined, so any other use of its
              layout (sizeof, copies, offsetof) is an error too.
Sources that include coroutine_int.h but were not built in this tree (their
configure option is off) are compiled with a built neighbour's command.
Controls: the generic layer's own files must fail (the patched header is in
effect), and every file that fails must compile cleanly without the patch.
The table goes to stdout; SCRATCH_DIR (default build/full-mode/struct-deps)
holds the patched headers and every compiler log.
"""

import concurrent.futures
import json
import os
import re
import shlex
import subprocess
import sys

REPLACED = {"util/qemu-coroutine.c", "util/qemu-coroutine-lock.c",
            "util/qemu-coroutine-sleep.c", "util/qemu-coroutine-io.c",
            "util/coroutine-ucontext.c"}
SUFFIX = "_hidden_for_full_mode"
# Users of coroutine_int.h that a tools-only tree does not build, and the
# config-host.h option each needs (set in a scratch copy for them alone).
# block/io_uring.c also needs liburing's header (Debian: liburing-dev).
OPTIONAL = {"block/linux-aio.c": "CONFIG_LINUX_AIO",
            "block/io_uring.c": "CONFIG_LINUX_IO_URING"}
JOBS = int(os.environ.get("JOBS", os.cpu_count() or 1))

DIAG = re.compile(r"^(?P<file>[^:\s][^:]*):(?P<line>\d+):(?P<col>\d+): "
                  r"(?P<kind>error|note): (?P<msg>.*)$")
NO_MEMBER = re.compile(r"has no member named '(?P<field>\w+)'")
MACRO = re.compile(r"in expansion of macro '(?P<macro>\w+)'")


def die(msg):
    sys.exit(f"full-struct-deps: error: {msg}")


def patch_header(text, mode):
    """coroutine_int.h with struct Coroutine's fields renamed or its body gone."""
    m = re.search(r"^struct Coroutine \{\n(.*?)^\};\n", text, re.S | re.M)
    if not m:
        die("include/qemu/coroutine_int.h has no 'struct Coroutine {' ... '};'")
    if mode == "incomplete":
        return text[:m.start()] + text[m.end():]
    # A member declaration ends "NAME;" (comments and blank lines pass through).
    body = re.sub(r"(\w+)(;)", lambda f: f.group(1) + SUFFIX + f.group(2), m.group(1))
    return text[:m.start(1)] + body + text[m.end(1):]


def syntax_command(command, quote_dirs):
    """The tree's compile command, writing nothing, with quote_dirs first."""
    args = shlex.split(command)
    out = [args[0]]
    for d in quote_dirs:
        out += ["-iquote", d]
    skip = False
    for a in args[1:]:
        if skip:
            skip = False
        elif a in ("-o", "-MQ", "-MF"):
            skip = True
        elif a in ("-MD", "-c") or a.startswith("-fdiagnostics-color"):
            pass
        else:
            out.append(a)
    return out + ["-fsyntax-only", "-fdiagnostics-plain-output", "-fmax-errors=0"]


class Tree:
    def __init__(self, build):
        self.build = os.path.realpath(build)
        with open(os.path.join(self.build, "compile_commands.json")) as f:
            entries = json.load(f)
        self.units = {}
        self.top = None
        for e in entries:
            src = os.path.normpath(os.path.join(e["directory"], e["file"]))
            if src.endswith("/util/qemu-coroutine.c"):
                self.top = src[:-len("util/qemu-coroutine.c")]
            if src.endswith(".c"):
                self.units[src] = e
        if not self.top:
            die(f"{build}: compile_commands.json does not compile util/qemu-coroutine.c")

    def enable_options(self, scratch):
        """A config-host.h with OPTIONAL's options on, for borrowed compiles."""
        self.options_dir = os.path.join(scratch, "options")
        os.makedirs(self.options_dir, exist_ok=True)
        with open(os.path.join(self.build, "config-host.h")) as f:
            text = f.read()
        for opt in OPTIONAL.values():
            text = text.replace(f"#undef {opt}\n", f"#define {opt} 1\n")
        with open(os.path.join(self.options_dir, "config-host.h"), "w") as f:
            f.write(text)

    def rel(self, path):
        path = os.path.normpath(os.path.join(self.build, path))
        if path.startswith(self.top):
            return path[len(self.top):]
        if path.startswith(self.build + "/"):
            return "BUILD/" + path[len(self.build) + 1:]
        return path

    def built(self):
        """Sources whose object this tree has built: the measured set."""
        return sorted(s for s, e in self.units.items()
                      if os.path.exists(os.path.join(e["directory"], e["output"])))

    def borrowed(self):
        """(source, neighbour) for each coroutine_int.h user the tree did not build."""
        users = subprocess.run(
            ["grep", "-rl", "--include=*.c", '#include "qemu/coroutine_int.h"', "."],
            cwd=self.top, capture_output=True, text=True).stdout.split()
        users = [os.path.normpath(u) for u in users]
        built = self.built()
        result = []
        for u in sorted(users):
            src = self.top + u
            if src in built or u in REPLACED or os.path.basename(u).startswith("coroutine-"):
                continue
            same_dir = [b for b in built if os.path.dirname(b) == os.path.dirname(src)]
            result.append((src, same_dir[0] if same_dir else None))
        return result


def compile_one(tree, src, neighbour, quote_dir):
    e = tree.units[neighbour or src]
    dirs = [quote_dir] if quote_dir else []
    if neighbour:
        dirs.append(tree.options_dir)
    cmd = syntax_command(e["command"], dirs)
    if neighbour:
        # The source file precedes the three flags syntax_command adds.
        if os.path.normpath(os.path.join(e["directory"], cmd[-4])) != neighbour:
            die(f"could not find {neighbour} in its compile command")
        cmd[-4] = src
    # The C locale keeps GCC's quotes ASCII for the patterns above.
    p = subprocess.run(cmd, cwd=e["directory"], capture_output=True, text=True,
                       env=dict(os.environ, LC_ALL="C"))
    return p.returncode, p.stderr


def errors(tree, stderr):
    """(location, field or None, macro or None, message) per error.

    A field used through a macro (QSLIST_REMOVE_HEAD(..., co_scheduled_next))
    is reported where the macro is used, not inside queue.h."""
    found = []
    cur = None
    for line in stderr.splitlines():
        d = DIAG.match(line)
        if not d:
            continue
        loc = f"{tree.rel(d['file'])}:{d['line']}"
        if d["kind"] == "error":
            f = NO_MEMBER.search(d["msg"])
            cur = [loc, f["field"] if f else None, None, d["msg"]]
            found.append(cur)
        elif cur:
            m = MACRO.search(d["msg"])
            if m:
                cur[0], cur[2] = loc, m["macro"]
    return [tuple(x) for x in found]


def run(tree, sources, quote_dir, logdir):
    os.makedirs(logdir, exist_ok=True)
    results = {}
    with concurrent.futures.ThreadPoolExecutor(JOBS) as pool:
        futs = {pool.submit(compile_one, tree, s, n, quote_dir): s for s, n in sources}
        for fut, src in futs.items():
            rc, err = fut.result()
            with open(os.path.join(logdir, tree.rel(src).replace("/", "_") + ".log"), "w") as f:
                f.write(err)
            results[src] = (rc, errors(tree, err))
    return results


def main(argv):
    if len(argv) not in (2, 3):
        die("usage: full-struct-deps.py BUILD_DIR [SCRATCH_DIR]")
    tree = Tree(argv[1])
    root = os.path.dirname(os.path.dirname(os.path.realpath(__file__)))
    scratch = os.path.realpath(argv[2] if len(argv) == 3 else
                               os.path.join(root, "build/full-mode/struct-deps"))
    with open(tree.top + "include/qemu/coroutine_int.h") as f:
        header = f.read()
    with open(tree.top + "VERSION") as f:
        version = f.read().strip()

    tree.enable_options(scratch)
    sources = [(s, None) for s in tree.built()]
    borrowed = tree.borrowed()
    sources += [(s, n) for s, n in borrowed if n]
    unknown = {tree.rel(s) for s, _ in borrowed} - set(OPTIONAL)
    if unknown:
        die(f"not built here and not in OPTIONAL: {' '.join(sorted(unknown))}")
    passes = {}
    for mode in ("renamed", "incomplete"):
        inc = os.path.join(scratch, mode, "include")
        os.makedirs(os.path.join(inc, "qemu"), exist_ok=True)
        with open(os.path.join(inc, "qemu/coroutine_int.h"), "w") as f:
            f.write(patch_header(header, mode))
        passes[mode] = run(tree, sources, inc, os.path.join(scratch, mode, "logs"))

    # Controls.
    for r in REPLACED - {"util/qemu-coroutine-io.c"}:
        rc, errs = passes["renamed"].get(tree.top + r, (0, []))
        if rc == 0 or not errs:
            die(f"{r} compiled with the renamed struct: the patched header was not used")
    failing = sorted({s for mode in passes for s, (rc, _) in passes[mode].items()
                      if rc and tree.rel(s) not in REPLACED})
    byname = dict(sources)
    clean = run(tree, [(s, byname[s]) for s in failing], None,
                os.path.join(scratch, "unpatched", "logs"))
    uncompilable = {}
    for s, (rc, errs) in clean.items():
        if rc or errs:
            if not byname[s]:
                die(f"{tree.rel(s)} does not compile even with QEMU's own header: see {scratch}/unpatched/logs")
            # A borrowed file whose library headers are missing here.
            uncompilable[s] = errs[0][3] if errs else "failed"
            for mode in passes:
                passes[mode].pop(s)

    print(f"# struct Coroutine used outside the files full mode replaces: QEMU {version}.")
    print("# Made by qemu/full-struct-deps.py (docs/qemu-full-mode.md); do not edit.")
    print("# field LOCATION FIELD [MACRO]: a field used there (renamed-field build)")
    print("# layout LOCATION MESSAGE: another use of the layout (incomplete-struct build)")
    print("# unbuilt SOURCE REASON: includes coroutine_int.h but could not be compiled here")
    fields = set()
    others = []
    for s, (rc, errs) in passes["renamed"].items():
        if tree.rel(s) in REPLACED:
            continue
        for loc, field, macro, msg in errs:
            if field is None:
                others.append((loc, msg))
            else:
                fields.add(f"field {loc} {field}" + (f" {macro}" if macro else ""))
    field_locs = {f.split()[1] for f in fields}
    # A missing field makes follow-on errors on its line (qatomic_cmpxchg's
    # type checks); any other error means the renaming broke something else.
    for loc, msg in others:
        if loc not in field_locs:
            die(f"{loc}: unexpected error with renamed fields: {msg}")
    layout = set()
    for s, (rc, errs) in passes["incomplete"].items():
        if tree.rel(s) in REPLACED:
            continue
        for loc, _, _, msg in errs:
            if loc not in field_locs:
                layout.add(f"layout {loc} {msg}")
    for line in sorted(fields, key=sort_key) + sorted(layout, key=sort_key):
        print(line)
    for s, n in borrowed:
        if not n:
            print(f"unbuilt {tree.rel(s)} no built neighbour")
        elif s in uncompilable:
            print(f"unbuilt {tree.rel(s)} {uncompilable[s]}")
    n_borrowed = sum(1 for s, n in borrowed if n and s not in uncompilable)
    hit = sorted({tree.rel(s) for s in failing if s not in uncompilable})
    # How many files were compiled depends on what the tree has built, not
    # on QEMU: stderr, so that the table alone is compared.
    print(f"full-struct-deps: compiled {len(sources)} C files ({n_borrowed} with a neighbour's flags: "
          f"{' '.join(tree.rel(s) for s, n in borrowed if n and s not in uncompilable) or 'none'}); "
          f"outside the replaced files, {len(hit)} fail with the struct hidden: {' '.join(hit) or 'none'}",
          file=sys.stderr)
    return 0


def sort_key(line):
    loc = line.split()[1]
    path, _, num = loc.rpartition(":")
    return (path, int(num), line)


if __name__ == "__main__":
    sys.exit(main(sys.argv))
