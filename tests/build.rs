//! Builds the stack tests' C workloads (workloads/stack.c): dynamically linked and static, with
//! frame pointers and debug info, as a program built for debugging its crashes would be.

use std::{env, path::PathBuf, process::Command};

fn main() {
    let out = PathBuf::from(env::var_os("OUT_DIR").expect("cargo sets OUT_DIR"));
    let source = "workloads/stack.c";
    println!("cargo::rerun-if-changed={source}");
    for (name, extra) in [
        ("stack-dynamic", &[][..]),
        ("stack-static", &["-static"][..]),
    ] {
        let output = out.join(name);
        let status = Command::new(env::var("CC").unwrap_or_else(|_| "cc".into()))
            .args(["-O1", "-g", "-fno-omit-frame-pointer", "-Wall", "-o"])
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
