//! `package`: the Debian package and the container image's build context, from a release tracer.
//!
//! The .deb is put together with `dpkg-deb --build`, not cargo-deb: every Debian machine has
//! dpkg-deb, while cargo-deb would be compiled on each clean CI machine first (measured in the
//! README's Debian package section), and the package is a handful of files that need no more
//! than a staging tree. The man pages and completions come from the binary being packed
//! (`tracer generate-docs`), since xtask cannot link tracer: tracer's build script needs
//! bpf-linker, which `setup` installs after xtask is built.

use std::{
    fs,
    os::unix::fs::PermissionsExt as _,
    path::{Path, PathBuf},
    process::Command,
};

use anyhow::{Context as _, Result, anyhow, bail};

use crate::{cargo, process};

const PACKAGE: &str = "tracer";
/// Who the package names as its maintainer unless `DEBFULLNAME` and `DEBEMAIL` say (Debian's
/// own variables for this).
const MAINTAINER: &str = "tracer maintainers <tracer@localhost>";

/// What [`build`] wrote.
pub struct Packaged {
    pub deb: PathBuf,
    /// The directory to `docker build`: packaging/Dockerfile, the binary and its libraries.
    pub image_context: PathBuf,
}

/// Packs `tracer` (a release build) into `target/package/`.
pub fn build(tracer: &Path) -> Result<Packaged> {
    let out = cargo::target_dir()?.join("package");
    // Only our own output directory: a stale staging tree must not leak old files into the .deb.
    if out.exists() {
        fs::remove_dir_all(&out).with_context(|| format!("cannot clear {}", out.display()))?;
    }
    // Symbols of tracer itself are no use to anyone running it (it symbolizes other programs),
    // and stripped it is a fraction of the size. The .deb and the image ship this same file.
    let stripped = out.join("tracer");
    install(tracer, &stripped, 0o755)?;
    process::run(Command::new("strip").arg("--strip-unneeded").arg(&stripped))?;
    let version = version_of(&stripped)?;
    let deb = deb(&stripped, &version, &out)?;
    let image_context = image_context(&stripped, &out.join("image"))?;
    Ok(Packaged { deb, image_context })
}

/// `0.1.0` from `tracer 0.1.0`.
fn version_of(tracer: &Path) -> Result<String> {
    let line = process::stdout(Command::new(tracer).arg("--version"))?;
    line.split_whitespace()
        .nth(1)
        .map(str::to_owned)
        .ok_or_else(|| anyhow!("`{} --version` printed {line:?}", tracer.display()))
}

fn deb(tracer: &Path, version: &str, out: &Path) -> Result<PathBuf> {
    let packaging = cargo::workspace_root().join("packaging");
    let root = out.join("deb-root");
    install(tracer, &root.join("usr/bin/tracer"), 0o755)?;
    install(
        &packaging.join("tracer.service"),
        &root.join("lib/systemd/system/tracer.service"),
        0o644,
    )?;
    install(
        &packaging.join("tracer.yaml"),
        &root.join("etc/tracer/tracer.yaml"),
        0o644,
    )?;
    install(
        &packaging.join("debian/lintian-overrides"),
        &root.join("usr/share/lintian/overrides/tracer"),
        0o644,
    )?;

    let generated = out.join("generated");
    process::run(
        Command::new(tracer)
            .args(["generate-docs", "--out"])
            .arg(&generated),
    )?;
    let man = root.join("usr/share/man/man1");
    fs::create_dir_all(&man)?;
    for page in read_dir(&generated.join("man1"))? {
        let name = page
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or_default();
        install(&page, &man.join(name), 0o644)?;
        // -n: no name or time stamp in the header, so the same pages give the same package.
        process::run(Command::new("gzip").args(["-9n"]).arg(man.join(name)))?;
    }
    let completions = generated.join("completions");
    for (file, dest) in [
        (
            "tracer.bash",
            "usr/share/bash-completion/completions/tracer",
        ),
        ("_tracer", "usr/share/zsh/vendor-completions/_tracer"),
        (
            "tracer.fish",
            "usr/share/fish/vendor_completions.d/tracer.fish",
        ),
    ] {
        install(&completions.join(file), &root.join(dest), 0o644)?;
    }
    let doc = root.join("usr/share/doc/tracer");
    fs::create_dir_all(&doc)?;
    let maintainer = maintainer();
    // The commit's date, not today's: the same commit gives the same package.
    let date = commit_date()?;
    let year = date
        .split_whitespace()
        .nth(3)
        .ok_or_else(|| anyhow!("git gave the commit date {date:?}, which has no year"))?;
    fs::write(
        doc.join("copyright"),
        format!(
            "Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/\n\
             Upstream-Name: tracer\n\n\
             Files: *\n\
             Copyright: {year} tracer maintainers\n\
             License: MIT or Apache-2.0\n"
        ),
    )?;
    fs::write(
        doc.join("changelog"),
        format!(
            "{PACKAGE} ({version}) unstable; urgency=medium\n\n  \
             * Release {version}.\n\n -- {maintainer}  {date}\n"
        ),
    )?;
    process::run(
        Command::new("gzip")
            .args(["-9n"])
            .arg(doc.join("changelog")),
    )?;

    let control_dir = root.join("DEBIAN");
    fs::create_dir_all(&control_dir)?;
    fs::write(
        control_dir.join("control"),
        control(
            version,
            &architecture()?,
            &maintainer,
            installed_size_kib(&root)?,
        ),
    )?;
    // dpkg keeps an administrator's edits of a conffile on upgrade and asks before replacing it.
    fs::write(control_dir.join("conffiles"), "/etc/tracer/tracer.yaml\n")?;
    for script in ["postinst", "prerm", "postrm"] {
        install(
            &packaging.join("debian").join(script),
            &control_dir.join(script),
            0o755,
        )?;
    }

    let deb = out.join(format!("{PACKAGE}_{version}_{}.deb", architecture()?));
    process::run(
        Command::new("dpkg-deb")
            .args(["--root-owner-group", "--build"])
            .arg(&root)
            .arg(&deb),
    )?;
    Ok(deb)
}

fn maintainer() -> String {
    match (std::env::var("DEBFULLNAME"), std::env::var("DEBEMAIL")) {
        (Ok(name), Ok(email)) => format!("{name} <{email}>"),
        _ => MAINTAINER.to_owned(),
    }
}

/// The last commit's date in RFC 2822, as a Debian changelog has it.
fn commit_date() -> Result<String> {
    Ok(process::stdout(
        Command::new("git")
            .arg("-C")
            .arg(cargo::workspace_root())
            .args(["log", "-1", "--format=%cD"]),
    )?
    .trim()
    .to_owned())
}

fn control(version: &str, architecture: &str, maintainer: &str, installed_kib: u64) -> String {
    format!(
        "Package: {PACKAGE}\n\
         Version: {version}\n\
         Architecture: {architecture}\n\
         Maintainer: {maintainer}\n\
         Installed-Size: {installed_kib}\n\
         Depends: libc6 (>= 2.34), libgcc-s1\n\
         Section: admin\n\
         Priority: optional\n\
         Description: shows which system calls seccomp logged, refused or killed\n \
         tracer names the process, the container and the reason for every system call\n \
         seccomp logged, refused or killed, from an eBPF hook on the kernel's audit path\n \
         or from the kernel's own audit records. It ships a hardened systemd unit that\n \
         writes JSON events under /var/log/tracer (not enabled on install).\n"
    )
}

fn architecture() -> Result<String> {
    Ok(
        process::stdout(Command::new("dpkg").arg("--print-architecture"))?
            .trim()
            .to_owned(),
    )
}

/// What the package's files take on disk, for dpkg's space check.
fn installed_size_kib(root: &Path) -> Result<u64> {
    fn walk(dir: &Path, total: &mut u64) -> Result<()> {
        for path in read_dir(dir)? {
            let meta = fs::symlink_metadata(&path)?;
            if meta.is_dir() {
                walk(&path, total)?;
            } else {
                *total += meta.len().div_ceil(1024);
            }
        }
        Ok(())
    }
    let mut total = 0;
    walk(root, &mut total)?;
    Ok(total)
}

/// The image's build context: the Dockerfile, the binary, and `rootfs/` with the shared
/// libraries it links (at the paths `ldd` gives, which the loader looks in) and the CA bundle.
fn image_context(tracer: &Path, context: &Path) -> Result<PathBuf> {
    let packaging = cargo::workspace_root().join("packaging");
    install(
        &packaging.join("Dockerfile"),
        &context.join("Dockerfile"),
        0o644,
    )?;
    install(tracer, &context.join("tracer"), 0o755)?;
    let rootfs = context.join("rootfs");
    let ldd = process::stdout(Command::new("ldd").arg(tracer))?;
    if ldd.contains("not found") {
        bail!(
            "{} needs libraries this machine lacks:\n{ldd}",
            tracer.display()
        );
    }
    let libraries = shared_libraries(&ldd);
    if libraries.is_empty() {
        bail!("ldd listed no libraries for {}:\n{ldd}", tracer.display());
    }
    for library in libraries {
        // Copied, not linked: the file the symlink names is what the loader opens.
        install(&library, &rootfs.join(library.strip_prefix("/")?), 0o755)?;
    }
    let ca_bundle = Path::new("/etc/ssl/certs/ca-certificates.crt");
    if ca_bundle.is_file() {
        install(
            ca_bundle,
            &rootfs.join("etc/ssl/certs/ca-certificates.crt"),
            0o644,
        )?;
    }
    Ok(context.to_owned())
}

/// The files in `ldd`'s output: `libc.so.6 => /lib/.../libc.so.6 (0x...)` and the loader's own
/// `/lib64/ld-linux-x86-64.so.2 (0x...)`; the vDSO has no file. A few lines of text do not
/// warrant an ELF-parsing crate, and ldd resolves paths as the loader will.
fn shared_libraries(ldd: &str) -> Vec<PathBuf> {
    ldd.lines()
        .filter_map(|line| {
            let line = line.trim();
            let path = match line.split_once(" => ") {
                Some((_, resolved)) => resolved,
                None => line,
            };
            let path = path.split(" (").next()?.trim();
            path.starts_with('/').then(|| PathBuf::from(path))
        })
        .collect()
}

fn install(from: &Path, to: &Path, mode: u32) -> Result<()> {
    if let Some(parent) = to.parent() {
        fs::create_dir_all(parent)
            .with_context(|| format!("cannot create {}", parent.display()))?;
    }
    fs::copy(from, to)
        .with_context(|| format!("cannot copy {} to {}", from.display(), to.display()))?;
    fs::set_permissions(to, fs::Permissions::from_mode(mode))
        .with_context(|| format!("cannot set the mode of {}", to.display()))
}

fn read_dir(dir: &Path) -> Result<Vec<PathBuf>> {
    let mut paths = fs::read_dir(dir)
        .with_context(|| format!("cannot read {}", dir.display()))?
        .map(|entry| entry.map(|entry| entry.path()))
        .collect::<Result<Vec<_>, _>>()
        .with_context(|| format!("cannot read {}", dir.display()))?;
    paths.sort();
    Ok(paths)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_files_ldd_lists() {
        let ldd = "\tlinux-vdso.so.1 (0x00007ffd)\n\
                   \tlibgcc_s.so.1 => /lib/x86_64-linux-gnu/libgcc_s.so.1 (0x00007fbf)\n\
                   \tlibc.so.6 => /lib/x86_64-linux-gnu/libc.so.6 (0x00007fbe)\n\
                   \t/lib64/ld-linux-x86-64.so.2 (0x00007fbd)\n";
        assert_eq!(
            shared_libraries(ldd),
            [
                "/lib/x86_64-linux-gnu/libgcc_s.so.1",
                "/lib/x86_64-linux-gnu/libc.so.6",
                "/lib64/ld-linux-x86-64.so.2"
            ]
            .map(PathBuf::from)
        );
    }
}
