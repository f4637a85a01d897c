//! Userspace cost per event: decode, then format as columns or JSON, on synthetic raw records
//! shaped like the kernel's. `copy` (moving the raw bytes, nothing else) is the baseline the
//! others are compared with in the same run.

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use tracer::{
    events::{Decoder, clock::WallClock},
    output::OutputFormat,
};
use tracer_common::{COMM_LEN, RawSeccompEvent, source};

const BATCH: usize = 1024;

/// A mix like a busy node's: several commands, architectures, actions and unknown numbers.
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
            let raw = RawSeccompEvent {
                boot_ns: 1_000_000 + i as u64,
                cgroup_id: 4242,
                pid: 1000 + i as u32,
                tid: 1000 + i as u32,
                ppid: 1,
                uid: 0,
                gid: 0,
                mntns_id: 4_026_532_000 + (i % 7) as u32,
                syscall_nr,
                arch,
                code: codes[i % codes.len()],
                signal: if i % 2 == 0 { 31 } else { 0 },
                source: source::FENTRY,
                read_errors: 0,
                comm,
            };
            // SAFETY: RawSeccompEvent is plain integers without padding.
            let bytes = unsafe {
                std::slice::from_raw_parts(
                    (&raw as *const RawSeccompEvent).cast::<u8>(),
                    size_of::<RawSeccompEvent>(),
                )
            };
            bytes.to_vec()
        })
        .collect()
}

fn bench(c: &mut Criterion) {
    let records = records();
    let decoder = Decoder::new(
        "node-1".into(),
        WallClock::with_offset_ns(1_700_000_000_000_000_000),
    );
    let mut group = c.benchmark_group("per_event");
    group.throughput(Throughput::Elements(BATCH as u64));

    group.bench_function("copy", |b| {
        let mut out = Vec::with_capacity(BATCH * 128);
        b.iter(|| {
            out.clear();
            for record in &records {
                out.extend_from_slice(black_box(record));
            }
            black_box(&out);
        })
    });
    group.bench_function("decode", |b| {
        b.iter(|| {
            for record in &records {
                black_box(decoder.decode_bytes(black_box(record)).unwrap());
            }
        })
    });
    for format in ["columns", "json"] {
        let mut formatter = format.parse::<OutputFormat>().unwrap().formatter();
        group.bench_function(format!("decode+{format}"), |b| {
            let mut out = Vec::with_capacity(BATCH * 512);
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

criterion_group!(benches, bench);
criterion_main!(benches);
