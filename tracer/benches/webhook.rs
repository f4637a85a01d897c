//! The webhook sink in batch mode, sending to a receiver on 127.0.0.1: events handed to the
//! sinks until the receiver has answered for all of them. The receiver is as cheap as an HTTP
//! server can be (it reads each request and answers 200), so the figure is tracer's: encoding,
//! batching and the HTTP client.

use std::{
    hint::black_box,
    io::{BufRead as _, BufReader, Read as _, Write as _},
    net::TcpListener,
    sync::Arc,
};

use clap::Parser as _;
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use tracer::{
    cli::{Audit, Cli, Command},
    events::{Decoder, clock::WallClock},
    sink::{Sinks, webhook::Webhook},
};
use tracer_common::{HEADER_BYTES, RawSeccompEvent, source};

/// A multiple of the default batch size (400), so no batch waits for its time to run out.
const EVENTS: usize = 4000;

/// Answers 200 to every request on every connection; returns the URL.
fn receiver() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").expect("binding 127.0.0.1");
    let url = format!("http://{}/events", listener.local_addr().unwrap());
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(stream) = stream else { continue };
            std::thread::spawn(move || {
                let mut reader = BufReader::new(stream);
                let mut line = String::new();
                let mut body = Vec::new();
                loop {
                    let mut length = 0;
                    loop {
                        line.clear();
                        if reader.read_line(&mut line).unwrap_or(0) == 0 {
                            return;
                        }
                        if line == "\r\n" {
                            break;
                        }
                        if let Some((name, value)) = line.split_once(':')
                            && name.eq_ignore_ascii_case("content-length")
                        {
                            length = value.trim().parse().unwrap_or(0);
                        }
                    }
                    body.resize(length, 0);
                    if reader.read_exact(&mut body).is_err() {
                        return;
                    }
                    let answer = b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n";
                    if reader.get_mut().write_all(answer).is_err() {
                        return;
                    }
                }
            });
        }
    });
    url
}

fn events() -> Vec<Arc<tracer::events::Event>> {
    let decoder = Decoder::new(
        "node-1".into(),
        WallClock::with_offset_ns(1_700_000_000_000_000_000),
    );
    (0..EVENTS)
        .map(|i| {
            let mut comm = [0; 16];
            comm[..5].copy_from_slice(b"mkdir");
            let raw = RawSeccompEvent {
                boot_ns: i as u64,
                pid: 4000 + i as u32 % 50,
                tid: 4000 + i as u32 % 50,
                ppid: 1,
                mntns_id: 4_026_532_000,
                syscall_nr: 83,
                arch: 0xc000_003e,
                code: 0x7ffc_0000,
                source: source::FENTRY,
                comm,
                ..Default::default()
            };
            // SAFETY: RawSeccompEvent is plain integers without padding.
            let bytes = unsafe {
                std::slice::from_raw_parts(
                    (&raw as *const RawSeccompEvent).cast::<u8>(),
                    HEADER_BYTES,
                )
            };
            Arc::new(decoder.decode_bytes(bytes).expect("a valid record"))
        })
        .collect()
}

fn webhook(c: &mut Criterion) {
    let url = receiver();
    let cli = Cli::try_parse_from([
        "tracer",
        "audit",
        "seccomp",
        "--webhook",
        &url,
        "--webhook-mode",
        "batch",
    ])
    .expect("webhook arguments");
    let Command::Audit(Audit::Seccomp(args)) = cli.command else {
        unreachable!("parsed as audit seccomp")
    };
    let writer = Webhook::new(&args.webhook, &url).expect("the webhook sink");
    let mut sinks = Sinks::start(vec![Box::new(writer)]).expect("starting the sink");
    let events = events();
    let mut group = c.benchmark_group("webhook");
    group.throughput(Throughput::Elements(EVENTS as u64));
    group.bench_function("batch_to_local_receiver", |b| {
        b.iter(|| {
            let target = sinks.written() + EVENTS as u64;
            for event in &events {
                sinks.send(black_box(event));
            }
            while sinks.written() < target {
                std::thread::yield_now();
            }
        })
    });
    group.finish();
}

criterion_group!(benches, webhook);
criterion_main!(benches);
