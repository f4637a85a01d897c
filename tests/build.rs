//! Builds the C workloads the container tests run, with debug info:
//! - workloads/stack.c, dynamically linked and static with frame pointers, as a program built
//!   for debugging its crashes would be, and without them, as most distribution binaries are;
//! - workloads/compat.c (x86-64 only), static, which makes i386 calls through `int $0x80`;
//! - workloads/flood.c, static, a container's flood of logged calls for the volume tests;
//! - workloads/compat_arm.c (arm64 only), a static arm32 program with the arm32 cross compiler,
//!   which makes arm32 (compat) calls.
//!
//! The C compiler is the target's: `CC_<target>` (as the cc crate names it, which xtask sets
//! for cross builds), else `CC`, else `cc`.

use std::{env, path::PathBuf, process::Command};

/// The arm32 cross compiler (Debian's gcc-arm-linux-gnueabihf, with its static libc).
const ARM32_CC: &str = "arm-linux-gnueabihf-gcc";

fn main() {
    let out = PathBuf::from(env::var_os("OUT_DIR").expect("cargo sets OUT_DIR"));
    let stack = "workloads/stack.c";
    let compat = "workloads/compat.c";
    let flood = "workloads/flood.c";
    let compat_arm = "workloads/compat_arm.c";
    println!("cargo::rerun-if-changed={stack}");
    println!("cargo::rerun-if-changed={compat}");
    println!("cargo::rerun-if-changed={flood}");
    println!("cargo::rerun-if-changed={compat_arm}");
    let target = env::var("TARGET").expect("cargo sets TARGET");
    let target_cc = format!("CC_{}", target.replace('-', "_"));
    println!("cargo::rerun-if-env-changed={target_cc}");
    println!("cargo::rerun-if-env-changed=CC");
    let cc = env::var(&target_cc)
        .or_else(|_| env::var("CC"))
        .unwrap_or_else(|_| "cc".into());
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
    let mut compilers = vec![cc.as_str(); builds.len()];
    match env::var("CARGO_CFG_TARGET_ARCH").as_deref() {
        Ok("x86_64") => {
            builds.push(("compat", compat, &["-static"][..]));
            compilers.push(&cc);
        }
        Ok("aarch64") => {
            builds.push(("compat_arm", compat_arm, &["-static"][..]));
            compilers.push(ARM32_CC);
        }
        _ => {}
    }
    for ((name, source, extra), compiler) in builds.into_iter().zip(compilers) {
        let output = out.join(name);
        let status = Command::new(compiler)
            .args(["-O1", "-g", "-Wall", "-o"])
            .arg(&output)
            .arg(source)
            .args(extra)
            .status()
            .unwrap_or_else(|error| {
                panic!(
                    "cannot run the C compiler {compiler} (`cargo xtask setup` installs gcc, \
                     libc6-dev and the cross compilers): {error}"
                )
            });
        assert!(
            status.success(),
            "building {name} from {source} failed (a static build needs libc6-dev's libc.a)"
        );
    }
}
