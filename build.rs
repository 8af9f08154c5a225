//! Writes include/coroutine.h from the Rust source (cbindgen) and gives the
//! shared library its soname.

use std::path::Path;

fn main() {
    let dir = std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR");
    let config = cbindgen::Config::from_file(Path::new(&dir).join("cbindgen.toml"))
        .expect("cbindgen.toml is readable and valid");
    cbindgen::Builder::new()
        .with_crate(&dir)
        .with_config(config)
        .generate()
        .expect("the C API can be expressed in C")
        .write_to_file(Path::new(&dir).join("include/coroutine.h"));
    println!("cargo:rustc-cdylib-link-arg=-Wl,-soname,libqemucoro.so.0");
    println!("cargo:rerun-if-changed=src");
    println!("cargo:rerun-if-changed=cbindgen.toml");
}
