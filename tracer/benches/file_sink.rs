//! The file sink's throughput: events handed to its queue, formatted as JSON lines by its thread
//! and appended to a file on disk, rotating every 64 MiB with two backups kept. A batch counts
//! once the sink has written all of it, so the figure is what the sink's one thread sustains.

use std::{
    hint::black_box,
    sync::Arc,
    time::{Duration, Instant},
};

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use tracer::{
    events::{Container, Decoder, Event, clock::WallClock},
    sink::{
        Sinks,
        file::{FileOptions, FileSink},
    },
};
use tracer_common::{COMM_LEN, HEADER_BYTES, RawSeccompEvent, detail, source};

const BATCH: usize = 1024;
/// How many batches the sink may lag behind: far fewer than its queue holds.
const BATCHES_AHEAD: u64 = 16;

/// Events like a busy node's: half are refusals with every detail, all in a container.
fn events() -> Vec<Arc<Event>> {
    let decoder = Decoder::new(
        "node-1".into(),
        WallClock::with_offset_ns(1_700_000_000_000_000_000),
    );
    let container = Arc::new(Container {
        runtime: "docker",
        id: format!("{:064x}", 7),
        name: "web-7".into(),
        image: "registry.example/web:1.2".into(),
        labels: [("app".to_owned(), "web".to_owned())].into(),
        file_dirs: Vec::new(),
    });
    (0..BATCH)
        .map(|i| {
            let mut comm = [0; COMM_LEN];
            comm[..4].copy_from_slice(b"java");
            let detailed = i % 2 == 1;
            let (path, exe, cmdline): (&[u8], &[u8], &[u8]) = if detailed {
                (
                    b"/var/lib/app/cache/0001",
                    b"java\0bin\0jre\0openjdk\0jvm\0lib\0usr\0",
                    b"java\0-Xmx2g\0-jar\0/srv/app.jar\0--port=8080\0",
                )
            } else {
                (b"", b"", b"")
            };
            let raw = RawSeccompEvent {
                boot_ns: 1_000_000 + i as u64,
                cgroup_id: 4242,
                pid: 1000 + i as u32,
                tid: 1000 + i as u32,
                ppid: 1,
                mntns_id: 4_026_532_000,
                syscall_nr: 83,
                arch: 0xc000_003e,
                code: if detailed { 0x0005_0001 } else { 0x7ffc_0000 },
                source: source::FENTRY,
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
                details: if detailed {
                    detail::ARGS
                        | detail::RET
                        | detail::NS_PIDS
                        | detail::PARENT_COMM
                        | detail::PATH
                        | detail::EXE
                        | detail::CMDLINE
                } else {
                    0
                },
                ..Default::default()
            };
            // SAFETY: RawSeccompEvent is plain integers without padding.
            let header = unsafe {
                std::slice::from_raw_parts(
                    (&raw as *const RawSeccompEvent).cast::<u8>(),
                    HEADER_BYTES,
                )
            };
            let record = [header, path, exe, cmdline].concat();
            let mut event = decoder.decode_bytes(&record).expect("a valid record");
            event.container = Some(Arc::clone(&container));
            Arc::new(event)
        })
        .collect()
}

fn file_sink(c: &mut Criterion) {
    let events = events();
    // Cargo's scratch directory for benches, beside the build on a real disk (/tmp may be
    // memory).
    let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("file-sink-bench");
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("creating the bench's directory");
    let sink = FileSink::open(FileOptions {
        path: dir.join("events.jsonl"),
        max_size: 64 << 20,
        max_backups: 2,
        max_age: None,
        compress: false,
        mode: 0o600,
    })
    .expect("opening the bench's file");
    let mut sinks = Sinks::start(vec![Box::new(sink)]).expect("starting the sink");
    let mut group = c.benchmark_group("file_sink");
    group.throughput(Throughput::Elements(BATCH as u64));
    group.bench_function("json+append", |b| {
        b.iter_custom(|batches| {
            let start = Instant::now();
            let mut sent = sinks.written();
            for _ in 0..batches {
                for event in &events {
                    sinks.send(black_box(event));
                }
                sent += BATCH as u64;
                wait_for_sink(&sinks, sent.saturating_sub(BATCHES_AHEAD * BATCH as u64));
            }
            wait_for_sink(&sinks, sent);
            start.elapsed()
        })
    });
    group.finish();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .expect("a runtime to close the sink");
    runtime.block_on(sinks.close(Duration::from_secs(5)));
    let _ = std::fs::remove_dir_all(&dir);
}

fn wait_for_sink(sinks: &Sinks, written: u64) {
    // Polled gently: the count sits behind a lock the sink takes on every write.
    while sinks.written() < written {
        std::thread::sleep(Duration::from_micros(20));
    }
}

criterion_group!(benches, file_sink);
criterion_main!(benches);
