//! Builds the stack tests' C workloads (workloads/stack.c), with debug info: dynamically linked
//! and static with frame pointers, as a program built for debugging its crashes would be, and
//! without them, as most distribution binaries are.

use std::{env, path::PathBuf, process::Command};

fn main() {
    let out = PathBuf::from(env::var_os("OUT_DIR").expect("cargo sets OUT_DIR"));
    let source = "workloads/stack.c";
    println!("cargo::rerun-if-changed={source}");
    for (name, extra) in [
        ("stack-dynamic", &["-fno-omit-frame-pointer"][..]),
        ("stack-static", &["-fno-omit-frame-pointer", "-static"][..]),
        // As most distribution binaries are built.
        ("stack-no-frame-pointers", &["-fomit-frame-pointer"][..]),
    ] {
        let output = out.join(name);
        let status = Command::new(env::var("CC").unwrap_or_else(|_| "cc".into()))
            .args(["-O1", "-g", "-Wall", "-o"])
            .arg(&output)
            .arg(source)
            .args(extra)
            .status()
            .unwrap_or_else(|error| {
                panic!("cannot run the C compiler (apt-get install gcc libc6-dev): {error}")
            });
        assert!(
            status.success(),
            "building {name} from {source} failed (a static build needs libc6-dev's libc.a)"
        );
    }
}
