//! Userspace cost per event, on synthetic raw records shaped like the kernel's. `copy` (moving
//! the raw bytes, nothing else) is the baseline the others are compared with in the same run.
//!
//! - `per_event`: decode, then format as columns or JSON, on one thread.
//! - `end_to_end`: the path a ring buffer record takes in a run: the pipeline decodes it,
//!   enriches it (its container found in the index, no runtime asked), filters it and hands it
//!   to the stdout sink's thread, which formats it as JSON and writes it to /dev/null; a batch
//!   counts once the sink has written all of it.

use std::{
    hint::black_box,
    sync::{Arc, Mutex},
    time::Instant,
};

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use tracer::{
    enrich::{ContainerIndex, Enricher, whereabouts::Whereabouts},
    events::{Container, Decoder, clock::WallClock},
    filter::Filter,
    output::OutputFormat,
    pipeline::{Pipeline, correlate::Correlator},
    sink::{Sinks, stdout::Stdout},
    source::RawRecord,
};
use tracer_common::{COMM_LEN, HEADER_BYTES, RawSeccompEvent, detail, source};

const BATCH: usize = 1024;
/// How many batches the sink may lag behind in `end_to_end`: far fewer than its queue holds.
const BATCHES_AHEAD: u64 = 16;
/// Mount namespaces the records come from, one container each.
const NAMESPACES: u32 = 7;
const FIRST_NAMESPACE: u32 = 4_026_532_000;

/// A mix like a busy node's: several commands, architectures, actions and unknown numbers; half
/// the records carry every detail and the strings after the header, as refusals do.
fn records() -> Vec<Vec<u8>> {
    let comms: [&[u8]; 4] = [b"unshare", b"mkdir", b"java", b"\x1b]2;evil"];
    let calls = [
        (0xc000_003e, 83),
        (0xc000_003e, 272),
        (0x4000_0003, 20),
        (0xc000_003e, 9999),
    ];
    let codes = [0x7ffc_0000, 0, 0x8000_0000, 0x0005_0001];
    (0..BATCH)
        .map(|i| {
            let mut comm = [0; COMM_LEN];
            let name = comms[i % comms.len()];
            comm[..name.len()].copy_from_slice(name);
            let (arch, syscall_nr) = calls[i % calls.len()];
            let (path, exe, cmdline): (&[u8], &[u8], &[u8]) = if i % 2 == 0 {
                (b"", b"", b"")
            } else {
                (
                    b"/var/lib/app/cache/0001",
                    b"java\0bin\0jre\0openjdk\0jvm\0lib\0usr\0",
                    b"java\0-Xmx2g\0-jar\0/srv/app.jar\0--port=8080\0",
                )
            };
            let details = if i % 2 == 0 {
                0
            } else {
                detail::ARGS
                    | detail::RET
                    | detail::NS_PIDS
                    | detail::PARENT_COMM
                    | detail::PATH
                    | detail::EXE
                    | detail::CMDLINE
            };
            let raw = RawSeccompEvent {
                boot_ns: 1_000_000 + i as u64,
                cgroup_id: 4242,
                pid: 1000 + i as u32,
                tid: 1000 + i as u32,
                ppid: 1,
                uid: 0,
                gid: 0,
                mntns_id: FIRST_NAMESPACE + i as u32 % NAMESPACES,
                syscall_nr,
                arch,
                code: codes[i % codes.len()],
                signal: if i % 2 == 0 { 31 } else { 0 },
                source: source::FENTRY,
                read_errors: 0,
                comm,
                parent_comm: comm,
                args: [0xffff_ffff_ffff_ff9c, 0x7ffd_3a2b_1c40, 0o755, 0, 0, 0],
                ip: 0x7f3c_8e1d_2a37,
                ret: -1,
                ns_pid: 7,
                ns_ppid: 1,
                path_len: path.len() as u16,
                exe_len: exe.len() as u16,
                cmdline_len: cmdline.len() as u16,
                details,
                ..Default::default()
            };
            // SAFETY: RawSeccompEvent is plain integers without padding.
            let header = unsafe {
                std::slice::from_raw_parts(
                    (&raw as *const RawSeccompEvent).cast::<u8>(),
                    HEADER_BYTES,
                )
            };
            [header, path, exe, cmdline].concat()
        })
        .collect()
}

fn decoder() -> Decoder {
    Decoder::new(
        "node-1".into(),
        WallClock::with_offset_ns(1_700_000_000_000_000_000),
    )
}

fn copy(
    c: &mut criterion::BenchmarkGroup<'_, criterion::measurement::WallTime>,
    records: &[Vec<u8>],
) {
    c.bench_function("copy", |b| {
        let mut out = Vec::with_capacity(BATCH * 320);
        b.iter(|| {
            out.clear();
            for record in records {
                out.extend_from_slice(black_box(record));
            }
            black_box(&out);
        })
    });
}

fn per_event(c: &mut Criterion) {
    let records = records();
    let decoder = decoder();
    let mut group = c.benchmark_group("per_event");
    group.throughput(Throughput::Elements(BATCH as u64));
    copy(&mut group, &records);
    group.bench_function("decode", |b| {
        b.iter(|| {
            for record in &records {
                black_box(decoder.decode_bytes(black_box(record)).unwrap());
            }
        })
    });
    for format in ["columns", "json"] {
        let mut formatter = format.parse::<OutputFormat>().unwrap().formatter().unwrap();
        group.bench_function(format!("decode+{format}"), |b| {
            let mut out = Vec::with_capacity(BATCH * 1024);
            b.iter(|| {
                out.clear();
                for record in &records {
                    let event = decoder.decode_bytes(black_box(record)).unwrap();
                    formatter.event(&event, &mut out);
                }
                black_box(&out);
            })
        });
    }
    group.finish();
}

/// The container index a runtime would have filled: one container per namespace.
fn index() -> Arc<Mutex<ContainerIndex>> {
    let mut index = ContainerIndex::default();
    for n in 0..NAMESPACES {
        let container = Container {
            runtime: "docker",
            id: format!("{n:064x}"),
            name: format!("web-{n}"),
            image: "registry.example/web:1.2".into(),
            labels: [("app".to_owned(), "web".to_owned())].into(),
            file_dirs: Vec::new(),
        };
        index.upsert(container, Some(FIRST_NAMESPACE + n));
    }
    Arc::new(Mutex::new(index))
}

fn end_to_end(c: &mut Criterion) {
    let records = records();
    let mut group = c.benchmark_group("end_to_end");
    group.throughput(Throughput::Elements(BATCH as u64));
    copy(&mut group, &records);
    for format in ["json", "columns"] {
        let formatter = format.parse::<OutputFormat>().unwrap().formatter().unwrap();
        let null = std::fs::File::create("/dev/null").expect("opening /dev/null");
        let sinks = Sinks::start(vec![Box::new(Stdout::to_file(formatter, null))])
            .expect("starting the sink");
        let enricher = Enricher::new(index(), Whereabouts::new(None), None, None);
        let mut pipeline = Pipeline::new(
            decoder(),
            Correlator::new(false, false),
            enricher,
            Filter::new(true, vec![]),
            sinks,
        );
        group.bench_function(format!("ring_buffer+{format}"), |b| {
            b.iter_custom(|batches| {
                let start = Instant::now();
                let mut sent = pipeline.written();
                for _ in 0..batches {
                    for record in &records {
                        pipeline.accept(RawRecord::Kernel(black_box(record)));
                    }
                    pipeline.batch_done();
                    // A stream, as in a run: the sink writes while the next batches are decoded,
                    // a few batches behind (as its queue allows), so the slower thread sets the
                    // pace.
                    sent += BATCH as u64;
                    wait_for_sink(&pipeline, sent.saturating_sub(BATCHES_AHEAD * BATCH as u64));
                }
                wait_for_sink(&pipeline, sent);
                start.elapsed()
            })
        });
    }
    group.finish();
}

fn wait_for_sink(pipeline: &Pipeline, written: u64) {
    // Polled gently: the count sits behind a lock the sink takes on every write.
    while pipeline.written() < written {
        std::thread::sleep(std::time::Duration::from_micros(20));
    }
}

criterion_group!(benches, per_event, end_to_end);
criterion_main!(benches);
