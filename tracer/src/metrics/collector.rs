//! Encodes the published [`Metrics`] at each scrape, as prometheus-client's custom collector:
//! only the families' current values are written, nothing is registered per label set.

use std::sync::atomic::Ordering::Relaxed;

use prometheus_client::{
    collector::Collector,
    encoding::{DescriptorEncoder, EncodeLabelSet, NoLabelSet},
    metrics::MetricType,
};

use super::{
    Metrics,
    counts::{Suppressed, kind_labels},
};

type Labels<'a> = [(&'static str, &'a str)];

fn counter(
    encoder: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    series: impl IntoIterator<Item = (Vec<(&'static str, String)>, u64)>,
) -> std::fmt::Result {
    let mut family = encoder.encode_descriptor(name, help, None, MetricType::Counter)?;
    for (labels, value) in series {
        let labels: Vec<(&str, &str)> = labels.iter().map(|(k, v)| (*k, v.as_str())).collect();
        family
            .encode_family(&labels)?
            .encode_counter::<NoLabelSet, u64, u64>(&value, None)?;
    }
    Ok(())
}

fn gauge<V: prometheus_client::encoding::EncodeGaugeValue>(
    encoder: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    series: impl IntoIterator<Item = (Vec<(&'static str, String)>, V)>,
) -> std::fmt::Result {
    let mut family = encoder.encode_descriptor(name, help, None, MetricType::Gauge)?;
    for (labels, value) in series {
        let labels: Vec<(&str, &str)> = labels.iter().map(|(k, v)| (*k, v.as_str())).collect();
        encode_gauge(&mut family, &labels, &value)?;
    }
    Ok(())
}

fn encode_gauge<V: prometheus_client::encoding::EncodeGaugeValue>(
    family: &mut prometheus_client::encoding::MetricEncoder,
    labels: &impl EncodeLabelSet,
    value: &V,
) -> std::fmt::Result {
    family.encode_family(labels)?.encode_gauge(value)
}

fn labels(pairs: &Labels) -> Vec<(&'static str, String)> {
    pairs.iter().map(|(k, v)| (*k, (*v).to_owned())).collect()
}

impl Collector for Metrics {
    fn encode(&self, mut encoder: DescriptorEncoder) -> std::fmt::Result {
        let events = self.events.iter().enumerate().filter_map(|(index, count)| {
            let count = count.load(Relaxed);
            (count > 0).then(|| (labels(&kind_labels(index)), count))
        });
        counter(
            &mut encoder,
            "tracer_events",
            "Events seccomp logged, refused or killed that reached tracer, shown or not, by action, architecture and source.",
            events,
        )?;
        let sinks = self.sinks.lock().unwrap_or_else(|e| e.into_inner()).clone();
        let sink_unwritten: u64 = sinks.iter().map(|sink| sink.unwritten).sum();
        counter(
            &mut encoder,
            "tracer_events_lost",
            "Events lost, by stage: ring_buffer (the kernel programs' buffer was full), kernel_audit (the kernel dropped audit records, or tracer's socket overflowed), sink (a sink's queue was full or its reader gone).",
            [
                (
                    labels(&[("stage", "ring_buffer")]),
                    self.lost_ring_buffer.load(Relaxed),
                ),
                (
                    labels(&[("stage", "kernel_audit")]),
                    self.lost_kernel_audit.load(Relaxed),
                ),
                (labels(&[("stage", "sink")]), sink_unwritten),
            ],
        )?;
        counter(
            &mut encoder,
            "tracer_events_suppressed",
            "Events not shown, by reason: filter (-c, or a host process without --host), check (--check's profile allows the call), dedup (--dedup held it back), rate_limit (--rate-limit held it back); summary events count the last two.",
            Suppressed::ALL.iter().map(|why| {
                (
                    labels(&[("reason", why.label())]),
                    self.suppressed[*why as usize].load(Relaxed),
                )
            }),
        )?;
        gauge(
            &mut encoder,
            "tracer_sink_queue_depth",
            "Events waiting in a sink's queue.",
            sinks
                .iter()
                .map(|sink| (labels(&[("sink", sink.name)]), sink.queued as u64)),
        )?;
        counter(
            &mut encoder,
            "tracer_sink_written",
            "Events a sink wrote.",
            sinks
                .iter()
                .map(|sink| (labels(&[("sink", sink.name)]), sink.progress.written)),
        )?;
        counter(
            &mut encoder,
            "tracer_sink_unwritten",
            "Events a sink could not take: its queue was full, or its reader gone.",
            sinks
                .iter()
                .map(|sink| (labels(&[("sink", sink.name)]), sink.unwritten)),
        )?;
        counter(
            &mut encoder,
            "tracer_sink_retries",
            "Writes or sends a sink tried again after a failure.",
            sinks
                .iter()
                .map(|sink| (labels(&[("sink", sink.name)]), sink.progress.retries)),
        )?;
        counter(
            &mut encoder,
            "tracer_sink_failures",
            "Writes or sends of a sink that failed.",
            sinks
                .iter()
                .map(|sink| (labels(&[("sink", sink.name)]), sink.progress.failures)),
        )?;
        if let Some(runtimes) = &self.runtimes {
            counter(
                &mut encoder,
                "tracer_runtime_api_calls",
                "Requests made to a container runtime's API.",
                runtimes
                    .api_calls()
                    .into_iter()
                    .map(|(runtime, calls)| (labels(&[("runtime", runtime)]), calls)),
            )?;
        }
        counter(
            &mut encoder,
            "tracer_enrichment_misses",
            "Events of a container that went out without its name: no runtime knew it, or none answered in time.",
            [(Vec::new(), self.enrichment_misses.load(Relaxed))],
        )?;
        let last = self.last_event_ns.load(Relaxed);
        if last != i64::MIN {
            gauge(
                &mut encoder,
                "tracer_last_event_timestamp_seconds",
                "When the call of the last event was made, in seconds since the epoch.",
                [(Vec::new(), last as f64 / 1e9)],
            )?;
        }
        let mut build = encoder.encode_descriptor(
            "tracer_build",
            "tracer's version.",
            None,
            MetricType::Info,
        )?;
        build.encode_info(&[("version", env!("CARGO_PKG_VERSION"))])?;
        Ok(())
    }
}
