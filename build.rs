//! Generates the C header from the Rust source (cbindgen) into the build
//! directory, and gives the shared library its soname.
//!
//! The header goes to `$OUT_DIR/coroutine.h` and, for the Makefile, to
//! `<target dir>/<profile>/include/coroutine.h`; a plain `cargo build`
//! never writes into the source tree. `make` copies it over the checked-in
//! `include/coroutine.h` when they differ, and `make check-header` fails on
//! a difference that is not committed.

use std::path::{Path, PathBuf};

fn main() {
    let dir = std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR");
    let out = PathBuf::from(std::env::var("OUT_DIR").expect("cargo sets OUT_DIR"));
    let config = cbindgen::Config::from_file(Path::new(&dir).join("cbindgen.toml"))
        .expect("cbindgen.toml is readable and valid");
    let header = cbindgen::Builder::new()
        .with_crate(&dir)
        .with_config(config)
        .generate()
        .expect("the C API can be expressed in C");
    header.write_to_file(out.join("coroutine.h"));
    // OUT_DIR is <target dir>/<profile>/build/<package>-<hash>/out.
    if let Some(profile_dir) = out.ancestors().nth(3) {
        header.write_to_file(profile_dir.join("include/coroutine.h"));
    }
    let major = std::env::var("CARGO_PKG_VERSION_MAJOR").expect("cargo sets the version");
    println!("cargo:rustc-cdylib-link-arg=-Wl,-soname,libqemucoro.so.{major}");
    println!("cargo:rerun-if-changed=src");
    println!("cargo:rerun-if-changed=crates");
    println!("cargo:rerun-if-changed=cbindgen.toml");
}
