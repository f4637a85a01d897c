//! The arm64 VM lab's root file system: arm64 busybox (Debian's busybox-static:arm64), the
//! cross-built tracer, workload and kernel-hook tests with the cross toolchain's C library, and
//! an `/init` that runs the tests once per probe the kernel allows. No Docker engine: the host's
//! is an x86-64 one, so the container tests stay on the x86-64 lab.

use std::{
    fs,
    path::{Path, PathBuf},
    process::Command,
};

use anyhow::{Context as _, Result, bail};

use crate::{guest_init, initramfs, kernels, process, target::Arch};

const ARCH: Arch = Arch::Aarch64;
/// Where the distribution's cross toolchain keeps the arm64 C library.
const CROSS_LIBS: &str = "/usr/aarch64-linux-gnu/lib";
/// The kernel parameter listing the probes a boot tests (`tracer.probes=kprobe,fentry`): the
/// kernels differ in what they allow, and one initramfs serves them all.
pub const PROBES_PARAMETER: &str = "tracer.probes";
/// The kernel parameter of a boot whose kernel refuses fentry (arm64 6.1): there fentry's
/// result says whether tracer explains the refusal and `--probe auto` falls back to kprobe.
pub const FENTRY_REFUSED_PARAMETER: &str = "tracer.fentry=refused";

/// The cross-built binaries the guest runs, installed as /bin/tracer, /bin/seccomp-workload,
/// /bin/kernel_hooks and /bin/audit_boot.
pub struct Binaries<'a> {
    pub tracer: &'a Path,
    pub workload: &'a Path,
    pub test: &'a Path,
    pub audit_test: &'a Path,
}

/// Builds `dir/initrd` for arm64 guests.
pub fn build(dir: &Path, binaries: &Binaries) -> Result<PathBuf> {
    let root = initramfs::empty_tree(dir)?;
    initramfs::install_busybox(&root, &busybox()?)?;
    let strip = format!("{}-strip", ARCH.gnu_triple());
    for (host, name) in [
        (binaries.tracer, "tracer"),
        (binaries.workload, "seccomp-workload"),
        (binaries.test, "kernel_hooks"),
        (binaries.audit_test, "audit_boot"),
    ] {
        initramfs::install_binary_with(host, &root.join("bin").join(name), &strip)?;
        install_libraries(&root, host)?;
    }
    initramfs::write_init(&root, &init_script())?;
    let initrd = dir.join("initrd");
    initramfs::pack(&root, &initrd)?;
    Ok(initrd)
}

/// Debian's static arm64 busybox, downloaded once (`apt-get download busybox-static:arm64`)
/// and cached beside the kernels.
fn busybox() -> Result<PathBuf> {
    let cache = kernels::cache_dir()?
        .parent()
        .context("the kernel cache has no parent directory")?
        .join(ARCH.debian());
    let busybox = cache.join("busybox");
    if busybox.exists() {
        return Ok(busybox);
    }
    let work = cache.join("busybox.partial");
    if work.exists() {
        fs::remove_dir_all(&work).with_context(|| format!("cannot empty {}", work.display()))?;
    }
    fs::create_dir_all(&work).with_context(|| format!("cannot create {}", work.display()))?;
    let mut get = Command::new("apt-get");
    if process::is_root() {
        // apt drops to the _apt user to download, which cannot write into root's home.
        get.args(["-o", "APT::Sandbox::User=root"]);
    }
    let package = format!("busybox-static:{}", ARCH.debian());
    process::run(get.args(["download", &package]).current_dir(&work)).with_context(|| {
        format!("cannot download {package} (`cargo xtask setup` adds the arm64 architecture)")
    })?;
    let deb = fs::read_dir(&work)?
        .filter_map(|entry| entry.ok().map(|entry| entry.path()))
        .find(|path| path.extension().is_some_and(|ext| ext == "deb"))
        .with_context(|| format!("apt-get downloaded no .deb into {}", work.display()))?;
    let unpacked = work.join("unpacked");
    process::run(Command::new("dpkg").arg("-x").arg(&deb).arg(&unpacked))?;
    fs::rename(unpacked.join("bin/busybox"), &busybox)
        .with_context(|| format!("{package} holds no bin/busybox"))?;
    fs::remove_dir_all(&work).with_context(|| format!("cannot clean up {}", work.display()))?;
    Ok(busybox)
}

/// The program interpreter and the libraries a cross-built binary loads, from the cross
/// toolchain's C library (`ldd` cannot run another architecture's loader).
fn install_libraries(root: &Path, binary: &Path) -> Result<()> {
    let readelf = format!("{}-readelf", ARCH.gnu_triple());
    let output = process::stdout(
        Command::new(&readelf)
            .args(["--program-headers", "--dynamic", "--wide"])
            .arg(binary),
    )?;
    let (interpreter, needed) = parse_readelf(&output);
    let libraries = Path::new("/lib").join(ARCH.gnu_triple());
    let mut wanted: Vec<(String, PathBuf)> = needed
        .into_iter()
        .map(|name| (name.clone(), libraries.join(name)))
        .collect();
    if let Some(interpreter) = interpreter {
        let path = PathBuf::from(&interpreter);
        let name = path
            .file_name()
            .and_then(|name| name.to_str())
            .with_context(|| format!("odd program interpreter {interpreter:?}"))?
            .to_owned();
        wanted.push((name, path));
    }
    for (name, guest) in wanted {
        let host = Path::new(CROSS_LIBS).join(&name);
        if !host.exists() {
            bail!(
                "{} needs {name}, which is not in {CROSS_LIBS}: run `cargo xtask setup` \
                 (libc6-dev-arm64-cross)",
                binary.display()
            );
        }
        let at = root.join(guest.strip_prefix("/").unwrap_or(&guest));
        if at.exists() {
            continue;
        }
        if let Some(dir) = at.parent() {
            fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
        }
        fs::copy(&host, &at).with_context(|| format!("cannot copy {}", host.display()))?;
    }
    Ok(())
}

/// The interpreter and the `NEEDED` libraries in `readelf --program-headers --dynamic`'s
/// output; neither for a static binary.
fn parse_readelf(output: &str) -> (Option<String>, Vec<String>) {
    let bracketed = |line: &str, marker: &str| {
        let (_, rest) = line.split_once(marker)?;
        Some(rest.split(']').next()?.trim().to_owned())
    };
    let interpreter = output
        .lines()
        .find_map(|line| bracketed(line, "Requesting program interpreter:"));
    let needed = output
        .lines()
        .filter(|line| line.contains("(NEEDED)"))
        .filter_map(|line| bracketed(line, "Shared library: ["))
        .collect();
    (interpreter, needed)
}

/// After the test guests' shared start ([`guest_init::test_prologue`], which runs the audit
/// source's boot): runs the kernel-hook tests once per probe of `tracer.probes`; on a kernel
/// that refuses fentry, first checks that tracer says why and falls back. The host reads
/// `init: result PROBE passed|failed` and one final `init: success|failure`.
const INIT: &str = r#"status=success
if grep -qw tracer.fentry=refused /proc/cmdline; then
    # fentry's result on this kernel: tracer must refuse it with the reason in words, and auto
    # must say so and use kprobe.
    echo "init: probe fentry"
    result=passed
    /bin/tracer audit seccomp --probe fentry --host --timeout 1 >/tmp/fentry.out 2>&1
    grep -q "no BPF trampolines" /tmp/fentry.out || result=failed
    /bin/tracer audit seccomp --probe auto --host --timeout 1 >/tmp/auto.out 2>&1
    grep -q "skipped fentry: this kernel has no BPF trampolines" /tmp/auto.out || result=failed
    grep -q "attached kprobe" /tmp/auto.out || result=failed
    cat /tmp/fentry.out /tmp/auto.out
    echo "init: result fentry $result"
    [ "$result" = passed ] || status=failure
fi

# The 4 KiB ring-buffer test is skipped here: under arm64 emulation the test reads tracer's
# stdout slower than tracer writes it, so the stdout sink counts hundreds of events unwritten
# and the test's count (delivered + lost = calls) cannot hold. It runs in the x86-64 lab.
probes=$(tr ' ' '\n' </proc/cmdline | sed -n 's/^tracer.probes=//p' | tr ',' ' ')
for probe in $probes; do
    echo "init: probe $probe"
    export TRACER_PROBE=$probe
    result=passed
    /bin/kernel_hooks --test-threads=1 --skip tiny_ring_buffer_counts_every_lost_event || result=failed
    echo "init: result $probe $result"
    [ "$result" = passed ] || status=failure
done
echo "init: $status"
poweroff -f
"#;

/// The test guests' shared start, then [`INIT`].
fn init_script() -> String {
    guest_init::test_prologue() + INIT
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_interpreter_and_the_needed_libraries() {
        let output = "\
Program Headers:
  INTERP         0x000238 0x0000000000000238 0x0000000000000238 0x00001b 0x00001b R   0x1
      [Requesting program interpreter: /lib/ld-linux-aarch64.so.1]
Dynamic section at offset 0x1f0d0 contains 30 entries:
 0x0000000000000001 (NEEDED)             Shared library: [libgcc_s.so.1]
 0x0000000000000001 (NEEDED)             Shared library: [libc.so.6]
 0x000000000000000c (INIT)               0x1000
";
        assert_eq!(
            parse_readelf(output),
            (
                Some("/lib/ld-linux-aarch64.so.1".to_owned()),
                vec!["libgcc_s.so.1".to_owned(), "libc.so.6".to_owned()]
            )
        );
        assert_eq!(parse_readelf("There is no dynamic section"), (None, vec![]));
    }

    #[test]
    fn init_reads_its_probes_from_the_kernel_command_line() {
        assert!(INIT.contains(&format!("s/^{PROBES_PARAMETER}=//p")));
        assert!(INIT.contains(&format!(
            "grep -qw {FENTRY_REFUSED_PARAMETER} /proc/cmdline"
        )));
        assert!(INIT.contains(
            "/bin/kernel_hooks --test-threads=1 --skip tiny_ring_buffer_counts_every_lost_event \
             || result=failed\n"
        ));
        assert!(INIT.ends_with("echo \"init: $status\"\npoweroff -f\n"));
        assert!(init_script().starts_with(&guest_init::test_prologue()));
        guest_init::assert_parses(&init_script());
    }
}
