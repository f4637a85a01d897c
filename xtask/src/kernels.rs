//! Stock Debian kernels to boot: the newest package of each line in the package index,
//! downloaded once and cached.

use std::{
    cmp::Ordering,
    env, fs,
    path::{Path, PathBuf},
    process::Command,
};

use anyhow::{Context as _, Result, anyhow, bail};
use clap::ValueEnum;

use crate::{process, setup, target::Arch};

/// A kernel line: old packages drop out of the archive as new ones arrive, so the lines are
/// named, and the package is picked when the tests run.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum KernelLine {
    #[value(name = "6.1")]
    V6_1,
    #[value(name = "6.12")]
    V6_12,
}

impl KernelLine {
    pub const ALL: [Self; 2] = [Self::V6_1, Self::V6_12];

    pub fn name(self) -> &'static str {
        match self {
            Self::V6_1 => "6.1",
            Self::V6_12 => "6.12",
        }
    }

    /// Package names are `PREFIX<digits>SUFFIX`. The cloud flavour has kprobes, fentry, BTF and
    /// audit built in, so the VM needs no modules (arm64's too).
    fn affixes(self, arch: Arch) -> (&'static str, String) {
        let debian = arch.debian();
        match self {
            Self::V6_1 => ("linux-image-6.1.0-", format!("-cloud-{debian}-unsigned")),
            Self::V6_12 => (
                "linux-image-6.12.",
                format!("+deb12-cloud-{debian}-unsigned"),
            ),
        }
    }

    fn apt_pattern(self, arch: Arch) -> String {
        let (prefix, suffix) = self.affixes(arch);
        let escape = |s: &str| s.replace('.', r"\.").replace('+', r"\+");
        format!("^{}[0-9]+{}$", escape(prefix), escape(&suffix))
    }

    fn matches(self, arch: Arch, package: &str) -> bool {
        let (prefix, suffix) = self.affixes(arch);
        package
            .strip_prefix(prefix)
            .and_then(|rest| rest.strip_suffix(suffix.as_str()))
            .is_some_and(|number| !number.is_empty() && number.bytes().all(|b| b.is_ascii_digit()))
    }
}

pub struct Kernel {
    pub line: KernelLine,
    pub arch: Arch,
    pub package: String,
    pub vmlinuz: PathBuf,
}

/// Remembers whether the package lists were refreshed, so one run updates them at most once.
#[derive(Default)]
pub struct Apt {
    updated: bool,
}

impl Apt {
    fn update(&mut self) -> Result<bool> {
        if self.updated {
            return Ok(false);
        }
        self.updated = true;
        setup::apt_update()?;
        Ok(true)
    }
}

/// The newest kernel of `line` for `arch`, from the cache or downloaded into it. When the
/// newest package cannot be had, the newest cached one of the line stands in, with a warning.
pub fn fetch(line: KernelLine, arch: Arch, apt: &mut Apt) -> Result<Kernel> {
    let cache = cache_dir()?;
    let newest = match newest_available(line, arch, apt) {
        Ok(newest) => newest,
        Err(err) => return fallback(line, arch, &cache, err),
    };
    if let Some(kernel) = cached(line, arch, &cache, &newest) {
        return Ok(kernel);
    }
    let downloaded = download(&cache, &newest, arch)
        .map(|()| newest)
        .or_else(|err| {
            // A stale index names packages the archive has already dropped.
            match apt.update() {
                Ok(true) => {
                    let newest = newest_available(line, arch, apt)?;
                    download(&cache, &newest, arch).map(|()| newest)
                }
                Ok(false) => Err(err),
                Err(update) => Err(anyhow!(
                    "{err:#}; refreshing the package index failed too: {update:#}"
                )),
            }
        });
    match downloaded {
        Ok(package) => cached(line, arch, &cache, &package)
            .ok_or_else(|| anyhow!("{package} holds no boot/vmlinuz-*")),
        Err(err) => fallback(line, arch, &cache, err),
    }
}

fn newest_available(line: KernelLine, arch: Arch, apt: &mut Apt) -> Result<String> {
    let mut packages = search(line, arch)?;
    if packages.is_empty() && apt.update()? {
        packages = search(line, arch)?;
    }
    packages
        .into_iter()
        .max_by(|a, b| version_cmp(a, b))
        .ok_or_else(|| {
            let hint = if arch.is_cross() {
                " (apt lists another architecture's packages once `cargo xtask setup` has added it \
             with dpkg --add-architecture)"
            } else {
                ""
            };
            anyhow!(
                "no package in the index matches {}{hint}",
                line.apt_pattern(arch)
            )
        })
}

fn search(line: KernelLine, arch: Arch) -> Result<Vec<String>> {
    let found = process::stdout(Command::new("apt-cache").args([
        "search",
        "--names-only",
        &line.apt_pattern(arch),
    ]))?;
    Ok(found
        .lines()
        .filter_map(|entry| entry.split_whitespace().next())
        .filter(|package| line.matches(arch, package))
        .map(str::to_owned)
        .collect())
}

fn fallback(line: KernelLine, arch: Arch, cache: &Path, err: anyhow::Error) -> Result<Kernel> {
    let newest_cached = fs::read_dir(cache)
        .into_iter()
        .flatten()
        .filter_map(|entry| entry.ok()?.file_name().into_string().ok())
        .filter_map(|package| cached(line, arch, cache, &package))
        .max_by(|a, b| version_cmp(&a.package, &b.package));
    match newest_cached {
        Some(kernel) => {
            eprintln!(
                "warning: using cached {} because the newest {} kernel is unavailable: {err:#}",
                kernel.package,
                line.name()
            );
            Ok(kernel)
        }
        None => Err(err.context(format!("no {} kernel is cached either", line.name()))),
    }
}

/// `$XDG_CACHE_HOME/tracer/kernels`, or `~/.cache/tracer/kernels`.
pub(crate) fn cache_dir() -> Result<PathBuf> {
    let base = match env::var_os("XDG_CACHE_HOME").filter(|dir| Path::new(dir).is_absolute()) {
        Some(dir) => PathBuf::from(dir),
        None => {
            PathBuf::from(env::var_os("HOME").context("neither XDG_CACHE_HOME nor HOME is set")?)
                .join(".cache")
        }
    };
    Ok(base.join("tracer").join("kernels"))
}

fn cached(line: KernelLine, arch: Arch, cache: &Path, package: &str) -> Option<Kernel> {
    if !line.matches(arch, package) {
        return None;
    }
    let vmlinuz = fs::read_dir(cache.join(package))
        .ok()?
        .filter_map(|entry| entry.ok().map(|entry| entry.path()))
        .find(|path| {
            path.file_name()
                .and_then(|name| name.to_str())
                .is_some_and(|name| name.starts_with("vmlinuz-"))
        })?;
    Some(Kernel {
        line,
        arch,
        package: package.to_owned(),
        vmlinuz,
    })
}

/// Downloads `package` (of `arch`) and keeps only its `boot/vmlinuz-*` in `cache/package/`.
/// The work happens in a side directory renamed into place at the end, so an interrupted
/// download never looks cached.
fn download(cache: &Path, package: &str, arch: Arch) -> Result<()> {
    let work = cache.join(format!("{package}.partial"));
    if work.exists() {
        fs::remove_dir_all(&work).with_context(|| format!("cannot empty {}", work.display()))?;
    }
    fs::create_dir_all(&work).with_context(|| format!("cannot create {}", work.display()))?;

    let mut get = Command::new("apt-get");
    if process::is_root() {
        // apt drops to the _apt user to download, which cannot write into root's home.
        get.args(["-o", "APT::Sandbox::User=root"]);
    }
    let wanted = if arch.is_cross() {
        format!("{package}:{}", arch.debian())
    } else {
        package.to_owned()
    };
    process::run(get.args(["download", &wanted]).current_dir(&work))?;
    let deb = only_entry(&work, |name| name.ends_with(".deb"))?;
    let unpacked = work.join("unpacked");
    process::run(Command::new("dpkg").arg("-x").arg(&deb).arg(&unpacked))?;
    let vmlinuz = only_entry(&unpacked.join("boot"), |name| name.starts_with("vmlinuz-"))?;
    let name = vmlinuz.file_name().context("vmlinuz has no file name")?;
    fs::rename(&vmlinuz, work.join(name))
        .with_context(|| format!("cannot move {}", vmlinuz.display()))?;
    fs::remove_dir_all(&unpacked)
        .and_then(|()| fs::remove_file(&deb))
        .with_context(|| format!("cannot clean up {}", work.display()))?;

    let done = cache.join(package);
    if done.exists() {
        fs::remove_dir_all(&done).with_context(|| format!("cannot replace {}", done.display()))?;
    }
    fs::rename(&work, &done).with_context(|| format!("cannot create {}", done.display()))
}

fn only_entry(dir: &Path, wanted: impl Fn(&str) -> bool) -> Result<PathBuf> {
    let mut found = Vec::new();
    for entry in fs::read_dir(dir).with_context(|| format!("cannot read {}", dir.display()))? {
        let path = entry?.path();
        if path
            .file_name()
            .and_then(|name| name.to_str())
            .is_some_and(&wanted)
        {
            found.push(path);
        }
    }
    match <[PathBuf; 1]>::try_from(found) {
        Ok([path]) => Ok(path),
        Err(found) => bail!("expected one match in {}, found {found:?}", dir.display()),
    }
}

/// Orders strings the way `sort -V` does: runs of digits compare as numbers, so
/// `6.12.99` comes before `6.12.117`.
pub fn version_cmp(a: &str, b: &str) -> Ordering {
    let (mut a, mut b) = (a, b);
    loop {
        match (a.is_empty(), b.is_empty()) {
            (true, true) => return Ordering::Equal,
            (true, false) => return Ordering::Less,
            (false, true) => return Ordering::Greater,
            (false, false) => {}
        }
        let (a_chunk, a_rest) = split_chunk(a);
        let (b_chunk, b_rest) = split_chunk(b);
        let order = match (is_number(a_chunk), is_number(b_chunk)) {
            (true, true) => {
                let (a_digits, b_digits) = (
                    a_chunk.trim_start_matches('0'),
                    b_chunk.trim_start_matches('0'),
                );
                a_digits
                    .len()
                    .cmp(&b_digits.len())
                    .then_with(|| a_digits.cmp(b_digits))
            }
            _ => a_chunk.cmp(b_chunk),
        };
        if order != Ordering::Equal {
            return order;
        }
        (a, b) = (a_rest, b_rest);
    }
}

/// Splits off the leading run of digits, or of non-digits.
fn split_chunk(s: &str) -> (&str, &str) {
    let digits = s.starts_with(|c: char| c.is_ascii_digit());
    let end = s
        .find(|c: char| c.is_ascii_digit() != digits)
        .unwrap_or(s.len());
    s.split_at(end)
}

fn is_number(chunk: &str) -> bool {
    chunk.starts_with(|c: char| c.is_ascii_digit())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn newest_package_by_number_not_by_text() {
        let packages = [
            "linux-image-6.12.99+deb12-cloud-amd64-unsigned",
            "linux-image-6.12.117+deb12-cloud-amd64-unsigned",
            "linux-image-6.12.111+deb12-cloud-amd64-unsigned",
        ];
        assert_eq!(
            packages.iter().max_by(|a, b| version_cmp(a, b)),
            Some(&"linux-image-6.12.117+deb12-cloud-amd64-unsigned")
        );
        assert_eq!(version_cmp("6.1.0-9", "6.1.0-10"), Ordering::Less);
        assert_eq!(version_cmp("6.1.0-010", "6.1.0-10"), Ordering::Equal);
        assert_eq!(version_cmp("6.1", "6.1.0"), Ordering::Less);
    }

    #[test]
    fn lines_match_only_their_own_packages() {
        let v6_1 = "linux-image-6.1.0-56-cloud-amd64-unsigned";
        let v6_12 = "linux-image-6.12.117+deb12-cloud-amd64-unsigned";
        let x86 = Arch::X86_64;
        assert!(KernelLine::V6_1.matches(x86, v6_1));
        assert!(!KernelLine::V6_1.matches(x86, v6_12));
        assert!(KernelLine::V6_12.matches(x86, v6_12));
        assert!(!KernelLine::V6_12.matches(x86, v6_1));
        assert!(
            !KernelLine::V6_1.matches(x86, "linux-image-6.1.0-56-cloud-amd64-unsigned.partial")
        );
        assert!(!KernelLine::V6_1.matches(x86, "linux-image-6.1.0--cloud-amd64-unsigned"));
        assert!(!KernelLine::V6_1.matches(x86, "linux-image-6.1.0-56-cloud-amd64"));
        // The arm64 lab's kernels are cached beside the x86-64 ones, and never taken for them.
        let arm64 = "linux-image-6.1.0-56-cloud-arm64-unsigned";
        assert!(KernelLine::V6_1.matches(Arch::Aarch64, arm64));
        assert!(!KernelLine::V6_1.matches(x86, arm64));
        assert!(!KernelLine::V6_1.matches(Arch::Aarch64, v6_1));
    }

    #[test]
    fn apt_patterns_escape_dots_and_pluses() {
        assert_eq!(
            KernelLine::V6_1.apt_pattern(Arch::X86_64),
            r"^linux-image-6\.1\.0-[0-9]+-cloud-amd64-unsigned$"
        );
        assert_eq!(
            KernelLine::V6_12.apt_pattern(Arch::X86_64),
            r"^linux-image-6\.12\.[0-9]+\+deb12-cloud-amd64-unsigned$"
        );
        assert_eq!(
            KernelLine::V6_12.apt_pattern(Arch::Aarch64),
            r"^linux-image-6\.12\.[0-9]+\+deb12-cloud-arm64-unsigned$"
        );
    }
}
