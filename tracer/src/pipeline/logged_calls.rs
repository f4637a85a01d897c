//! Details of logged calls on the audit source. A logged call goes ahead, so no hook runs with
//! the filter's decision; the kernel programs can only report the entries of calls of the
//! (arch, system call) pairs the audit source saw logged before ([`LoggedCalls`]), most of
//! which the filter allowed without logging. [`Entries`] holds those entries for a while, and
//! gives a logged call's record the details of the one entry that can be its call.

use std::collections::{HashMap, HashSet, VecDeque};

use aya::maps::{HashMap as BpfHashMap, MapData};
use chrono::{DateTime, TimeDelta, Utc};
use tokio::time::{Duration, Instant};
use tracer_common::{LOGGED_CALLS_CAPACITY, call_key};

use crate::events::{Arch, Event};

/// Where an entry's time may lie from its record's, in microseconds. The record's time is
/// `CLOCK_REALTIME_COARSE` when seccomp ran (the last tick: up to one tick behind), cut to the
/// millisecond; the entry's is the boot clock a few microseconds later, converted with the
/// offset read when userspace received it. So an entry comes 0 to 5 ms after its record at
/// 250 Hz, and 0 to 11 ms at 100 Hz, the slowest tick a kernel is built with. Measured on a
/// 250 Hz kernel, 300 logged calls idle and under load: 0.7 to 4.6 ms. The millisecond before
/// allows for the offset moving between the two reads (an NTP slew).
pub(super) const WINDOW_US: (i64, i64) = (-1_000, 11_000);
/// How far out of time order entries may reach userspace: each takes its time before its slot
/// in the ring buffer, a few microseconds apart.
const ORDER_SLACK_US: i64 = 1_000;
/// How long an entry is held after it arrived: a record resolves one wait after it arrived,
/// and may have arrived up to one wait after its entry.
const ENTRY_WAIT: Duration = Duration::from_millis(600);
/// Entries held at most: past it the oldest is forgotten, and records that might have been its
/// call get no details, since what it said is no longer known.
const MAX_ENTRIES: usize = 32768;

/// The pairs the kernel programs report the entries of, and the handle to tell them.
#[derive(Default)]
pub struct LoggedCalls {
    map: Option<Kernel>,
    watched: HashSet<u64>,
    /// Pairs seen logged that found the map full.
    unwatched: u64,
}

enum Kernel {
    Map(BpfHashMap<MapData, u64, u8>),
    /// Takes every pair without a kernel: the correlator's tests.
    #[cfg(test)]
    Pretend,
}

/// What became of a pair seen logged.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Watch {
    /// Watched before this call was made: its entry may have been reported.
    Watched,
    /// Watched from now on: no entry of this call was reported.
    New,
    /// Not watched: no map, no room, or no arch to key it with.
    Unwatched,
}

impl LoggedCalls {
    pub fn new(map: BpfHashMap<MapData, u64, u8>) -> Self {
        Self {
            map: Some(Kernel::Map(map)),
            ..Self::default()
        }
    }

    #[cfg(test)]
    pub fn pretend() -> Self {
        Self {
            map: Some(Kernel::Pretend),
            ..Self::default()
        }
    }

    /// Has the kernel programs report the entries of `(arch, nr)` from now on. Rare: once per
    /// pair a filter logs, so the map update runs here rather than in a task of its own.
    pub fn watch(&mut self, arch: Arch, nr: u32) -> Watch {
        let (Some(map), Some(raw_arch)) = (&mut self.map, arch.audit_value()) else {
            return Watch::Unwatched;
        };
        let key = call_key(raw_arch, nr);
        if self.watched.contains(&key) {
            return Watch::Watched;
        }
        if self.watched.len() >= LOGGED_CALLS_CAPACITY as usize {
            self.unwatched += 1;
            if self.unwatched == 1 {
                tracing::warn!(
                    "filters log calls of more than {LOGGED_CALLS_CAPACITY} (arch, system call) \
                     pairs: logged calls of the others have no details"
                );
            }
            return Watch::Unwatched;
        }
        match map {
            Kernel::Map(map) => {
                if let Err(error) = map.insert(key, 0, 0) {
                    // The pair stays unwatched; the next logged call of it tries again.
                    tracing::warn!(
                        "logged calls of {arch} {nr} will have no details: {}",
                        crate::error_chain::Chain(&error)
                    );
                    return Watch::Unwatched;
                }
            }
            #[cfg(test)]
            Kernel::Pretend => {}
        }
        self.watched.insert(key);
        Watch::New
    }
}

/// What identifies a call in both its audit record and its entry: the record names the
/// process, the call, its arch and where in the caller it was made.
type CallKey = (u32, u32, Arch, u64);

fn key_of(event: &Event) -> Option<CallKey> {
    Some((event.pid, event.syscall_nr, event.arch, event.ip?))
}

struct Entry {
    event: Event,
    /// Whether a record's window held it: an entry no record wanted is a call the filter
    /// allowed without logging it.
    wanted: bool,
}

/// The entries of watched calls, by call, for a while after they arrived.
#[derive(Default)]
pub struct Entries {
    by_call: HashMap<CallKey, VecDeque<Entry>>,
    /// Every held entry's call and when it is let go, in arrival order.
    order: VecDeque<(Instant, CallKey)>,
    /// The latest time of an entry forgotten for room before its wait was over.
    forgotten_until: Option<DateTime<Utc>>,
    /// Entries let go that no record wanted.
    unwanted: u64,
    /// The kernel programs' count of records that found the ring buffer full, when last told.
    lost: u64,
}

impl Entries {
    pub fn push(&mut self, event: Event, now: Instant) {
        self.prune(now);
        let Some(key) = key_of(&event) else {
            // Unreadable registers: nothing to tell the call apart by.
            self.unwanted += 1;
            return;
        };
        if self.order.len() >= MAX_ENTRIES
            && let Some(forgotten) = self.pop_oldest()
        {
            self.forgotten_until = self.forgotten_until.max(Some(forgotten.event.timestamp));
        }
        self.by_call.entry(key).or_default().push_back(Entry {
            event,
            wanted: false,
        });
        self.order.push_back((now + ENTRY_WAIT, key));
    }

    /// The kernel programs have lost `total` records so far, as seen at `now`. Records they
    /// lost since they were last told about may be entries of calls made until `now`.
    pub fn lost(&mut self, total: u64, now: DateTime<Utc>) {
        if total > self.lost {
            self.lost = total;
            self.forgotten_until = self.forgotten_until.max(Some(now));
        }
    }

    /// Lets go of the entries whose wait is over.
    pub fn prune(&mut self, now: Instant) {
        while self.order.front().is_some_and(|(until, _)| *until <= now) {
            self.pop_oldest();
        }
    }

    fn pop_oldest(&mut self) -> Option<Entry> {
        let (_, key) = self.order.pop_front()?;
        let calls = self.by_call.get_mut(&key)?;
        let entry = calls.pop_front();
        if calls.is_empty() {
            self.by_call.remove(&key);
        }
        if entry.as_ref().is_some_and(|entry| !entry.wanted) {
            self.unwanted += 1;
        }
        entry
    }

    /// The entry of the call `record` logged: the one entry of the same process, call, arch
    /// and ip whose time fits the record's. `None` when there is none, and when several with
    /// different details fit (calls from one place in quick succession cannot be told apart:
    /// the details would be a guess).
    pub fn of_record(&mut self, record: &Event) -> Option<Event> {
        let key = key_of(record)?;
        let us = TimeDelta::microseconds;
        let (from, to) = (
            record.timestamp + us(WINDOW_US.0),
            record.timestamp + us(WINDOW_US.1),
        );
        if self.forgotten_until.is_some_and(|until| until >= from) {
            return None;
        }
        let calls = self.by_call.get_mut(&key)?;
        let start = calls.partition_point(|e| e.event.timestamp < from - us(ORDER_SLACK_US));
        let mut found: Option<usize> = None;
        let mut ambiguous = false;
        for at in start..calls.len() {
            let time = calls[at].event.timestamp;
            if time > to + us(ORDER_SLACK_US) {
                break;
            }
            if time < from || time > to {
                continue;
            }
            calls[at].wanted = true;
            match found {
                None => found = Some(at),
                Some(first) if same_details(&calls[first].event, &calls[at].event) => {}
                Some(_) => ambiguous = true,
            }
        }
        if ambiguous {
            return None;
        }
        found.map(|at| calls[at].event.clone())
    }

    /// Entries let go so far that no record wanted.
    pub fn unwanted(&self) -> u64 {
        self.unwanted
    }
}

/// Whether two entries would give a record the same details, thread included.
fn same_details(a: &Event, b: &Event) -> bool {
    let who = |e: &Event| (e.tid, e.ppid, e.mntns_id, e.cgroup_id, e.ns_pid, e.ns_ppid);
    let what = |e: &Event| (e.args, e.path.clone(), e.path_truncated, e.dirfd);
    let what_ran = |e: &Event| (e.exe.clone(), e.cmdline.clone(), e.parent_comm.clone());
    who(a) == who(b) && what(a) == what(b) && what_ran(a) == what_ran(b)
}
