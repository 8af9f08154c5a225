#!/usr/bin/env python3
"""The symbol contract of full mode (docs/qemu-full-mode.md), read with nm.

Full mode drops QEMU's generic coroutine layer (util/qemu-coroutine.c,
-lock.c, -sleep.c, -io.c) along with the backend (util/coroutine-ucontext.c),
so the archive must define every global symbol those objects define, and
may call what they call in the rest of QEMU.

  full-symbols.py list BUILD_DIR
      The contract of one built QEMU tree (ucontext backend), on stdout:
        def FILE TYPE SYMBOL   a global the generic layer defines
        backend FILE TYPE SYMBOL   a global the backend defines
        ref FILE SYMBOL DEFINERS   a QEMU symbol FILE uses, and the sources
                                   (comma-separated; BUILD/ = generated)
                                   that define it, tests/ left out
      References to the C library or GLib (defined nowhere in the tree) and
      between the files full mode replaces are left out.
  full-symbols.py missing ARCHIVE CONTRACT...
      Every def/backend symbol of the contract files that ARCHIVE does not
      define as a global; exits 1 if there is any.
"""

import json
import os
import subprocess
import sys

GENERIC = ["util/qemu-coroutine.c", "util/qemu-coroutine-lock.c",
           "util/qemu-coroutine-sleep.c", "util/qemu-coroutine-io.c"]
BACKEND = "util/coroutine-ucontext.c"
# nm's letters for a global definition (text, data, bss, read-only, weak,
# unique); lower case would be local.
DEFINED = set("TDBRGSVWiu")


def die(msg):
    sys.exit(f"full-symbols: error: {msg}")


def nm(*paths):
    """(file, type, name) for every symbol nm lists in the files given."""
    for i in range(0, len(paths), 200):
        out = subprocess.run(["nm", "-A", *paths[i:i + 200]], check=True,
                             capture_output=True, text=True).stdout
        for line in out.splitlines():
            # "object:value type name"; object paths hold no colon.
            where, _, rest = line.partition(":")
            fields = rest.split()
            if len(fields) >= 2:
                yield where, fields[-2], fields[-1]


def objects(build):
    """Source file (relative to QEMU's top) -> object path, built ones only."""
    with open(os.path.join(build, "compile_commands.json")) as f:
        entries = json.load(f)
    top = None
    result = {}
    build = os.path.realpath(build)
    for e in entries:
        src = os.path.normpath(os.path.join(e["directory"], e["file"]))
        # Generated sources are named from the build tree's top.
        if src.startswith(build + "/"):
            src = "BUILD/" + src[len(build) + 1:]
        obj = os.path.join(e["directory"], e["output"])
        if src.endswith("/util/qemu-coroutine.c"):
            top = src[:-len("util/qemu-coroutine.c")]
        if os.path.exists(obj):
            result[src] = obj
    if top is None:
        die(f"{build}: compile_commands.json does not compile util/qemu-coroutine.c")
    return {src[len(top):] if src.startswith(top) else src: obj
            for src, obj in result.items()}


def list_contract(build):
    objs = objects(build)
    ours = GENERIC + [BACKEND]
    for f in ours:
        if f not in objs:
            die(f"{build}: {f} is not built (a ucontext tree with libqemuutil built is needed)")
    # Who defines what, over every object built in the tree.
    definer = {}
    # Tests define stand-ins of their own (tests/unit/iothread.c); they
    # are not QEMU's.
    src_of = {obj: src for src, obj in objs.items()
              if src not in ours and not src.startswith("tests/")}
    for obj, t, name in nm(*sorted(src_of)):
        if t in DEFINED:
            definer.setdefault(name, set()).add(src_of[obj])
    lines = []
    replaced = set()
    for f in ours:
        kind = "backend" if f == BACKEND else "def"
        for _, t, name in nm(objs[f]):
            if t in DEFINED:
                lines.append(f"{kind} {f} {t} {name}")
                replaced.add(name)
    for f in GENERIC:
        refs = {name for _, t, name in nm(objs[f]) if t == "U"}
        for name in sorted(refs - replaced):
            if name in definer:
                lines.append(f"ref {f} {name} {','.join(sorted(definer[name]))}")
    print("# Full mode's symbol contract, made by qemu/full-symbols.py list; do not edit.")
    print("# def/backend FILE TYPE SYMBOL: defined there; ref FILE SYMBOL DEFINER: used there, defined elsewhere in QEMU")
    for line in lines:
        print(line)


def missing(archive, contracts):
    have = {name for _, t, name in nm(archive) if t in DEFINED}
    wanted = []
    for path in contracts:
        with open(path) as f:
            for line in f:
                fields = line.split()
                if fields and fields[0] in ("def", "backend"):
                    wanted.append((fields[1], fields[3]))
    wanted = sorted(set(wanted))
    gone = [(f, s) for f, s in wanted if s not in have]
    for f, s in gone:
        print(f"missing {f} {s}")
    names = {s for _, s in wanted}
    print(f"{archive}: defines {len(names) - len({s for _, s in gone})} of the "
          f"{len(names)} contract symbols; {len({s for _, s in gone})} missing")
    return 1 if gone else 0


def main(argv):
    if len(argv) == 3 and argv[1] == "list":
        list_contract(argv[2])
        return 0
    if len(argv) >= 4 and argv[1] == "missing":
        return missing(argv[2], argv[3:])
    die("usage: full-symbols.py list BUILD_DIR | missing ARCHIVE CONTRACT...")


if __name__ == "__main__":
    sys.exit(main(sys.argv))
