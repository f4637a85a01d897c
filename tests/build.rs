//! Builds the C workloads the container tests run, with debug info:
//! - workloads/stack.c, dynamically linked and static with frame pointers, as a program built
//!   for debugging its crashes would be, and without them, as most distribution binaries are;
//! - workloads/compat.c (x86-64 only), static, which makes i386 calls through `int $0x80`;
//! - workloads/flood.c, static, a container's flood of logged calls for the volume tests.

use std::{env, path::PathBuf, process::Command};

fn main() {
    let out = PathBuf::from(env::var_os("OUT_DIR").expect("cargo sets OUT_DIR"));
    let stack = "workloads/stack.c";
    let compat = "workloads/compat.c";
    let flood = "workloads/flood.c";
    println!("cargo::rerun-if-changed={stack}");
    println!("cargo::rerun-if-changed={compat}");
    println!("cargo::rerun-if-changed={flood}");
    let mut builds = vec![
        ("stack-dynamic", stack, &["-fno-omit-frame-pointer"][..]),
        (
            "stack-static",
            stack,
            &["-fno-omit-frame-pointer", "-static"][..],
        ),
        // As most distribution binaries are built.
        (
            "stack-no-frame-pointers",
            stack,
            &["-fomit-frame-pointer"][..],
        ),
        ("flood", flood, &["-static"][..]),
    ];
    if env::var("CARGO_CFG_TARGET_ARCH").as_deref() == Ok("x86_64") {
        builds.push(("compat", compat, &["-static"][..]));
    }
    for (name, source, extra) in builds {
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
