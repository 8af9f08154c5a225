#!/usr/bin/env python3
"""Adds the qemucoro backend choice to a QEMU source tree (7.2 .. 10.x).

Idempotent. Makes these edits, all opt-in at configure time (and one more,
a fix, below):
  * meson_options.txt gains  option('qemucoro_lib', type: 'string', ...)
    and option('qemucoro_mode', type: 'combo', choices: switch, full)
  * util/meson.build: when qemucoro_lib is set, build util/coroutine-qemucoro.c
    (layout checks only) instead of util/coroutine-<backend>.c, and link the
    archive named by the option into everything that links libqemuutil.a;
    in full mode, build util/coroutine-qemucoro-full.c (layout checks and
    the timer glue) instead, and not util/qemu-coroutine*.c either: the
    archive then holds the whole coroutine API
  * util/coroutine-qemucoro.c, coroutine-qemucoro-full.c and the layout
    table both include, coroutine-qemucoro-layout.h, are copied from this
    repository
With the option left empty the tree builds exactly as before.
The fix: Debian's +ds tarball ships no edk2 firmware, yet QEMU's top-level
meson.build unpacks it for x86_64-softmmu even with --disable-install-blobs;
the unpack is made to also require that the firmware is there.
Usage: apply-backend.py QEMU_SOURCE_DIR
"""
import pathlib
import re
import shutil
import sys

MARK = "qemucoro"
OPTION = (
    "\n# Added by qemucoro's apply-backend.py\n"
    "option('qemucoro_lib', type: 'string', value: '',\n"
    "       description: 'path to libqemucoro-backend.a, which then replaces "
    "the coroutine backend')\n"
)
# The original backend line differs between QEMU versions; keep it verbatim
# as the else branch.
BACKEND_LINE = re.compile(r"^(\s*)util_ss\.add\(files\(.*coroutine-@.*\)\)\s*$", re.M)
BLOCK = """{i}if get_option('qemucoro_lib') != ''
{i}  # qemucoro: Rust backend archive instead of coroutine-<backend>.c
{i}  util_ss.add(files('coroutine-qemucoro.c'))
{i}  util_ss.add(declare_dependency(link_args: [get_option('qemucoro_lib')]))
{i}else
{i}  {orig}
{i}endif"""
MODE_OPTION = (
    "\n# Added by qemucoro's apply-backend.py\n"
    "option('qemucoro_mode', type: 'combo', choices: ['switch', 'full'],\n"
    "       value: 'switch', description: 'with qemucoro_lib: replace the "
    "switch only, or the whole coroutine API (util/qemu-coroutine*.c)')\n"
)
# QEMU's generic coroutine files: left out in full mode.
GENERIC_LINE = re.compile(
    r"^(\s*)(util_ss\.add\(files\('qemu-coroutine[^)]*\)\))\s*$", re.M)
GENERIC_BLOCK = """{i}if get_option('qemucoro_lib') == '' or get_option('qemucoro_mode') != 'full'  # qemucoro
{i}  {orig}
{i}endif"""
GLUE_LINE = "util_ss.add(files('coroutine-qemucoro.c'))"
GLUE_BY_MODE = ("util_ss.add(files(get_option('qemucoro_mode') == 'full' ? "
                "'coroutine-qemucoro-full.c' : 'coroutine-qemucoro.c'))")


def append_once(path: pathlib.Path, mark: str, addition: str) -> None:
    """Appends `addition` to the file unless `mark` is already in it."""
    text = path.read_text()
    if mark not in text:
        path.write_text(text + addition)


def add_full_mode(src: pathlib.Path) -> None:
    append_once(src / "meson_options.txt", "qemucoro_mode", MODE_OPTION)
    util = src / "util" / "meson.build"
    text = util.read_text()
    if "qemucoro_mode" in text:
        return
    text = GENERIC_LINE.sub(
        lambda m: GENERIC_BLOCK.format(i=m.group(1), orig=m.group(2)), text)
    util.write_text(text.replace(GLUE_LINE, GLUE_BY_MODE))


# The top-level meson.build's edk2 unpack condition (10.x; 7.2 has none).
EDK2_LINE = "    unpack_edk2_blobs = bzip2.found()\n"
EDK2_FIXED = ("    unpack_edk2_blobs = bzip2.found() and "
              "fs.exists('pc-bios/edk2-aarch64-code.fd.bz2')  # qemucoro\n")


def fix_edk2_unpack(src: pathlib.Path) -> None:
    top = src / "meson.build"
    text = top.read_text()
    if EDK2_LINE in text:
        top.write_text(text.replace(EDK2_LINE, EDK2_FIXED))


def main(src: pathlib.Path) -> None:
    here = pathlib.Path(__file__).resolve().parent
    for name in ("coroutine-qemucoro.c", "coroutine-qemucoro-full.c",
                 "coroutine-qemucoro-layout.h"):
        shim = here / name
        dest = src / "util" / name
        # Copy only on change, so an unchanged tree does not rebuild.
        if not dest.exists() or dest.read_bytes() != shim.read_bytes():
            shutil.copyfile(shim, dest)

    append_once(src / "meson_options.txt", "qemucoro_lib", OPTION)

    util = src / "util" / "meson.build"
    text = util.read_text()
    if MARK not in text:
        m = BACKEND_LINE.search(text)
        if not m:
            sys.exit(f"apply-backend: no coroutine backend line in {util}; "
                     "QEMU's build changed, see docs/qemu-backend.md")
        block = BLOCK.format(i=m.group(1), orig=m.group(0).strip())
        util.write_text(text[: m.start()] + block + text[m.end():])
    add_full_mode(src)
    fix_edk2_unpack(src)
    print(f"apply-backend: {src} has the qemucoro backend choice")


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    main(pathlib.Path(sys.argv[1]))
