//! tracer's `/metrics`, read as Prometheus would: a real HTTP GET, the text format parsed into
//! series, and a check that every series a run could move has moved. The list of series is
//! here, once, so each caller (the host's audit source, the VM lab's hooks) names only what its
//! hook cannot move, and why.

use std::{
    collections::BTreeMap,
    io::{Read as _, Write as _},
    net::{SocketAddr, TcpListener, TcpStream},
    time::{Duration, Instant},
};

/// A series the check watches: a family, and optionally one label's value.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Watched {
    pub name: &'static str,
    pub label: Option<(&'static str, &'static str)>,
}

const fn all(name: &'static str) -> Watched {
    Watched { name, label: None }
}

const fn only(name: &'static str, key: &'static str, value: &'static str) -> Watched {
    Watched {
        name,
        label: Some((key, value)),
    }
}

pub const EVENTS: Watched = all("tracer_events_total");
pub const LOST_RING_BUFFER: Watched = only("tracer_events_lost_total", "stage", "ring_buffer");
pub const LOST_KERNEL_AUDIT: Watched = only("tracer_events_lost_total", "stage", "kernel_audit");
pub const LOST_SINK: Watched = only("tracer_events_lost_total", "stage", "sink");
pub const SUPPRESSED_FILTER: Watched = only("tracer_events_suppressed_total", "reason", "filter");
pub const SUPPRESSED_CHECK: Watched = only("tracer_events_suppressed_total", "reason", "check");
pub const SUPPRESSED_DEDUP: Watched = only("tracer_events_suppressed_total", "reason", "dedup");
pub const SUPPRESSED_RATE_LIMIT: Watched =
    only("tracer_events_suppressed_total", "reason", "rate_limit");
pub const SINK_QUEUE_DEPTH: Watched = all("tracer_sink_queue_depth");
pub const SINK_WRITTEN: Watched = all("tracer_sink_written_total");
pub const SINK_UNWRITTEN: Watched = all("tracer_sink_unwritten_total");
pub const SINK_RETRIES: Watched = all("tracer_sink_retries_total");
pub const SINK_FAILURES: Watched = all("tracer_sink_failures_total");
pub const DOCKER_API_CALLS: Watched = only("tracer_runtime_api_calls_total", "runtime", "docker");
pub const ENRICHMENT_MISSES: Watched = all("tracer_enrichment_misses_total");
pub const LAST_EVENT: Watched = all("tracer_last_event_timestamp_seconds");

/// Every series tracer exports that a run can move; a new one belongs here.
pub const EVERY_MOVING_SERIES: [Watched; 16] = [
    EVENTS,
    LOST_RING_BUFFER,
    LOST_KERNEL_AUDIT,
    LOST_SINK,
    SUPPRESSED_FILTER,
    SUPPRESSED_CHECK,
    SUPPRESSED_DEDUP,
    SUPPRESSED_RATE_LIMIT,
    SINK_QUEUE_DEPTH,
    SINK_WRITTEN,
    SINK_UNWRITTEN,
    SINK_RETRIES,
    SINK_FAILURES,
    DOCKER_API_CALLS,
    ENRICHMENT_MISSES,
    LAST_EVENT,
];

/// One sample: its family's sample name, labels and value.
#[derive(Clone, Debug, PartialEq)]
pub struct Sample {
    pub name: String,
    pub labels: BTreeMap<String, String>,
    pub value: f64,
}

/// One scrape.
#[derive(Clone, Debug)]
pub struct Scrape {
    pub text: String,
    pub samples: Vec<Sample>,
}

impl Scrape {
    /// The sum of the samples `watched` selects; `None` when there is none.
    pub fn total(&self, watched: Watched) -> Option<f64> {
        let mut matching = self
            .samples
            .iter()
            .filter(|s| s.name == watched.name)
            .filter(|s| {
                watched
                    .label
                    .is_none_or(|(k, v)| s.labels.get(k).map(String::as_str) == Some(v))
            })
            .peekable();
        matching.peek()?;
        Some(matching.map(|s| s.value).sum())
    }

    /// The value of a series with no labels, or with exactly `labels`.
    pub fn value(&self, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
        self.samples
            .iter()
            .find(|s| {
                s.name == name
                    && s.labels.len() == labels.len()
                    && labels
                        .iter()
                        .all(|(k, v)| s.labels.get(*k).map(String::as_str) == Some(v))
            })
            .map(|s| s.value)
    }
}

/// A port nobody listens on now, on 127.0.0.1.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .expect("binding 127.0.0.1:0")
        .port()
}

/// GET /metrics from `addr`; panics unless the answer is 200 with a body in the text format.
#[track_caller]
pub fn scrape(addr: SocketAddr) -> Scrape {
    let (status, body) = get(addr, "/metrics")
        .unwrap_or_else(|error| panic!("GET http://{addr}/metrics failed: {error}"));
    assert!(
        status.contains(" 200 "),
        "GET http://{addr}/metrics answered {status:?}:\n{body}"
    );
    Scrape {
        samples: parse(&body).unwrap_or_else(|error| panic!("{error} in:\n{body}")),
        text: body,
    }
}

/// An HTTP/1.1 GET over a fresh connection: the status line and the body.
pub fn get(addr: SocketAddr, path: &str) -> std::io::Result<(String, String)> {
    let mut stream = TcpStream::connect_timeout(&addr, Duration::from_secs(5))?;
    stream.set_read_timeout(Some(Duration::from_secs(10)))?;
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nAccept: text/plain\r\nConnection: close\r\n\r\n"
    )?;
    let mut response = String::new();
    stream.read_to_string(&mut response)?;
    let (head, body) = response.split_once("\r\n\r\n").unwrap_or((&response, ""));
    let status = head.lines().next().unwrap_or_default().to_owned();
    let chunked = head
        .lines()
        .any(|l| l.eq_ignore_ascii_case("transfer-encoding: chunked"));
    let body = if chunked {
        dechunk(body)
    } else {
        body.to_owned()
    };
    Ok((status, body))
}

fn dechunk(mut body: &str) -> String {
    let mut out = String::new();
    while let Some((size, rest)) = body.split_once("\r\n") {
        let Ok(size) = usize::from_str_radix(size.trim(), 16) else {
            break;
        };
        if size == 0 || rest.len() < size {
            break;
        }
        out.push_str(&rest[..size]);
        body = rest[size..].trim_start_matches("\r\n");
    }
    out
}

/// Parses the text format's samples (comments and `# EOF` skipped).
pub fn parse(text: &str) -> Result<Vec<Sample>, String> {
    text.lines()
        .filter(|line| !line.is_empty() && !line.starts_with('#'))
        .map(|line| {
            let (series, value) = line
                .rsplit_once(' ')
                .ok_or_else(|| format!("no value in {line:?}"))?;
            let value: f64 = value
                .parse()
                .map_err(|_| format!("value of {line:?} is not a number"))?;
            let (name, labels) = match series.split_once('{') {
                Some((name, labels)) => (name, labels.trim_end_matches('}')),
                None => (series, ""),
            };
            let labels = labels
                .split(',')
                .filter(|pair| !pair.is_empty())
                .map(|pair| {
                    let (k, v) = pair
                        .split_once('=')
                        .ok_or_else(|| format!("label {pair:?} of {line:?}"))?;
                    Ok((k.to_owned(), v.trim_matches('"').to_owned()))
                })
                .collect::<Result<_, String>>()?;
            Ok(Sample {
                name: name.to_owned(),
                labels,
                value,
            })
        })
        .collect()
}

/// Series this run's hook cannot move, each with the reason.
pub type CannotMove<'a> = &'a [(Watched, &'a str)];

/// The series of [`EVERY_MOVING_SERIES`] that have not grown from `before` to `after` although
/// they should, and those `after` lacks altogether.
pub fn not_moved(before: &Scrape, after: &Scrape, cannot_move: CannotMove) -> Vec<String> {
    let mut problems = Vec::new();
    for watched in EVERY_MOVING_SERIES {
        let now = after.total(watched);
        if cannot_move.iter().any(|(w, _)| *w == watched) {
            if now.is_none() {
                problems.push(format!("{watched:?} is not exported at all"));
            }
            continue;
        }
        let was = before.total(watched).unwrap_or(0.0);
        match now {
            Some(now) if now > was => {}
            Some(now) => problems.push(format!("{watched:?} did not grow: {was} then {now}")),
            None => problems.push(format!("{watched:?} is not exported at all")),
        }
    }
    if after
        .value(
            "tracer_build_info",
            &[("version", env!("CARGO_PKG_VERSION"))],
        )
        .is_none_or(|v| v != 1.0)
    {
        problems.push("tracer_build_info{version=...} 1 is missing".into());
    }
    problems
}

/// Scrapes `addr` until every series that can move has grown from `before` (the counts are
/// published once a second), for at most `patience`; panics with both scrapes and the reason
/// for each series left out when one has not.
#[track_caller]
pub fn assert_every_series_moves(
    addr: SocketAddr,
    before: &Scrape,
    cannot_move: CannotMove,
    patience: Duration,
    context: &dyn Fn() -> String,
) -> Scrape {
    let deadline = Instant::now() + patience;
    loop {
        let after = scrape(addr);
        let problems = not_moved(before, &after, cannot_move);
        if problems.is_empty() {
            return after;
        }
        if Instant::now() >= deadline {
            panic!(
                "metrics that should have moved did not:\n  {}\nleft out on purpose:\n  {}\n\
                 before:\n{}\nafter:\n{}\n{}",
                problems.join("\n  "),
                cannot_move
                    .iter()
                    .map(|(w, why)| format!("{w:?}: {why}"))
                    .collect::<Vec<_>>()
                    .join("\n  "),
                before.text,
                after.text,
                context()
            );
        }
        std::thread::sleep(Duration::from_millis(250));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEXT: &str = "# HELP tracer_events Events.\n# TYPE tracer_events counter\n\
        tracer_events_total{code=\"log\",arch=\"x86_64\",source=\"audit\"} 3\n\
        tracer_events_total{code=\"errno\",arch=\"i386\",source=\"audit\"} 2\n\
        tracer_events_lost_total{stage=\"sink\"} 7\n\
        tracer_last_event_timestamp_seconds 1795721568.403\n# EOF\n";

    #[test]
    fn sums_the_series_a_watch_selects() {
        let scrape = Scrape {
            text: TEXT.into(),
            samples: parse(TEXT).unwrap(),
        };
        assert_eq!(scrape.total(EVENTS), Some(5.0));
        assert_eq!(scrape.total(LOST_SINK), Some(7.0));
        assert_eq!(scrape.total(LOST_KERNEL_AUDIT), None);
        assert_eq!(scrape.total(LAST_EVENT), Some(1795721568.403));
    }

    #[test]
    fn names_what_did_not_move() {
        let before = Scrape {
            text: TEXT.into(),
            samples: parse(TEXT).unwrap(),
        };
        let problems = not_moved(&before, &before, &[(LOST_SINK, "no sink")]);
        assert!(problems.iter().any(|p| p.contains("tracer_events_total")));
        assert!(
            !problems.iter().any(|p| p.contains("\"sink\"")),
            "{problems:?}"
        );
        assert!(
            problems
                .iter()
                .any(|p| p.contains("ring_buffer") && p.contains("not exported"))
        );
    }

    #[test]
    fn reads_chunked_bodies() {
        assert_eq!(
            dechunk("5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n"),
            "hello world"
        );
    }
}
