//! The windows and buckets, driven by a clock the tests set: no test sleeps.

use std::{sync::Arc, time::Duration};

use chrono::DateTime;

use super::*;
use crate::{
    events::{Arch, Container, summary::HeldBack},
    test_support::sample_event,
};

struct Run {
    volume: Volume,
    start: Instant,
    passed: Vec<Event>,
    summaries: Vec<Event>,
    held: u64,
}

fn clock(start: Instant, ms: u64) -> Clock {
    let now = start + Duration::from_millis(ms);
    Clock {
        now,
        wall: DateTime::from_timestamp_nanos(1_700_000_000_000_000_000 + ms as i64 * 1_000_000),
    }
}

impl Run {
    fn new(options: VolumeOptions) -> Self {
        Self {
            volume: Volume::new(&options),
            start: Instant::now(),
            passed: Vec::new(),
            summaries: Vec::new(),
            held: 0,
        }
    }

    fn dedup(window_ms: u64) -> Self {
        Self::new(VolumeOptions {
            dedup: Some(Duration::from_millis(window_ms)),
            rate_limit: None,
        })
    }

    fn push(&mut self, event: Event, ms: u64) {
        match self.volume.push(event, clock(self.start, ms)) {
            Verdict::Pass(event) => self.passed.push(event),
            Verdict::Held(_) => self.held += 1,
        }
        self.take_summaries();
    }

    /// The pipeline's timer firing at `ms`.
    fn tick(&mut self, ms: u64) {
        self.volume.summarize_due(clock(self.start, ms));
        self.take_summaries();
    }

    fn stop(&mut self, ms: u64) {
        self.volume.summarize_all(clock(self.start, ms));
        self.take_summaries();
    }

    fn take_summaries(&mut self) {
        while let Some(summary) = self.volume.pop_summary() {
            self.summaries.push(summary);
        }
    }

    fn counted(&self) -> u64 {
        self.summaries.iter().map(|s| held(s).count).sum()
    }

    fn next_due_ms(&self) -> Option<u64> {
        self.volume
            .next_due()
            .map(|at| at.duration_since(self.start).as_millis() as u64)
    }
}

fn held(summary: &Event) -> &HeldBack {
    &summary.summary.as_ref().expect("a summary").summary
}

fn call(container: Option<&str>, syscall_nr: u32, pid: u32) -> Event {
    let mut event = sample_event();
    event.code = SeccompAction::Log;
    event.syscall_nr = syscall_nr;
    event.pid = pid;
    event.set_container(container.map(|name| {
        Arc::new(Container {
            runtime: "docker",
            id: format!("id-{name}"),
            name: name.into(),
            ..Container::default()
        })
    }));
    event.on_host = container.is_none();
    event
}

fn wall_ms(event: &Event) -> i64 {
    (event.timestamp.timestamp_nanos_opt().unwrap() - 1_700_000_000_000_000_000) / 1_000_000
}

#[test]
fn a_flood_is_its_first_call_and_one_summary_per_window() {
    let mut run = Run::dedup(1000);
    // 10,000 calls over 3.5 s, the timer firing every 100 ms as the pipeline's would.
    for i in 0..10_000u64 {
        let ms = i * 35 / 100;
        run.push(call(Some("web"), 39, 100 + (i % 7) as u32), ms);
        if i % 1000 == 0 {
            run.tick(ms);
        }
    }
    assert_eq!(run.passed.len(), 1, "only the first call goes out");
    // The windows closing at 1, 2 and 3 s held calls back; the one open at 3.5 s goes at stop.
    run.tick(3600);
    assert_eq!(run.summaries.len(), 3);
    assert_eq!(run.next_due_ms(), Some(4000));
    run.stop(3700);
    assert_eq!(run.summaries.len(), 4);
    assert_eq!(
        1 + run.counted(),
        10_000,
        "first call + summaries = the flood"
    );
    assert_eq!(run.held, 9_999);
    let dates: Vec<_> = run.summaries.iter().map(wall_ms).collect();
    assert_eq!(
        dates,
        [1000, 2000, 3000, 3700],
        "dated when each window closed"
    );
    let first = held(&run.summaries[0]);
    assert_eq!(first.reason, Reason::Dedup);
    assert_eq!(first.pids, [101, 102, 103, 104, 105], "a few pids, bounded");
    assert!(run.summaries.iter().all(|s| s.syscall_nr == 39));
}

#[test]
fn a_summary_comes_without_another_call() {
    let mut run = Run::dedup(1000);
    run.push(call(Some("web"), 39, 1), 0);
    run.push(call(Some("web"), 39, 1), 10);
    assert_eq!(run.next_due_ms(), Some(1000));
    run.tick(999);
    assert!(run.summaries.is_empty());
    run.tick(1000);
    assert_eq!(run.summaries.len(), 1);
    assert_eq!(held(&run.summaries[0]).count, 1);
    // The next window held nothing: it closes the key, with no summary.
    run.tick(2000);
    assert_eq!(run.summaries.len(), 1);
    assert_eq!(run.next_due_ms(), None);
    run.push(call(Some("web"), 39, 1), 2500);
    assert_eq!(
        run.passed.len(),
        2,
        "a quiet key's next call goes out at once"
    );
}

#[test]
fn a_late_timer_still_dates_and_counts_by_window() {
    let mut run = Run::dedup(1000);
    run.push(call(Some("web"), 39, 1), 0);
    run.push(call(Some("web"), 39, 1), 500);
    // The pipeline was busy until 1.3 s: the next call closes the first window before it
    // counts in the second.
    run.push(call(Some("web"), 39, 1), 1300);
    assert_eq!(run.summaries.len(), 1);
    assert_eq!(wall_ms(&run.summaries[0]), 1000);
    assert_eq!(held(&run.summaries[0]).count, 1);
    // Much later: the second window's summary, and the key closed.
    run.tick(5000);
    assert_eq!(run.summaries.len(), 2);
    assert_eq!(wall_ms(&run.summaries[1]), 2000);
    run.push(call(Some("web"), 39, 1), 5001);
    assert_eq!(run.passed.len(), 2);
}

#[test]
fn keys_are_container_syscall_code_and_arch() {
    let mut run = Run::dedup(1000);
    let base = call(Some("web"), 39, 1);
    let mut variants = vec![
        base.clone(),
        call(Some("db"), 39, 1),
        call(Some("web"), 40, 1),
        call(None, 39, 1),
    ];
    let mut errno = base.clone();
    errno.code = SeccompAction::Errno;
    variants.push(errno);
    let mut i386 = base.clone();
    i386.arch = Arch::I386;
    variants.push(i386);
    let mut unnamed = base.clone();
    unnamed.set_container(None);
    unnamed.on_host = false;
    variants.push(unnamed.clone());
    let mut other_unnamed = unnamed;
    other_unnamed.mntns_id = Some(1);
    variants.push(other_unnamed);
    for event in &variants {
        run.push(event.clone(), 1);
    }
    assert_eq!(run.passed.len(), variants.len(), "each is a key of its own");
    // The same container under a new name (its Arc replaced) is the same key; host
    // processes in different namespaces are one key.
    let mut renamed = base.clone();
    let mut container = (**base.container.as_ref().unwrap()).clone();
    container.name = "web-renamed".into();
    renamed.set_container(Some(Arc::new(container)));
    run.push(renamed, 2);
    let mut other_host = call(None, 39, 2);
    other_host.mntns_id = Some(99);
    run.push(other_host, 2);
    assert_eq!(run.passed.len(), variants.len());
    assert_eq!(run.held, 2);
}

#[test]
fn kills_pass_at_once_and_are_not_counted() {
    let mut run = Run::new(VolumeOptions {
        dedup: Some(Duration::from_secs(1)),
        rate_limit: Some(RateLimitOptions {
            rate: "1/s".parse().unwrap(),
            burst: 1,
            key: RateKeyKind::Container,
        }),
    });
    for ms in 0..100 {
        let mut kill = call(Some("web"), 272, 1);
        kill.code = if ms % 2 == 0 {
            SeccompAction::KillThread
        } else {
            SeccompAction::KillProcess
        };
        run.push(kill, ms);
        run.push(call(Some("web"), 39, 1), ms);
    }
    let kills = run.passed.iter().filter(|e| e.syscall_nr == 272).count();
    assert_eq!(kills, 100, "every kill goes out");
    assert_eq!(run.passed.len(), 101, "and one logged call");
    run.stop(100);
    assert_eq!(run.counted(), 99);
}

#[test]
fn the_rate_limit_passes_the_burst_then_the_rate_and_counts_the_rest() {
    let mut run = Run::new(VolumeOptions {
        dedup: None,
        rate_limit: Some(RateLimitOptions {
            rate: "10/s".parse().unwrap(),
            burst: 5,
            key: RateKeyKind::ContainerSyscall,
        }),
    });
    // 1,000 calls a second for 3 s in one container, 20 of another call beside them.
    for ms in 0..3000u64 {
        run.push(call(Some("web"), 39, 1), ms);
        if ms % 150 == 0 {
            run.push(call(Some("web"), 40, 2), ms);
        }
        if ms % 100 == 0 {
            run.tick(ms);
        }
    }
    let getppid = run.passed.iter().filter(|e| e.syscall_nr == 39).count() as u64;
    // The burst, then 10 a second.
    assert!((34..=35).contains(&getppid), "{getppid}");
    assert_eq!(
        run.passed.iter().filter(|e| e.syscall_nr == 40).count(),
        20,
        "another key's bucket is its own"
    );
    run.stop(3000);
    assert_eq!(
        getppid + run.counted(),
        3000,
        "passed + held back = delivered"
    );
    assert!(
        run.summaries
            .iter()
            .all(|s| held(s).reason == Reason::RateLimit)
    );
    // One summary a second at most.
    assert!(run.summaries.len() <= 4, "{}", run.summaries.len());
}

#[test]
fn dedup_then_the_rate_limit_count_each_call_once() {
    let mut run = Run::new(VolumeOptions {
        dedup: Some(Duration::from_millis(100)),
        rate_limit: Some(RateLimitOptions {
            rate: "1/s".parse().unwrap(),
            burst: 1,
            key: RateKeyKind::Container,
        }),
    });
    for ms in 0..2000u64 {
        run.push(call(Some("web"), 39 + (ms % 3) as u32, 1), ms);
        run.tick(ms);
    }
    run.stop(2000);
    let reasons = |reason| {
        run.summaries
            .iter()
            .filter(|s| held(s).reason == reason)
            .map(|s| held(s).count)
            .sum::<u64>()
    };
    assert!(reasons(Reason::Dedup) > 0 && reasons(Reason::RateLimit) > 0);
    assert_eq!(
        run.passed.len() as u64 + run.counted(),
        2000,
        "each call went out or is in exactly one summary"
    );
    assert_eq!(run.held, run.counted());
}

#[test]
fn rates_read_as_people_write_them() {
    assert_eq!("100/s".parse::<Rate>().unwrap().per_second, 100.0);
    assert_eq!("30/m".parse::<Rate>().unwrap().per_second, 0.5);
    assert_eq!("0.5/s".parse::<Rate>().unwrap().per_second, 0.5);
    for bad in ["100", "0/s", "-1/s", "x/s", "10/d", "inf/s"] {
        let err = bad.parse::<Rate>().unwrap_err().to_string();
        assert!(err.contains("such as 100/s"), "{bad}: {err}");
    }
}
