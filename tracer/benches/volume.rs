//! `--dedup` and `--rate-limit` per event: a busy node's calls (8 containers, 16 calls, a kill
//! now and then) through the volume stage, as the pipeline hands them over with the time read
//! for each; the summaries it makes are taken as they come due. The events are made before
//! each batch is timed, so only the stage is measured.

use std::{hint::black_box, sync::Arc, time::Duration};

use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use tracer::{
    events::{Container, Event, SeccompAction, SyscallName},
    volume::{Clock, RateKeyKind, RateLimitOptions, Verdict, Volume, VolumeOptions},
};

const BATCH: usize = 4096;

fn events() -> Vec<Event> {
    let containers: Vec<Arc<Container>> = (0..8)
        .map(|i| {
            Arc::new(Container {
                runtime: "docker",
                id: format!("{i:064x}"),
                name: format!("web-{i}"),
                image: "registry.example/web:1.2.3".into(),
                ..Container::default()
            })
        })
        .collect();
    (0..BATCH)
        .map(|i| {
            let mut event = Event::example();
            event.set_container(Some(Arc::clone(&containers[i % containers.len()])));
            let nr = [39, 83, 110, 257][i / 8 % 4] + (i / 32 % 4) as u32;
            event.syscall = SyscallName::of(event.arch, nr);
            event.syscall_nr = nr;
            event.pid = 1000 + (i % 50) as u32;
            event.code = if i % 997 == 0 {
                SeccompAction::KillThread
            } else {
                SeccompAction::Log
            };
            event
        })
        .collect()
}

fn run(volume: &mut Volume, events: Vec<Event>) -> usize {
    let mut out = 0;
    for event in events {
        if let Verdict::Pass(event) = volume.push(event, Clock::read()) {
            out += 1;
            black_box(event);
        }
        while let Some(summary) = volume.pop_summary() {
            out += 1;
            black_box(summary);
        }
    }
    out
}

fn volume(c: &mut Criterion) {
    let events = events();
    let mut group = c.benchmark_group("volume");
    group.throughput(Throughput::Elements(BATCH as u64));
    let cases = [
        (
            "dedup",
            VolumeOptions {
                dedup: Some(Duration::from_millis(100)),
                rate_limit: None,
            },
        ),
        (
            "dedup+rate_limit",
            VolumeOptions {
                dedup: Some(Duration::from_millis(100)),
                rate_limit: Some(RateLimitOptions {
                    rate: "1000/s".parse().expect("a rate"),
                    burst: 100,
                    key: RateKeyKind::ContainerSyscall,
                }),
            },
        ),
    ];
    for (name, options) in cases {
        let mut stage = Volume::new(&options);
        group.bench_function(name, |b| {
            b.iter_batched(
                || events.clone(),
                |batch| run(&mut stage, batch),
                BatchSize::LargeInput,
            )
        });
    }
    group.finish();
}

criterion_group!(benches, volume);
criterion_main!(benches);
