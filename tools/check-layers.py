#!/usr/bin/env python3
"""check-layers.py < cargo-metadata.json: fails if a crate of the workspace
depends on one of a layer above its own.

The layers, lowest first (docs/design.md, "Layout"); each may use the ones
before it. The C library (the root package) is the top. Beside the event
loop, on the locks, sit the C exports both products share (capi). The QEMU
products are beside the C library: the switch backend may use util and switch
only; full mode takes everything below the event loop, and the shared
exports, and runs on QEMU's own loop. Cargo already rejects cycles; this
holds the order itself.
"""
import json
import sys

ORDER = ["qemucoro-util", "qemucoro-switch", "qemucoro-coroutine",
         "qemucoro-locks", "qemucoro-aio", "qemucoro"]
ALLOWED = {name: set(ORDER[:i]) for i, name in enumerate(ORDER)}
BELOW_LOOP = set(ORDER[:4])
ALLOWED["qemucoro-capi"] = BELOW_LOOP
ALLOWED["qemucoro"] |= {"qemucoro-capi"}
ALLOWED["qemucoro-qemu-backend"] = {"qemucoro-util", "qemucoro-switch"}
ALLOWED["qemucoro-qemu-full"] = BELOW_LOOP | {"qemucoro-capi"}

meta = json.load(sys.stdin)
bad = []
for pkg in meta["packages"]:
    name = pkg["name"]
    if name not in ALLOWED:
        bad.append(f"{name}: not a known layer (tools/check-layers.py)")
        continue
    for dep in pkg["dependencies"]:
        if dep["kind"] is None and dep["name"].startswith("qemucoro"):
            if dep["name"] not in ALLOWED[name]:
                bad.append(f"{name} depends on {dep['name']}, a layer above or beside it")
for line in bad:
    print(line)
if bad:
    print("layers: a crate depends on a layer above its own (order: "
          + " < ".join(ORDER) + "; capi and qemu-full: below aio;"
          " qemucoro-qemu-backend: util, switch)")
    sys.exit(1)
print("layers: no crate depends on a layer above its own")
