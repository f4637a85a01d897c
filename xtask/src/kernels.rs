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

use crate::{process, setup};

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
    /// audit built in, so the VM needs no modules.
    fn affixes(self) -> (&'static str, &'static str) {
        match self {
            Self::V6_1 => ("linux-image-6.1.0-", "-cloud-amd64-unsigned"),
            Self::V6_12 => ("linux-image-6.12.", "+deb12-cloud-amd64-unsigned"),
        }
    }

    fn apt_pattern(self) -> String {
        let (prefix, suffix) = self.affixes();
        let escape = |s: &str| s.replace('.', r"\.").replace('+', r"\+");
        format!("^{}[0-9]+{}$", escape(prefix), escape(suffix))
    }

    fn matches(self, package: &str) -> bool {
        let (prefix, suffix) = self.affixes();
        package
            .strip_prefix(prefix)
            .and_then(|rest| rest.strip_suffix(suffix))
            .is_some_and(|number| !number.is_empty() && number.bytes().all(|b| b.is_ascii_digit()))
    }
}

pub struct Kernel {
    pub line: KernelLine,
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

/// The newest kernel of `line`, from the cache or downloaded into it. When the newest package
/// cannot be had, the newest cached one of the line stands in, with a warning.
pub fn fetch(line: KernelLine, apt: &mut Apt) -> Result<Kernel> {
    let cache = cache_dir()?;
    let newest = match newest_available(line, apt) {
        Ok(newest) => newest,
        Err(err) => return fallback(line, &cache, err),
    };
    if let Some(kernel) = cached(line, &cache, &newest) {
        return Ok(kernel);
    }
    let downloaded = download(&cache, &newest).map(|()| newest).or_else(|err| {
        // A stale index names packages the archive has already dropped.
        match apt.update() {
            Ok(true) => {
                let newest = newest_available(line, apt)?;
                download(&cache, &newest).map(|()| newest)
            }
            Ok(false) => Err(err),
            Err(update) => Err(anyhow!(
                "{err:#}; refreshing the package index failed too: {update:#}"
            )),
        }
    });
    match downloaded {
        Ok(package) => cached(line, &cache, &package)
            .ok_or_else(|| anyhow!("{package} holds no boot/vmlinuz-*")),
        Err(err) => fallback(line, &cache, err),
    }
}

fn newest_available(line: KernelLine, apt: &mut Apt) -> Result<String> {
    let mut packages = search(line)?;
    if packages.is_empty() && apt.update()? {
        packages = search(line)?;
    }
    packages
        .into_iter()
        .max_by(|a, b| version_cmp(a, b))
        .ok_or_else(|| anyhow!("no package in the index matches {}", line.apt_pattern()))
}

fn search(line: KernelLine) -> Result<Vec<String>> {
    let found = process::stdout(Command::new("apt-cache").args([
        "search",
        "--names-only",
        &line.apt_pattern(),
    ]))?;
    Ok(found
        .lines()
        .filter_map(|entry| entry.split_whitespace().next())
        .filter(|package| line.matches(package))
        .map(str::to_owned)
        .collect())
}

fn fallback(line: KernelLine, cache: &Path, err: anyhow::Error) -> Result<Kernel> {
    let newest_cached = fs::read_dir(cache)
        .into_iter()
        .flatten()
        .filter_map(|entry| entry.ok()?.file_name().into_string().ok())
        .filter_map(|package| cached(line, cache, &package))
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
fn cache_dir() -> Result<PathBuf> {
    let base = match env::var_os("XDG_CACHE_HOME").filter(|dir| Path::new(dir).is_absolute()) {
        Some(dir) => PathBuf::from(dir),
        None => {
            PathBuf::from(env::var_os("HOME").context("neither XDG_CACHE_HOME nor HOME is set")?)
                .join(".cache")
        }
    };
    Ok(base.join("tracer").join("kernels"))
}

fn cached(line: KernelLine, cache: &Path, package: &str) -> Option<Kernel> {
    if !line.matches(package) {
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
        package: package.to_owned(),
        vmlinuz,
    })
}

/// Downloads `package` and keeps only its `boot/vmlinuz-*` in `cache/package/`. The work
/// happens in a side directory renamed into place at the end, so an interrupted download never
/// looks cached.
fn download(cache: &Path, package: &str) -> Result<()> {
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
    process::run(get.args(["download", package]).current_dir(&work))?;
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
        assert!(KernelLine::V6_1.matches(v6_1));
        assert!(!KernelLine::V6_1.matches(v6_12));
        assert!(KernelLine::V6_12.matches(v6_12));
        assert!(!KernelLine::V6_12.matches(v6_1));
        assert!(!KernelLine::V6_1.matches("linux-image-6.1.0-56-cloud-amd64-unsigned.partial"));
        assert!(!KernelLine::V6_1.matches("linux-image-6.1.0--cloud-amd64-unsigned"));
        assert!(!KernelLine::V6_1.matches("linux-image-6.1.0-56-cloud-amd64"));
    }

    #[test]
    fn apt_patterns_escape_dots_and_pluses() {
        assert_eq!(
            KernelLine::V6_1.apt_pattern(),
            r"^linux-image-6\.1\.0-[0-9]+-cloud-amd64-unsigned$"
        );
        assert_eq!(
            KernelLine::V6_12.apt_pattern(),
            r"^linux-image-6\.12\.[0-9]+\+deb12-cloud-amd64-unsigned$"
        );
    }
}
