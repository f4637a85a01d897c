//! Opening the file for appending, with the asked mode whatever the umask says.

use std::{
    fs::{File, OpenOptions},
    io,
    os::unix::fs::{OpenOptionsExt as _, PermissionsExt as _},
    path::Path,
};

/// Opens (creating it if needed) `path` for appending and gives it `mode`. The mode is set
/// with fchmod on the open file, so neither the umask nor an older file's mode changes it: a
/// shipper allowed to read the first file may read every later one.
pub fn append(path: &Path, mode: u32) -> io::Result<File> {
    let file = OpenOptions::new()
        .append(true)
        .create(true)
        .mode(mode)
        .open(path)?;
    file.set_permissions(std::fs::Permissions::from_mode(mode))?;
    Ok(file)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::{io::Write as _, os::unix::fs::MetadataExt as _};

    #[test]
    fn the_mode_is_kept_whatever_the_umask_and_the_file_appends() {
        let dir = super::super::scratch_dir("file-open");
        let path = dir.join("events.jsonl");
        std::fs::write(&path, b"old\n").unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        let mut file = append(&path, 0o640).unwrap();
        file.write_all(b"new\n").unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"old\nnew\n");
        assert_eq!(std::fs::metadata(&path).unwrap().mode() & 0o7777, 0o640);
        let fresh = dir.join("fresh.jsonl");
        append(&fresh, 0o664).unwrap();
        assert_eq!(std::fs::metadata(&fresh).unwrap().mode() & 0o7777, 0o664);
        std::fs::remove_dir_all(dir).unwrap();
    }
}
