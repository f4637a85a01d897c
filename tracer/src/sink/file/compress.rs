//! Gzipping a rotated file, so a shipper or a person never meets a half-written `.gz`: it is
//! written beside as `.gz.tmp`, given the sink's mode, synced, and renamed into place before
//! the plain file is removed.

use std::{
    fs::{File, OpenOptions},
    io::{self, BufReader},
    os::unix::fs::{OpenOptionsExt as _, PermissionsExt as _},
    path::{Path, PathBuf},
};

use flate2::{Compression, write::GzEncoder};

use super::backups::GZIP_SUFFIX;

/// Compresses `path` into `path.gz` with `mode`, then removes `path`; returns the new path.
pub fn gzip(path: &Path, mode: u32) -> io::Result<PathBuf> {
    let mut gz = path.as_os_str().to_owned();
    gz.push(GZIP_SUFFIX);
    let gz = PathBuf::from(gz);
    let mut tmp = gz.as_os_str().to_owned();
    tmp.push(".tmp");
    let tmp = PathBuf::from(tmp);
    let result = (|| {
        let mut input = BufReader::new(File::open(path)?);
        let output = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(mode)
            .open(&tmp)?;
        output.set_permissions(std::fs::Permissions::from_mode(mode))?;
        let mut encoder = GzEncoder::new(output, Compression::default());
        io::copy(&mut input, &mut encoder)?;
        let output = encoder.finish()?;
        output.sync_all()?;
        std::fs::rename(&tmp, &gz)
    })();
    if let Err(error) = result {
        let _ = std::fs::remove_file(&tmp);
        return Err(error);
    }
    std::fs::remove_file(path)?;
    Ok(gz)
}

/// Removes what an interrupted [`gzip`] of `backup` left.
pub fn remove_leftover(backup: &Path) {
    let mut tmp = backup.as_os_str().to_owned();
    tmp.push(GZIP_SUFFIX);
    tmp.push(".tmp");
    let _ = std::fs::remove_file(tmp);
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::{io::Read as _, os::unix::fs::MetadataExt as _};

    #[test]
    fn compresses_with_the_mode_and_removes_the_plain_file() {
        let dir = super::super::scratch_dir("file-gzip");
        let path = dir.join("e.jsonl.20261126T192000.000000Z");
        let lines = "{\"a\":1}\n".repeat(1000);
        std::fs::write(&path, &lines).unwrap();
        let gz = gzip(&path, 0o640).unwrap();
        assert!(!path.exists());
        assert_eq!(std::fs::metadata(&gz).unwrap().mode() & 0o7777, 0o640);
        let mut text = String::new();
        flate2::read::GzDecoder::new(File::open(&gz).unwrap())
            .read_to_string(&mut text)
            .unwrap();
        assert_eq!(text, lines);
        assert_eq!(std::fs::read_dir(&dir).unwrap().count(), 1, "no .tmp left");
        std::fs::remove_dir_all(dir).unwrap();
    }
}
