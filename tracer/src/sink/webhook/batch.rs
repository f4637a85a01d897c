//! A batch's request body: NDJSON (`application/x-ndjson`), one line per event, each the same
//! object `-o json` prints, optionally gzip-compressed.

use std::{io::Write as _, sync::Arc};

use flate2::{Compression, write::GzEncoder};

use crate::{
    events::Event,
    output::{Formatter as _, Json},
};

pub const CONTENT_TYPE: &str = "application/x-ndjson";

/// Encoded events, ready to send.
#[derive(Debug)]
pub struct Batch {
    pub body: Vec<u8>,
    pub events: u64,
    pub gzip: bool,
}

pub struct Encoder {
    json: Json,
    gzip: bool,
    /// Reused between batches: the uncompressed lines when compressing.
    lines: Vec<u8>,
}

impl Encoder {
    pub fn new(gzip: bool) -> Self {
        Self {
            json: Json::new(false),
            gzip,
            lines: Vec::new(),
        }
    }

    pub fn encode(&mut self, events: impl Iterator<Item = Arc<Event>>) -> Batch {
        let mut count = 0;
        let mut body = Vec::new();
        let out = if self.gzip {
            self.lines.clear();
            &mut self.lines
        } else {
            &mut body
        };
        for event in events {
            self.json.event(&event, out);
            count += 1;
        }
        if self.gzip {
            let mut encoder = GzEncoder::new(
                Vec::with_capacity(self.lines.len() / 4),
                Compression::fast(),
            );
            // Writing to a Vec cannot fail.
            let _ = encoder.write_all(&self.lines);
            body = encoder.finish().unwrap_or_default();
        }
        Batch {
            body,
            events: count,
            gzip: self.gzip,
        }
    }
}

#[cfg(test)]
mod tests {
    use std::io::Read as _;

    use super::*;
    use crate::test_support;

    #[test]
    fn each_line_is_the_json_output_of_one_event() {
        let events: Vec<_> = (0..3)
            .map(|_| Arc::new(test_support::sample_event()))
            .collect();
        let mut expected = Vec::new();
        let mut json = Json::new(false);
        for event in &events {
            json.event(event, &mut expected);
        }
        let plain = Encoder::new(false).encode(events.iter().cloned());
        assert_eq!(plain.events, 3);
        assert_eq!(plain.body, expected);
        let zipped = Encoder::new(true).encode(events.iter().cloned());
        let mut unzipped = Vec::new();
        flate2::read::GzDecoder::new(&zipped.body[..])
            .read_to_end(&mut unzipped)
            .unwrap();
        assert_eq!(unzipped, expected);
    }
}
