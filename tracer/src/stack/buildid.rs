//! Reading the GNU build id of an ELF file.

use std::{fmt::Write as _, fs, path::Path};

/// Larger files are not looked at: no shared object or executable is that big, and a match
/// would cost blazesym a mapping of that size.
const MAX_FILE_BYTES: u64 = 512 << 20;

/// The build id of the ELF file at `path`, if it is a regular file of sensible size with one.
///
/// blazesym maps the file and reads only the section headers and the note sections, so the
/// pages of code and data are never read in. It finds the note through the section headers,
/// not the program headers the kernel uses: a file stripped of its section headers is not
/// recognized, which no distribution's packages are.
pub(super) fn read(path: &Path) -> Option<Vec<u8>> {
    // Following symlinks here is what opening does too; a FIFO or device would block or
    // have side effects on open, so only regular files get that far.
    let meta = fs::metadata(path).ok()?;
    if !meta.is_file() || meta.len() > MAX_FILE_BYTES {
        return None;
    }
    let id = blazesym::helper::read_elf_build_id(path).ok()??;
    Some(id.into_owned())
}

/// `bytes` in lower-case hex, as `readelf -n` and `file` print build ids.
pub(super) fn hex(bytes: &[u8]) -> String {
    bytes
        .iter()
        .fold(String::with_capacity(bytes.len() * 2), |mut s, b| {
            let _ = write!(s, "{b:02x}");
            s
        })
}
