//! Rule matching at full rate: 100 rules of every kind (names, labels, images, globs on paths
//! both simple and general), against events that mostly match late or not at all (the costly
//! cases: every candidate rule is tried). The goal is 1 M events/s.

use std::{hint::black_box, path::Path, sync::Arc};

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use tracer::{
    events::{Arch, Container, Event, SeccompAction, SyscallName},
    rules::{Loaded, RuleSet, load},
};

const RULES: usize = 100;
const BATCH: usize = 1024;
const SYSCALLS: [&str; 12] = [
    "mkdir",
    "unlink",
    "chown",
    "chroot",
    "mount",
    "ptrace",
    "kill",
    "swapoff",
    "syslog",
    "sethostname",
    "openat",
    "unshare",
];

/// 100 rules: most name calls and containers, some only labels, images or globs on paths.
fn rules_text() -> String {
    let mut text = String::from("rules:\n");
    for i in 0..RULES {
        let call = SYSCALLS[i % SYSCALLS.len()];
        let rule = match i % 5 {
            0 | 1 => format!(
                "  - {{name: r{i}, level: metadata, syscalls: [{call}], containers: [\"app-{i}-*\"]}}\n"
            ),
            2 => format!(
                "  - {{name: r{i}, level: request, labels: {{app: svc-{i}, tier: web}}, severity: 5}}\n"
            ),
            3 => format!(
                "  - {{name: r{i}, images: [\"registry.example/team-{i}/*\"], codes: [log, errno]}}\n"
            ),
            // Half with a pattern only globset's general matcher takes.
            _ if i % 10 == 4 => format!(
                "  - {{name: r{i}, syscalls: [{call}, openat], paths: [\"/srv/data-{i}/**\"], uids: [{i}]}}\n"
            ),
            _ => format!(
                "  - {{name: r{i}, syscalls: [{call}, openat], paths: [\"/srv/{{data,cache}}-{i}/*.db\"]}}\n"
            ),
        };
        text.push_str(&rule);
    }
    text
}

fn events() -> Vec<Event> {
    let mut base = Event::example();
    base.code = SeccompAction::Log;
    base.arch = Arch::X86_64;
    base.path = Some("/var/lib/app/cache/0001".into());
    let containers: Vec<Arc<Container>> = (0..8)
        .map(|i| {
            Arc::new(Container {
                runtime: "docker",
                id: format!("{i:064x}"),
                name: format!("web-{i}"),
                image: "registry.example/web:1.2".into(),
                labels: [
                    ("app".to_owned(), format!("svc-{}", 90 + i)),
                    ("tier".to_owned(), "web".to_owned()),
                    ("io.kubernetes.pod.namespace".to_owned(), "shop".to_owned()),
                ]
                .into(),
                file_dirs: Vec::new(),
            })
        })
        .collect();
    (0..BATCH)
        .map(|i| {
            let mut event = base.clone();
            let nr = tracer::profile::arch_names::syscall_number(
                Arch::X86_64,
                SYSCALLS[i % SYSCALLS.len()],
            )
            .expect("an x86-64 call");
            event.syscall_nr = nr;
            event.syscall = SyscallName::of(Arch::X86_64, nr);
            event.set_container(Some(Arc::clone(&containers[i % containers.len()])));
            event
        })
        .collect()
}

fn rules(c: &mut Criterion) {
    let mut loaded = Loaded::default();
    load::parse(Path::new("bench.yaml"), &rules_text(), &mut loaded).expect("valid rules");
    assert_eq!(loaded.rules.len(), RULES);
    let set = RuleSet::new(loaded).expect("100 rules");
    let events = events();
    let matched = events
        .iter()
        .filter(|e| set.decide(*e).rule.is_some())
        .count();
    // Some match (late: the label rules of apps 92 and 97), most try every candidate and miss.
    assert!(
        matched > 0 && matched < BATCH,
        "{matched} of {BATCH} matched"
    );
    let mut group = c.benchmark_group("rules");
    group.throughput(Throughput::Elements(BATCH as u64));
    group.bench_function("first_match_100_rules", |b| {
        b.iter(|| {
            for event in &events {
                black_box(set.decide(black_box(event)).level);
            }
        })
    });
    group.finish();
}

criterion_group!(benches, rules);
criterion_main!(benches);
