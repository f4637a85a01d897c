//! The VM's root file system: busybox, the binaries under test with the shared libraries they
//! load, and an `/init` that runs the kernel-hook tests once per probe and reports one result.

use std::{
    fs,
    io::Write as _,
    os::unix::fs::{PermissionsExt as _, symlink},
    path::{Path, PathBuf},
    process::{Command, Stdio},
};

use anyhow::{Context as _, Result, bail, ensure};

use crate::{guest_init, process, vm_test::Probe};

const BUSYBOX: &str = "/bin/busybox";

/// The host binaries the guest runs, installed as /bin/tracer, /bin/seccomp-workload,
/// /bin/kernel_hooks, /bin/docker_containers, /bin/container_runtimes and /bin/audit_boot.
pub struct Binaries<'a> {
    pub tracer: &'a Path,
    pub workload: &'a Path,
    pub test: &'a Path,
    pub docker_test: &'a Path,
    pub runtimes_test: &'a Path,
    pub audit_test: &'a Path,
}

/// The containerd scenario the guest runs from the container_runtimes target: a standalone
/// containerd's containers, in kubelet's namespace with CRI labels and one killed at once, named
/// through the eBPF hook on the guest's cgroup v2 layout. The target's other scenarios stay on
/// the host (see the README's VM-lab section).
pub const GUEST_RUNTIME_TESTS: &[&str] =
    &["names_containerd_containers_in_every_namespace_with_their_pods"];

/// The container tests that run with one probe per kernel rather than with each: what they
/// check does not depend on the hook. Recording a profile counts calls with a raw tracepoint
/// whatever the hook, and each hook's own part of it (--all-denials, --check) has tests of its
/// own; the others are about Docker's lifecycle (down, started late, frozen) and about which
/// processes are shown, which tracer decides after the hook, from the event's namespaces.
const DOCKER_TESTS_ONCE: &[&str] = &[
    "records_a_profile_that_runs_the_workload_and_checks_what_it_lacks",
    "keeps_going_while_dockerd_is_down_and_names_again_when_it_is_back",
    "names_containers_once_dockerd_starts_after_tracer",
    "stops_at_once_and_prints_events_while_dockerd_is_frozen",
    "shows_a_host_process_in_its_own_mount_namespace_only_with_host",
];

/// A real Docker engine for the container tests, installed at the host's paths (dockerd finds
/// containerd, the shim and runc on PATH), and `ctr` for the standalone containerd's test. The
/// optional ones are only there on some versions.
const DOCKER_ENGINE: &[(&str, bool)] = &[
    ("dockerd", true),
    ("docker", true),
    ("containerd", true),
    ("ctr", true),
    ("containerd-shim-runc-v2", true),
    ("runc", true),
    ("docker-init", false),
    ("docker-proxy", false),
];

/// Builds `dir/initrd` (an uncompressed newc cpio archive) from a tree in `dir/root`.
pub fn build(dir: &Path, binaries: &Binaries, probes: &[Probe]) -> Result<PathBuf> {
    let root = base_tree(dir)?;
    let guest = [
        (binaries.tracer, "tracer"),
        (binaries.workload, "seccomp-workload"),
        (binaries.test, "kernel_hooks"),
        (binaries.docker_test, "docker_containers"),
        (binaries.runtimes_test, "container_runtimes"),
        (binaries.audit_test, "audit_boot"),
    ];
    for (host, name) in guest {
        install_binary(host, &root.join("bin").join(name))?;
    }
    let engine = docker_engine()?;
    install_at_host_paths(&root, &engine)?;
    for host in guest.iter().map(|(host, _)| *host) {
        install_libraries(&root, host)?;
    }
    let ebpf: Vec<Probe> = probes
        .iter()
        .copied()
        .filter(|&probe| probe != Probe::Audit)
        .collect();
    write_init(&root, &init_script(&ebpf))?;
    let initrd = dir.join("initrd");
    pack(&root, &initrd)?;
    Ok(initrd)
}

/// What the performance lab's guest runs, installed as /bin/tracer and /bin/perf-lab.
pub struct BenchBinaries<'a> {
    pub tracer: &'a Path,
    pub perf_lab: &'a Path,
}

/// The kernel parameter that makes the bench's init run at CI's smoke scale.
pub const BENCH_SMOKE_PARAMETER: &str = "tracer.bench=smoke";

/// The distribution's audit daemon and its control tool, the lab's baseline consumer, at the
/// host's paths; auditd reads its configuration's defaults from the host's file.
const AUDITD: &[&str] = &["/usr/sbin/auditd", "/usr/sbin/auditctl"];
const AUDITD_CONFIG: &str = "/etc/audit/auditd.conf";

/// Builds `dir/initrd` for the performance lab: no Docker engine (the lab times no
/// containers), auditd instead.
pub fn build_bench(dir: &Path, binaries: &BenchBinaries) -> Result<PathBuf> {
    let root = base_tree(dir)?;
    let guest = [(binaries.tracer, "tracer"), (binaries.perf_lab, "perf-lab")];
    for (host, name) in guest {
        install_binary(host, &root.join("bin").join(name))?;
        install_libraries(&root, host)?;
    }
    let auditd: Vec<PathBuf> = AUDITD.iter().map(PathBuf::from).collect();
    for path in &auditd {
        ensure!(
            path.exists(),
            "{} is not installed: run `cargo xtask setup` (package auditd)",
            path.display()
        );
    }
    install_at_host_paths(&root, &auditd)?;
    install_at_host_path(&root, Path::new(AUDITD_CONFIG))?;
    // auditd looks up the log's group by name, which needs the files the C library reads.
    fs::write(root.join("etc/passwd"), "root:x:0:0:root:/root:/bin/sh\n")
        .context("cannot write /etc/passwd")?;
    fs::write(root.join("etc/group"), "root:x:0:\nadm:x:4:\n")
        .context("cannot write /etc/group")?;
    write_init(&root, &[guest_init::SYSTEM, BENCH_INIT].concat())?;
    let initrd = dir.join("initrd");
    pack(&root, &initrd)?;
    Ok(initrd)
}

/// `dir/root` with the directories every guest mounts on, and busybox.
pub(crate) fn base_tree(dir: &Path) -> Result<PathBuf> {
    let root = empty_tree(dir)?;
    install_busybox(&root, Path::new(BUSYBOX))?;
    Ok(root)
}

/// `dir/root` with the directories every guest mounts on, without busybox.
pub(crate) fn empty_tree(dir: &Path) -> Result<PathBuf> {
    let root = dir.join("root");
    for sub in [
        "bin", "dev", "proc", "sys", "tmp", "run", "etc", "var/lib", "var/run",
    ] {
        let path = root.join(sub);
        fs::create_dir_all(&path).with_context(|| format!("cannot create {}", path.display()))?;
    }
    Ok(root)
}

/// Installs host binaries at their host paths, with their libraries.
fn install_at_host_paths(root: &Path, binaries: &[PathBuf]) -> Result<()> {
    for host in binaries {
        install_binary(host, &root.join(host.strip_prefix("/").unwrap_or(host)))?;
        install_libraries(root, host)?;
    }
    Ok(())
}

fn install_libraries(root: &Path, binary: &Path) -> Result<()> {
    for library in shared_libraries(binary)? {
        install_at_host_path(root, &library)?;
    }
    Ok(())
}

pub(crate) fn write_init(root: &Path, script: &str) -> Result<()> {
    let init = root.join("init");
    fs::write(&init, script).with_context(|| format!("cannot write {}", init.display()))?;
    fs::set_permissions(&init, fs::Permissions::from_mode(0o755))
        .with_context(|| format!("cannot make {} executable", init.display()))
}

/// Where the host has each Docker engine binary.
fn docker_engine() -> Result<Vec<PathBuf>> {
    let mut found = Vec::new();
    for &(name, required) in DOCKER_ENGINE {
        let path = ["/usr/sbin", "/usr/bin", "/sbin", "/bin"]
            .iter()
            .map(|dir| Path::new(dir).join(name))
            .find(|path| path.exists());
        match path {
            Some(path) => found.push(path),
            None if required => bail!("{name} is not installed: run `cargo xtask setup`"),
            None => {}
        }
    }
    Ok(found)
}

/// Installs `busybox` (the host's, or another architecture's build of the same package) with a
/// link per applet; the applets are listed by the host's busybox, which runs here.
pub(crate) fn install_busybox(root: &Path, busybox: &Path) -> Result<()> {
    let bin = root.join("bin");
    fs::copy(busybox, bin.join("busybox")).with_context(|| {
        format!(
            "cannot copy {}: is busybox-static installed?",
            busybox.display()
        )
    })?;
    let applets = process::stdout(Command::new(BUSYBOX).arg("--list"))?;
    for applet in applets
        .lines()
        .map(str::trim)
        .filter(|applet| !applet.is_empty())
    {
        let link = bin.join(applet);
        if !link.exists() {
            symlink("busybox", &link)
                .with_context(|| format!("cannot create {}", link.display()))?;
        }
    }
    Ok(())
}

/// Copies a binary without its debug information, which is most of a debug build's size and
/// would only slow down unpacking the archive in an emulated guest. Panic messages keep their
/// locations, which do not depend on debug information.
fn install_binary(host: &Path, guest: &Path) -> Result<()> {
    install_binary_with(host, guest, "strip")
}

/// [`install_binary`] with the `strip` of the binary's architecture (the cross toolchain's
/// for a cross-built one).
pub(crate) fn install_binary_with(host: &Path, guest: &Path, strip: &str) -> Result<()> {
    if let Some(dir) = guest.parent() {
        fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    }
    let stripped = Command::new(strip)
        .arg("--strip-debug")
        .arg("-o")
        .arg(guest)
        .arg(host)
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|status| status.success());
    if !stripped {
        fs::copy(host, guest)
            .with_context(|| format!("cannot copy {} to {}", host.display(), guest.display()))?;
    }
    Ok(())
}

pub(crate) fn install_at_host_path(root: &Path, host: &Path) -> Result<()> {
    let relative = host
        .strip_prefix("/")
        .with_context(|| format!("{} is not an absolute path", host.display()))?;
    let guest = root.join(relative);
    if guest.exists() {
        return Ok(());
    }
    if let Some(parent) = guest.parent() {
        fs::create_dir_all(parent)
            .with_context(|| format!("cannot create {}", parent.display()))?;
    }
    // fs::copy follows symlinks: the guest gets the library itself at the path the loader asks
    // for, whatever chain of links leads there on the host.
    fs::copy(host, &guest).with_context(|| format!("cannot copy {}", host.display()))?;
    Ok(())
}

/// The libraries and the dynamic loader `ldd` says `binary` loads; none for a static binary.
fn shared_libraries(binary: &Path) -> Result<Vec<PathBuf>> {
    let output = Command::new("ldd")
        .arg(binary)
        .output()
        .context("cannot start ldd")?;
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    if !output.status.success() {
        if stdout.contains("not a dynamic executable")
            || stderr.contains("not a dynamic executable")
        {
            return Ok(Vec::new());
        }
        bail!("ldd {} failed: {}", binary.display(), stderr.trim());
    }
    parse_ldd(&stdout).with_context(|| format!("in ldd's output for {}", binary.display()))
}

fn parse_ldd(output: &str) -> Result<Vec<PathBuf>> {
    let mut libraries = Vec::new();
    for line in output.lines() {
        let path = match line.split_once("=>") {
            Some((name, target)) => {
                let target = target.trim();
                ensure!(
                    !target.starts_with("not found"),
                    "{} is not found",
                    name.trim()
                );
                target.split_whitespace().next()
            }
            None => line.split_whitespace().next(),
        };
        // Entries without a path, such as linux-vdso.so.1, come from the kernel.
        if let Some(path) = path.filter(|path| path.starts_with('/')) {
            libraries.push(PathBuf::from(path));
        }
    }
    Ok(libraries)
}

fn init_script(probes: &[Probe]) -> String {
    let probes: Vec<&str> = probes.iter().map(|probe| probe.name()).collect();
    let runtime_tests: Vec<String> = GUEST_RUNTIME_TESTS
        .iter()
        .map(|test| format!("--exact {test}"))
        .collect();
    let docker_skips: Vec<String> = DOCKER_TESTS_ONCE
        .iter()
        .map(|test| format!("--skip {test}"))
        .collect();
    format!(
        r#"{prologue}
# Runs the kernel-hook and container tests once per probe. The host reads "init: result PROBE
# passed|failed" per probe, the tests' own "test result:" lines, and one final "init:
# success|failure".
# runc cannot pivot_root out of an initramfs; this makes it chroot. vfs needs no overlayfs.
export DOCKER_RAMDISK=true
export TRACER_DOCKERD_ARGS="--storage-driver vfs"
# The same for the standalone containerd's containers: chroot, and no overlayfs.
export TRACER_CTR_RUN_ARGS="--no-pivot" CONTAINERD_SNAPSHOTTER=native

# The container tests that do not depend on the hook (xtask's DOCKER_TESTS_ONCE) run with one
# hook per kernel, kprobe on 6.1 and fentry on later kernels, or the only one booted. So does the
# standalone containerd's scenario: naming its containers does not depend on the hook. The
# others run with both hooks on 6.1 and with that one hook on later kernels: each hook runs
# every container test on one kernel, fentry on both (the kernel-hook tests run every hook on
# every kernel).
case "$(uname -r)" in
    6.1.*) once_probe=kprobe docker_every_probe=yes ;;
    *) once_probe=fentry docker_every_probe=no ;;
esac
case " {probes} " in
    *" $once_probe "*) ;;
    *) once_probe={first} ;;
esac

status=success
for probe in {probes}; do
    echo "init: probe $probe"
    export TRACER_PROBE=$probe
    skip_once=
    [ "$probe" = "$once_probe" ] || skip_once="{docker_skips}"
    # All run even when one fails, so the host counts every test of every probe.
    result=passed
    /bin/kernel_hooks --test-threads=1 || result=failed
    if [ "$probe" = "$once_probe" ] || [ "$docker_every_probe" = yes ]; then
        /bin/docker_containers --test-threads=1 $skip_once || result=failed
    fi
    if [ "$probe" = "$once_probe" ]; then
        /bin/container_runtimes --test-threads=1 {runtime_tests} || result=failed
    fi
    echo "init: result $probe $result"
    [ "$result" = passed ] || status=failure
done
echo "init: $status"
poweroff -f
"#,
        prologue = guest_init::test_prologue(),
        probes = probes.join(" "),
        first = probes.first().copied().unwrap_or_default(),
        runtime_tests = runtime_tests.join(" "),
        docker_skips = docker_skips.join(" "),
    )
}

/// The performance lab's init, after [`guest_init::SYSTEM`]: one run of `perf-lab vm`, whose
/// measurements and (on failure) reason reach the console, and one final `init:
/// success|failure`.
const BENCH_INIT: &str = r#"
# The kernel's own seccomp records are part of the path measured; on the console they would
# cost far more than the path itself, so they stay in the log buffer.
dmesg -n 1
# Every timestamp a program takes reads the clocksource, which the emulator may make costly.
echo "init: clocksource $(cat /sys/devices/system/clocksource/clocksource0/current_clocksource)"
dmesg | grep -i -E 'tsc|clocksource' | head -8
scale=
grep -qw tracer.bench=smoke /proc/cmdline && scale=--smoke
echo "init: probe bench"
if /bin/perf-lab vm --tracer /bin/tracer $scale --scratch /tmp/perf-lab; then
    echo "init: success"
else
    echo "init: failure"
fi
poweroff -f
"#;

/// Packs `root` as a newc cpio archive owned by root, whoever builds it.
pub(crate) fn pack(root: &Path, archive: &Path) -> Result<()> {
    let mut entries = Vec::new();
    walk(root, Path::new("."), &mut entries)?;
    let out = fs::File::create(archive)
        .with_context(|| format!("cannot create {}", archive.display()))?;
    let mut cpio = Command::new("cpio");
    cpio.args([
        "--create",
        "--format=newc",
        "--owner=0:0",
        "--null",
        "--quiet",
    ])
    .current_dir(root)
    .stdin(Stdio::piped())
    .stdout(out);
    let line = process::display(&cpio);
    let mut child = cpio
        .spawn()
        .with_context(|| format!("cannot start `{line}`"))?;
    let mut stdin = child.stdin.take().context("cpio has no stdin")?;
    for entry in &entries {
        stdin.write_all(entry.as_os_str().as_encoded_bytes())?;
        stdin.write_all(b"\0")?;
    }
    drop(stdin);
    let status = child.wait()?;
    ensure!(status.success(), "`{line}` failed: {status}");
    Ok(())
}

/// Lists `dir` recursively, each directory before its contents, as cpio needs them.
fn walk(root: &Path, relative: &Path, entries: &mut Vec<PathBuf>) -> Result<()> {
    entries.push(relative.to_owned());
    let dir = root.join(relative);
    let mut children: Vec<_> = fs::read_dir(&dir)
        .with_context(|| format!("cannot read {}", dir.display()))?
        .collect::<Result<_, _>>()?;
    children.sort_by_key(|entry| entry.file_name());
    for child in children {
        let path = relative.join(child.file_name());
        if child.file_type()?.is_dir() {
            walk(root, &path, entries)?;
        } else {
            entries.push(path);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ldd_output_gives_libraries_and_loader() {
        let output = "\tlinux-vdso.so.1 (0x00007ffd8b9f2000)\n\
            \tlibgcc_s.so.1 => /lib/x86_64-linux-gnu/libgcc_s.so.1 (0x00007f0c1c000000)\n\
            \tlibc.so.6 => /lib/x86_64-linux-gnu/libc.so.6 (0x00007f0c1be00000)\n\
            \t/lib64/ld-linux-x86-64.so.2 (0x00007f0c1c100000)\n";
        assert_eq!(
            parse_ldd(output).unwrap(),
            [
                "/lib/x86_64-linux-gnu/libgcc_s.so.1",
                "/lib/x86_64-linux-gnu/libc.so.6",
                "/lib64/ld-linux-x86-64.so.2",
            ]
            .map(PathBuf::from)
        );
    }

    #[test]
    fn missing_library_is_an_error() {
        assert!(parse_ldd("\tlibfoo.so.1 => not found\n").is_err());
    }

    /// A renamed test would no longer be skipped, and would run with every probe again.
    #[test]
    fn the_tests_run_once_per_kernel_are_container_tests() {
        let tests = include_str!("../../tests/tests/docker_containers.rs");
        for name in DOCKER_TESTS_ONCE {
            assert!(
                tests.contains(&format!("#[test]\nfn {name}() {{")),
                "{name} is not a test of tests/tests/docker_containers.rs"
            );
        }
    }

    /// The x86-64 test init and the bench init, as the guest renders them.
    #[test]
    fn init_is_a_shell_script_that_parses() {
        for script in [
            init_script(&[Probe::Fentry, Probe::Kprobe]),
            [guest_init::SYSTEM, BENCH_INIT].concat(),
        ] {
            guest_init::assert_parses(&script);
        }
    }

    #[test]
    fn init_runs_each_probe_and_ends_with_one_result() {
        let script = init_script(&[Probe::Fentry, Probe::Kprobe]);
        assert!(script.starts_with(&guest_init::test_prologue()), "{script}");
        assert!(script.contains("for probe in fentry kprobe; do"));
        // A failing first executable must not keep the second one's tests from running.
        for run in [
            "/bin/kernel_hooks --test-threads=1",
            "/bin/docker_containers --test-threads=1 $skip_once",
        ] {
            assert!(
                script.contains(&format!("{run} || result=failed\n")),
                "{script}"
            );
        }
        // The profile scenario runs with one probe per kernel; with only fentry and kprobe booted,
        // fentry is the fallback. After 6.1, every container test runs with that one hook only.
        assert!(
            script.contains("*) once_probe=fentry docker_every_probe=no ;;"),
            "{script}"
        );
        assert!(
            script.contains(
                "    if [ \"$probe\" = \"$once_probe\" ] || [ \"$docker_every_probe\" = yes ]; \
                 then\n        /bin/docker_containers"
            ),
            "{script}"
        );
        // So does the standalone containerd's scenario, alone of its target.
        assert!(
            script.contains(
                "    if [ \"$probe\" = \"$once_probe\" ]; then\n        \
                 /bin/container_runtimes --test-threads=1 --exact \
                 names_containerd_containers_in_every_namespace_with_their_pods || result=failed\n"
            ),
            "{script}"
        );
        assert!(
            script.contains(
                "[ \"$probe\" = \"$once_probe\" ] || skip_once=\"--skip \
                 records_a_profile_that_runs_the_workload_and_checks_what_it_lacks --skip \
                 keeps_going_while_dockerd_is_down"
            ),
            "{script}"
        );
        assert!(script.contains("echo \"init: $status\"\npoweroff -f\n"));
    }
}
