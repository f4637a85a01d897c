//! The files a live process has mapped, from `/proc/PID/maps`.

use std::{fs, path::PathBuf};

/// One file-backed mapping.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct Mapping {
    pub start: u64,
    pub end: u64,
    /// The file's path as the process sees it: the kernel prints it relative to the process's
    /// mount namespace.
    pub path: String,
}

/// The file-backed mappings of process `pid`, or None when its maps cannot be read (it is
/// gone, or not ours to look at).
pub(super) fn read(pid: u32) -> Option<Vec<Mapping>> {
    let maps = fs::read_to_string(format!("/proc/{pid}/maps")).ok()?;
    Some(maps.lines().filter_map(parse_line).collect())
}

/// The mapping that holds `ip`.
pub(super) fn containing(maps: &[Mapping], ip: u64) -> Option<&Mapping> {
    maps.iter().find(|m| (m.start..m.end).contains(&ip))
}

/// The link to the mapped file itself: it opens the file even when its path is in another
/// mount namespace, or was deleted or replaced since.
pub(super) fn map_file(pid: u32, mapping: &Mapping) -> PathBuf {
    // The kernel names these links with unpadded hex, where maps pads to 8 digits.
    PathBuf::from(format!(
        "/proc/{pid}/map_files/{:x}-{:x}",
        mapping.start, mapping.end
    ))
}

/// `start-end perms offset dev inode      path`; the path may itself contain spaces.
fn parse_line(line: &str) -> Option<Mapping> {
    let mut fields = line.splitn(6, ' ');
    let (start, end) = fields.next()?.split_once('-')?;
    let path = fields.nth(4)?.trim_start();
    // Anonymous memory, [heap], [stack], [vdso] and the like are no file to look in.
    if !path.starts_with('/') {
        return None;
    }
    Some(Mapping {
        start: u64::from_str_radix(start, 16).ok()?,
        end: u64::from_str_radix(end, 16).ok()?,
        path: path.strip_suffix(" (deleted)").unwrap_or(path).to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_file_mappings_only() {
        let line = "7f4dfdea5000-7f4dfdffb000 r-xp 00026000 fe:00 326279                     \
                    /usr/lib/x86_64-linux-gnu/libc.so.6";
        assert_eq!(
            parse_line(line),
            Some(Mapping {
                start: 0x7f4d_fdea_5000,
                end: 0x7f4d_fdff_b000,
                path: "/usr/lib/x86_64-linux-gnu/libc.so.6".into(),
            })
        );
        let deleted = "00400000-00452000 r-xp 00000000 08:02 173521      /opt/my app (deleted)";
        assert_eq!(
            parse_line(deleted).map(|m| m.path),
            Some("/opt/my app".into())
        );
        assert_eq!(
            parse_line("7ffd1000-7ffd3000 r-xp 00000000 00:00 0   [vdso]"),
            None
        );
        assert_eq!(parse_line("7ffd1000-7ffd3000 rw-p 00000000 00:00 0"), None);
    }

    #[test]
    fn map_file_names_are_unpadded() {
        let m = Mapping {
            start: 0x40_0000,
            end: 0x45_2000,
            path: "/a".into(),
        };
        assert_eq!(
            map_file(7, &m),
            PathBuf::from("/proc/7/map_files/400000-452000")
        );
    }
}
