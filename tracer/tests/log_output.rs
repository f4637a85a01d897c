//! What tracer writes to stderr when it is not a terminal: files and journald get plain text.

use std::process::{Command, Stdio};

#[test]
#[ignore = "needs root and BPF: cargo xtask test runs it as root"]
fn no_colour_codes_when_stderr_is_not_a_terminal() {
    let output = Command::new(env!("CARGO_BIN_EXE_tracer"))
        .args(["audit", "seccomp", "--probe", "audit", "--timeout", "0.5"])
        .args(["-r", "docker", "--docker-socket", "/nonexistent"])
        .env_remove("NO_COLOR")
        .env_remove("RUST_LOG")
        .stdin(Stdio::null())
        .output()
        .expect("running tracer");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "tracer failed:\n{stderr}");
    assert!(
        stderr.contains("attached audit on kernel-audit-records"),
        "no attach line:\n{stderr}"
    );
    assert!(
        !stderr.contains('\x1b'),
        "colour codes reached a pipe:\n{stderr:?}"
    );
}
