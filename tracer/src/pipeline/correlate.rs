//! On the audit source, two reports of one call come by two roads: the kernel's audit record
//! (netlink, through kauditd) and the kernel programs' record (the ring buffer) of a killed
//! task's details or of a refusal `--all-denials` saw. They are matched here by process,
//! system call and arch, so each call goes out once, with the record's action and the
//! program's details.
//!
//! Either may come first, so each waits a short while for the other. What finds no match goes
//! out on its own when its wait is over: a kill the kernel did not audit is still a kill.
//!
//! A logged call's record waits too, for the entry of its call ([`logged_calls`]); entries are
//! details only, and never go out on their own.

use std::collections::VecDeque;

use tokio::time::{Duration, Instant};

use super::logged_calls::{Entries, LoggedCalls, Watch};
use crate::{
    enrich::Enriched,
    events::{Event, SeccompAction, Source},
};

/// How long a report waits for its other half. kauditd hands records over within
/// milliseconds; refusals and kills wake the ring buffer's reader at once.
pub const MATCH_WAIT: Duration = Duration::from_millis(300);
/// How long a kernel program's report waits at most while audit records keep coming that were
/// made before it: behind a burst, kauditd and the reader of its socket can be seconds behind
/// the ring buffer, and the record of a kill comes only after the burst's.
pub const MAX_RECORD_LAG: Duration = Duration::from_secs(10);
/// Reports held at most: past it the oldest goes out unmatched, so a flood cannot grow memory
/// without bound.
const MAX_HELD: usize = 16384;

struct Held {
    event: Event,
    /// Enrichment ran before the wait, while the caller (and its container) may still exist.
    enriched: Enriched,
    deadline: Instant,
}

/// How far the audit road has come: a program's report waits past its deadline while audit
/// records are still being read and none of them was made after the report.
#[derive(Default)]
struct AuditProgress {
    /// The newest record's time.
    made_up_to: Option<chrono::DateTime<chrono::Utc>>,
    /// When the last record was read.
    read_at: Option<Instant>,
}

impl AuditProgress {
    fn record(&mut self, event: &Event, now: Instant) {
        self.made_up_to = self.made_up_to.max(Some(event.timestamp));
        self.read_at = Some(now);
    }

    /// Until when a program's report held since `held_since` may still get its record: records
    /// come in the order they were made, so once one made after the report was read, or none
    /// came for a match's wait, its record is not on its way.
    fn may_still_come(&self, report: &Event, held_since: Instant, now: Instant) -> Option<Instant> {
        let read_at = self.read_at?;
        let behind = self.made_up_to.is_none_or(|made| made <= report.timestamp);
        let until = (read_at + MATCH_WAIT).min(held_since + MAX_RECORD_LAG);
        (behind && until > now).then_some(until)
    }
}

/// An event with where enrichment left it.
pub type EnrichedEvent = (Event, Enriched);

/// Which road a report came by, and so which it waits for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Road {
    /// An audit record that a kernel program's details may complete.
    Record,
    /// A kernel program's report that an audit record may name.
    Program,
    /// A logged call's audit record, whose details the entry of its call may give when its
    /// wait is over.
    Logged,
}

#[derive(Default)]
pub struct Correlator {
    held: VecDeque<(Road, Held)>,
    /// Whether events come from the kernel's audit records: only then does a call have two
    /// reports (the eBPF hooks report each call once, in the caller).
    audit_records: bool,
    /// Whether `--all-denials` programs run: only then do refusals have a second report.
    all_denials: bool,
    /// Whether the trap signal program runs (`--stack` on the audit source): traps then have
    /// a second report.
    trap_signals: bool,
    /// Trap signal reports no audit record named: a trap the filter did not ask to log.
    unmatched_trap_signals: u64,
    logged_calls: LoggedCalls,
    entries: Entries,
    audit: AuditProgress,
}

impl Correlator {
    pub fn new(audit_records: bool, all_denials: bool) -> Self {
        Self {
            audit: AuditProgress::default(),
            held: VecDeque::new(),
            audit_records,
            all_denials,
            trap_signals: false,
            unmatched_trap_signals: 0,
            logged_calls: LoggedCalls::default(),
            entries: Entries::default(),
        }
    }

    /// With the kernel programs' watch list of logged calls: logged calls then get details
    /// where the entry of the call can be told apart.
    pub fn with_logged_calls(self, logged_calls: LoggedCalls) -> Self {
        Self {
            logged_calls,
            ..self
        }
    }

    /// With the trap signal program's reports, which give a trap's record its details.
    pub fn with_trap_signals(self) -> Self {
        Self {
            trap_signals: true,
            ..self
        }
    }

    /// Takes an enriched event; gives back what may go out now (the event itself, or it merged
    /// with the report it completes).
    pub fn push(
        &mut self,
        event: Event,
        enriched: Enriched,
        now: Instant,
    ) -> Option<EnrichedEvent> {
        if event.source == Source::SyscallEnter {
            // Only the audit source's correlator watches calls, so only it gets entries.
            self.entries.push(event, now);
            return None;
        }
        if event.source == Source::Audit {
            self.audit.record(&event, now);
        }
        let Some(road) = self.road(&event) else {
            return Some((event, enriched));
        };
        let other = match road {
            Road::Record => Road::Program,
            Road::Program => Road::Record,
            Road::Logged => {
                if self.logged_calls.watch(event.arch, event.syscall_nr) != Watch::Watched {
                    // The call was made before its pair was watched: no entry will come.
                    return Some((event, enriched));
                }
                return self.hold(road, event, enriched, now);
            }
        };
        if let Some(at) = self
            .held
            .iter()
            .position(|(held_road, held)| *held_road == other && same_call(&held.event, &event))
        {
            let (_, held) = self.held.remove(at).expect("the position was just found");
            return Some(merge((held.event, held.enriched), (event, enriched)));
        }
        self.hold(road, event, enriched, now)
    }

    /// Holds an event; gives back the oldest held when there is no room for it.
    fn hold(
        &mut self,
        road: Road,
        event: Event,
        enriched: Enriched,
        now: Instant,
    ) -> Option<EnrichedEvent> {
        // Room for the new one: the oldest goes out as it is.
        let out = (self.held.len() >= MAX_HELD)
            .then(|| self.pop_any())
            .flatten();
        self.held.push_back((
            road,
            Held {
                event,
                enriched,
                deadline: now + MATCH_WAIT,
            },
        ));
        out
    }

    /// Which road an event came by, or `None` for an event that has no second report.
    fn road(&self, event: &Event) -> Option<Road> {
        if !self.audit_records {
            return None;
        }
        match event.source {
            Source::TaskExit => Some(Road::Program),
            Source::SyscallExit if self.all_denials => Some(Road::Program),
            Source::TrapSignal => Some(Road::Program),
            Source::Audit => match event.code {
                SeccompAction::KillProcess | SeccompAction::KillThread => Some(Road::Record),
                // A refusal the kernel audited (the filter asked for it) is seen by
                // --all-denials too, and a trap by the trap signal program.
                SeccompAction::Errno | SeccompAction::Trap if self.all_denials => {
                    Some(Road::Record)
                }
                SeccompAction::Trap if self.trap_signals => Some(Road::Record),
                SeccompAction::Log if self.all_denials => Some(Road::Logged),
                _ => None,
            },
            _ => None,
        }
    }

    /// The next event whose wait is over, in arrival order.
    pub fn pop_expired(&mut self, now: Instant) -> Option<EnrichedEvent> {
        self.entries.prune(now);
        loop {
            let (road, front) = self.held.front()?;
            if front.deadline > now || self.record_may_come(*road, front, now).is_some() {
                return None;
            }
            if front.event.source != Source::TrapSignal {
                return self.pop_any();
            }
            // Details of a trap no record names: not a report of its own.
            self.held.pop_front();
            self.unmatched_trap_signals += 1;
        }
    }

    /// Everything still held: the run is ending.
    pub fn pop_any(&mut self) -> Option<EnrichedEvent> {
        let (road, held) = loop {
            let (road, held) = self.held.pop_front()?;
            if held.event.source != Source::TrapSignal {
                break (road, held);
            }
            self.unmatched_trap_signals += 1;
        };
        let (event, enriched) = (held.event, held.enriched);
        if road == Road::Logged
            && let Some(entry) = self.entries.of_record(&event)
        {
            return Some(merge((event, enriched), (entry, Enriched::Ready)));
        }
        Some((event, enriched))
    }

    /// The kernel programs have lost `total` records so far: if some were entries, the calls
    /// made until now cannot be told apart by what is left.
    pub fn details_lost(&mut self, total: u64) {
        self.entries.lost(total, chrono::Utc::now());
    }

    /// Entries of watched calls let go without a record that wanted them: calls the filter
    /// allowed without logging them, mostly.
    pub fn unwanted_entries(&self) -> u64 {
        self.entries.unwanted()
    }

    /// Trap signal reports let go without a record that wanted them: traps from filters
    /// that do not log them.
    pub fn unmatched_trap_signals(&self) -> u64 {
        self.unmatched_trap_signals
    }

    pub fn next_deadline(&self) -> Option<Instant> {
        let (road, front) = self.held.front()?;
        let lag = self.record_may_come(*road, front, Instant::now());
        Some(lag.unwrap_or(front.deadline).max(front.deadline))
    }

    /// Until when an audit record may still come for a program's report, read behind others.
    fn record_may_come(&self, road: Road, held: &Held, now: Instant) -> Option<Instant> {
        if road != Road::Program {
            return None;
        }
        let held_since = held.deadline - MATCH_WAIT;
        self.audit.may_still_come(&held.event, held_since, now)
    }
}

/// Whether two reports are of the same call: the audit record names the process (not the
/// thread), the call and its arch.
fn same_call(a: &Event, b: &Event) -> bool {
    a.pid == b.pid && a.syscall_nr == b.syscall_nr && a.arch == b.arch
}

/// One event of the two: the audit record's, with the kernel program's details and thread, and
/// the container whichever of them was placed in.
fn merge(a: EnrichedEvent, b: EnrichedEvent) -> EnrichedEvent {
    let ((mut record, record_enriched), (program, program_enriched)) =
        if a.0.source == Source::Audit {
            (a, b)
        } else {
            (b, a)
        };
    record.adopt_details(&program);
    record.tid = record.tid.or(program.tid);
    record.ppid = record.ppid.or(program.ppid);
    record.mntns_id = record.mntns_id.or(program.mntns_id);
    record.cgroup_id = record.cgroup_id.or(program.cgroup_id);
    if record.container.is_none() && program.container.is_some() {
        record.set_container(program.container.clone());
    }
    record.on_host |= program.on_host && record.container.is_none();
    let enriched = match (record_enriched, program_enriched) {
        _ if record.container.is_some() || record.on_host => Enriched::Ready,
        (Enriched::Waiting(id), _) | (_, Enriched::Waiting(id)) => Enriched::Waiting(id),
        _ => Enriched::Ready,
    };
    (record, enriched)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pipeline::logged_calls::WINDOW_US;

    fn event(source: Source, code: SeccompAction) -> Event {
        let mut event = Event::example();
        event.source = source;
        event.code = code;
        event.args = None;
        event
    }

    fn program(source: Source) -> Event {
        let mut event = event(source, SeccompAction::Errno);
        event.args = Some([1, 2, 3, 4, 5, 6]);
        event
    }

    #[test]
    fn a_kill_gets_the_details_whichever_comes_first() {
        let now = Instant::now();
        for record_first in [true, false] {
            let mut correlator = Correlator::new(true, false);
            let record = event(Source::Audit, SeccompAction::KillProcess);
            let details = program(Source::TaskExit);
            let (first, second) = if record_first {
                (record, details)
            } else {
                (details, record)
            };
            assert!(correlator.push(first, Enriched::Ready, now).is_none());
            let merged = correlator
                .push(second, Enriched::Ready, now)
                .expect("the pair is complete")
                .0;
            assert_eq!(merged.source, Source::Audit);
            assert_eq!(merged.code, SeccompAction::KillProcess);
            assert_eq!(merged.args, Some([1, 2, 3, 4, 5, 6]));
            assert!(correlator.pop_any().is_none(), "nothing is left over");
        }
    }

    #[test]
    fn a_trap_signal_completes_the_traps_record_and_never_goes_out_alone() {
        let now = Instant::now();
        let mut correlator = Correlator::new(true, false).with_trap_signals();
        let mut signal = program(Source::TrapSignal);
        signal.code = SeccompAction::Trap;
        assert!(
            correlator
                .push(signal.clone(), Enriched::Ready, now)
                .is_none()
        );
        let merged = correlator
            .push(
                event(Source::Audit, SeccompAction::Trap),
                Enriched::Ready,
                now,
            )
            .expect("merged")
            .0;
        assert_eq!(
            (merged.source, merged.code),
            (Source::Audit, SeccompAction::Trap)
        );
        assert!(merged.args.is_some());
        // One no record names is let go when its wait is over, and counted.
        let mut alone = signal.clone();
        alone.pid += 1;
        assert!(correlator.push(alone, Enriched::Ready, now).is_none());
        let record = event(Source::Audit, SeccompAction::Errno);
        assert!(correlator.push(record, Enriched::Ready, now).is_some());
        assert!(correlator.pop_expired(now + MATCH_WAIT).is_none());
        assert_eq!(correlator.unmatched_trap_signals(), 1);
        assert!(correlator.pop_any().is_none());
    }

    #[test]
    fn an_audited_refusal_seen_twice_goes_out_once() {
        for action in [SeccompAction::Errno, SeccompAction::Trap] {
            let now = Instant::now();
            let mut correlator = Correlator::new(true, true);
            let mut seen_at_exit = program(Source::SyscallExit);
            seen_at_exit.code = action;
            assert!(
                correlator
                    .push(seen_at_exit, Enriched::Ready, now)
                    .is_none()
            );
            let merged = correlator
                .push(event(Source::Audit, action), Enriched::Ready, now)
                .expect("merged")
                .0;
            assert_eq!(merged.source, Source::Audit, "{action:?}");
            assert!(merged.args.is_some(), "{action:?}");
            assert!(correlator.pop_any().is_none(), "{action:?}");
        }
    }

    /// Behind a burst the audit road is seconds late: a kill's details wait for its record as
    /// long as older records are still being read, and go out alone once a newer one is read.
    #[test]
    fn a_kills_details_wait_for_a_record_read_behind_a_burst() {
        let now = Instant::now();
        let details = program(Source::TaskExit);
        let burst_call = |at: Instant, made_ms_before: i64| {
            let mut record = event(Source::Audit, SeccompAction::Log);
            record.pid = details.pid + 1;
            record.timestamp = details.timestamp - chrono::Duration::milliseconds(made_ms_before);
            (record, at)
        };
        for kill_audited in [true, false] {
            let mut correlator = Correlator::new(true, false);
            assert!(
                correlator
                    .push(details.clone(), Enriched::Ready, now)
                    .is_none()
            );
            let mut at = now;
            for step in 0..10 {
                at = now + MATCH_WAIT * step / 2;
                let (record, read_at) = burst_call(at, 50 - i64::from(step));
                assert!(correlator.push(record, Enriched::Ready, read_at).is_some());
                assert!(
                    correlator.pop_expired(at).is_none(),
                    "went out {:?} after it came, with older records still being read",
                    at - now
                );
            }
            assert!(correlator.next_deadline().is_some_and(|d| d > at));
            if kill_audited {
                let record = event(Source::Audit, SeccompAction::KillProcess);
                let merged = correlator
                    .push(record, Enriched::Ready, at)
                    .expect("a pair");
                assert_eq!(merged.0.args, Some([1, 2, 3, 4, 5, 6]));
            } else {
                let (mut newer, _) = burst_call(at, 0);
                newer.timestamp += chrono::Duration::milliseconds(5);
                assert!(correlator.push(newer, Enriched::Ready, at).is_some());
                assert_eq!(
                    correlator.pop_expired(at).map(|(e, _)| e.source),
                    Some(Source::TaskExit),
                    "a record made after the kill was read: its own is not coming"
                );
            }
            assert!(correlator.pop_any().is_none());
        }
        // With nothing read for a match's wait, it goes out.
        let mut correlator = Correlator::new(true, false);
        correlator.push(details.clone(), Enriched::Ready, now);
        let (record, _) = burst_call(now, 10);
        correlator.push(record, Enriched::Ready, now);
        assert!(correlator.pop_expired(now + MATCH_WAIT).is_some());
    }

    #[test]
    fn what_finds_no_match_goes_out_after_the_wait() {
        let now = Instant::now();
        let mut correlator = Correlator::new(true, true);
        assert!(
            correlator
                .push(program(Source::SyscallExit), Enriched::Ready, now)
                .is_none()
        );
        let mut other = event(Source::Audit, SeccompAction::KillThread);
        other.pid += 1;
        assert!(correlator.push(other, Enriched::Ready, now).is_none());
        assert!(correlator.pop_expired(now).is_none(), "still waiting");
        let later = now + MATCH_WAIT;
        assert_eq!(
            correlator.pop_expired(later).map(|(e, _)| e.source),
            Some(Source::SyscallExit)
        );
        assert_eq!(
            correlator.pop_expired(later).map(|(e, _)| e.source),
            Some(Source::Audit)
        );
    }

    #[test]
    fn without_all_denials_refusals_pass_at_once() {
        let now = Instant::now();
        let mut correlator = Correlator::new(true, false);
        let record = event(Source::Audit, SeccompAction::Errno);
        assert!(correlator.push(record, Enriched::Ready, now).is_some());
        let logged = event(Source::Audit, SeccompAction::Log);
        assert!(
            Correlator::new(true, true)
                .push(logged, Enriched::Ready, now)
                .is_some()
        );
    }

    #[test]
    fn the_ebpf_hooks_report_each_call_once_already() {
        let now = Instant::now();
        let mut correlator = Correlator::new(false, true);
        assert!(
            correlator
                .push(program(Source::SyscallExit), Enriched::Ready, now)
                .is_some()
        );
    }

    /// The container is named while the caller still runs, before the wait: a container
    /// whose only process was refused and exited is gone by the time the wait is over.
    #[test]
    fn the_merged_event_keeps_the_container_either_report_found() {
        let now = Instant::now();
        let mut correlator = Correlator::new(true, true);
        let mut record = event(Source::Audit, SeccompAction::Errno);
        record.set_container(None);
        let details = program(Source::SyscallExit);
        let named = details.container.clone();
        assert!(named.is_some());
        assert!(correlator.push(details, Enriched::Ready, now).is_none());
        let (merged, enriched) = correlator
            .push(record, Enriched::Waiting("id".into()), now)
            .expect("merged");
        assert_eq!(merged.container, named);
        assert_eq!(enriched, Enriched::Ready);
    }

    const IP: u64 = 0x7f00_1234;

    /// A correlator on the audit source with `--all-denials`, already watching the example's
    /// call: the first logged record of it went out as it was.
    fn watching() -> Correlator {
        let mut correlator = Correlator::new(true, true).with_logged_calls(LoggedCalls::pretend());
        let first = logged(0);
        let out = correlator.push(first.clone(), Enriched::Ready, Instant::now());
        assert_eq!(
            out.map(|(e, _)| e),
            Some(first),
            "made before it was watched"
        );
        correlator
    }

    /// The audit record of a logged call, `at_us` after the example's time.
    fn logged(at_us: i64) -> Event {
        let mut record = event(Source::Audit, SeccompAction::Log);
        record.timestamp += chrono::TimeDelta::microseconds(at_us);
        record.ip = Some(IP);
        record.tid = None;
        record
    }

    /// The entry of a call with `args`, `at_us` after the example's time.
    fn entry(args: [u64; 6], at_us: i64) -> Event {
        let mut entry = program(Source::SyscallEnter);
        entry.code = SeccompAction::Log;
        entry.args = Some(args);
        entry.ip = Some(IP);
        entry.timestamp += chrono::TimeDelta::microseconds(at_us);
        entry
    }

    /// Pushes `events` in order, then lets every wait end: what came out.
    fn run(correlator: &mut Correlator, events: Vec<Event>) -> Vec<Event> {
        let now = Instant::now();
        let mut out: Vec<Event> = events
            .into_iter()
            .filter_map(|e| correlator.push(e, Enriched::Ready, now))
            .map(|(e, _)| e)
            .collect();
        let later = now + MATCH_WAIT;
        while let Some((event, _)) = correlator.pop_expired(later) {
            out.push(event);
        }
        out
    }

    #[test]
    fn a_logged_call_gets_the_details_of_its_only_entry() {
        for entry_first in [true, false] {
            let mut correlator = watching();
            let (record, details) = (logged(1_000), entry([7; 6], 3_500));
            let events = if entry_first {
                vec![details, record]
            } else {
                vec![record, details]
            };
            let out = run(&mut correlator, events);
            assert_eq!(out.len(), 1, "{out:?}");
            assert_eq!(out[0].source, Source::Audit);
            assert_eq!(out[0].code, SeccompAction::Log);
            assert_eq!(out[0].args, Some([7; 6]));
            assert_eq!(out[0].tid, Some(1), "the entry names the thread");
        }
    }

    #[test]
    fn entries_that_tell_different_things_leave_the_details_null() {
        let mut correlator = watching();
        let out = run(
            &mut correlator,
            vec![entry([7; 6], 1_200), entry([8; 6], 1_900), logged(1_000)],
        );
        assert_eq!(out.len(), 1, "{out:?}");
        assert_eq!((out[0].args, out[0].tid), (None, None), "{:?}", out[0]);

        // The same call made twice from the same place is the same details, either way.
        let mut correlator = watching();
        let out = run(
            &mut correlator,
            vec![entry([7; 6], 1_200), entry([7; 6], 1_900), logged(1_000)],
        );
        assert_eq!(out[0].args, Some([7; 6]));
    }

    #[test]
    fn an_entry_from_elsewhere_or_another_time_is_not_the_calls() {
        let mut elsewhere = entry([7; 6], 1_500);
        elsewhere.ip = Some(IP + 2);
        let mut other_process = entry([7; 6], 1_500);
        other_process.pid += 1;
        for stranger in [
            elsewhere,
            other_process,
            entry([7; 6], 1_000 + WINDOW_US.0 - 1),
            entry([7; 6], 1_000 + WINDOW_US.1 + 1),
        ] {
            let mut correlator = watching();
            let out = run(&mut correlator, vec![stranger.clone(), logged(1_000)]);
            assert_eq!(out.len(), 1, "{out:?}");
            assert_eq!(out[0].args, None, "matched {stranger:?}");
            // And it does not keep the call's own entry from matching.
            let mut correlator = watching();
            let out = run(
                &mut correlator,
                vec![stranger, entry([9; 6], 2_000), logged(1_000)],
            );
            assert_eq!(out[0].args, Some([9; 6]));
        }
    }

    #[test]
    fn entries_never_go_out_on_their_own() {
        let mut correlator = watching();
        let now = Instant::now();
        for at in 0..3 {
            assert!(
                correlator
                    .push(entry([at; 6], 0), Enriched::Ready, now)
                    .is_none()
            );
        }
        assert!(correlator.pop_expired(now + MATCH_WAIT * 10).is_none());
        assert!(correlator.pop_any().is_none());
        assert_eq!(correlator.unwanted_entries(), 3);
        // Neither where no call is watched.
        let mut correlator = Correlator::new(false, true);
        assert!(
            correlator
                .push(entry([1; 6], 0), Enriched::Ready, now)
                .is_none()
        );
        assert!(correlator.pop_any().is_none());
    }

    #[test]
    fn entries_lost_on_the_way_leave_the_details_null() {
        let mut correlator = watching();
        correlator.details_lost(1);
        let out = run(&mut correlator, vec![entry([7; 6], 1_500), logged(1_000)]);
        assert_eq!(out[0].args, None);
    }
}
