//! Appending whole lines only. A write the disk cuts short (ENOSPC, a quota) leaves part of an
//! event in the file; the file is cut back to the end of its last whole line, so a shipper never
//! reads half an event and the count of written events stays exact.

use std::{
    fs::File,
    io::{self, Write as _},
};

/// What [`append`] managed.
#[derive(Debug)]
pub struct Appended {
    /// Events now whole in the file.
    pub events: usize,
    /// Their bytes.
    pub bytes: u64,
    /// Why the rest could not be written.
    pub error: Option<io::Error>,
}

/// Appends to `file`, which is `size` bytes long, the events of `buffer` from offset `from` that
/// end at the offsets `ends` (in `buffer`, ascending, none empty).
pub fn append(file: &mut File, size: u64, buffer: &[u8], from: usize, ends: &[usize]) -> Appended {
    let bytes = &buffer[from..ends.last().copied().unwrap_or(from)];
    let mut done = 0;
    while done < bytes.len() {
        match file.write(&bytes[done..]) {
            Ok(0) => {
                let error = io::ErrorKind::WriteZero.into();
                return cut_back(file, size, from + done, from, ends, error);
            }
            Ok(n) => done += n,
            Err(error) if error.kind() == io::ErrorKind::Interrupted => {}
            Err(error) => return cut_back(file, size, from + done, from, ends, error),
        }
    }
    Appended {
        events: ends.len(),
        bytes: bytes.len() as u64,
        error: None,
    }
}

fn cut_back(
    file: &File,
    size: u64,
    reached: usize,
    from: usize,
    ends: &[usize],
    error: io::Error,
) -> Appended {
    let (events, end) = whole(ends, reached);
    let bytes = end.saturating_sub(from);
    let done = reached - from;
    if bytes < done
        && let Err(truncate) = file.set_len(size + bytes as u64)
    {
        tracing::warn!(
            "a write to the events file stopped mid-line and the line could not be removed \
                 ({truncate}): the next line is appended after it"
        );
    }
    Appended {
        events,
        bytes: bytes as u64,
        error: Some(error),
    }
}

/// How many events of those ending at `ends` lie whole before offset `reached`, and where the
/// last of them ends (0 when none).
pub fn whole(ends: &[usize], reached: usize) -> (usize, usize) {
    let events = ends.partition_point(|&end| end <= reached);
    let end = events.checked_sub(1).map_or(0, |last| ends[last]);
    (events, end)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_only_whole_events() {
        let ends = [10, 25, 40];
        assert_eq!(whole(&ends, 0), (0, 0));
        assert_eq!(whole(&ends, 9), (0, 0));
        assert_eq!(whole(&ends, 10), (1, 10));
        assert_eq!(whole(&ends, 39), (2, 25));
        assert_eq!(whole(&ends, 40), (3, 40));
    }

    #[test]
    fn a_full_write_appends_everything() {
        let dir = super::super::scratch_dir("file-lines");
        let path = dir.join("e.jsonl");
        let mut file = super::super::open::append(&path, 0o600).unwrap();
        let buffer = b"a\nbb\nc\n";
        let appended = append(&mut file, 0, buffer, 0, &[2, 5]);
        assert!(appended.error.is_none());
        assert_eq!((appended.events, appended.bytes), (2, 5));
        let appended = append(&mut file, 5, buffer, 5, &[7]);
        assert_eq!((appended.events, appended.bytes), (1, 2));
        assert_eq!(std::fs::read(&path).unwrap(), b"a\nbb\nc\n");
        std::fs::remove_dir_all(dir).unwrap();
    }
}
