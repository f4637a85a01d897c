//! The HTTP endpoint: GET /metrics on the run's own tokio runtime, served by hyper (already
//! built for the Docker client), which handles keep-alive and malformed requests; a scrape
//! encodes what was last published and never waits on the pipeline.

use std::{convert::Infallible, io, net::SocketAddr, sync::Arc, time::Duration};

use http_body_util::Full;
use hyper::{Method, Request, Response, StatusCode, body::Bytes, server::conn::http1};
use hyper_util::rt::{TokioIo, TokioTimer};
use prometheus_client::registry::Registry;
use thiserror::Error;

use super::Metrics;

/// A client that sends no complete request within this is let go.
const HEADER_TIMEOUT: Duration = Duration::from_secs(10);
const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

#[derive(Debug, Error)]
pub enum MetricsError {
    #[error("cannot serve metrics on {addr}: {advice}")]
    Bind {
        addr: SocketAddr,
        advice: &'static str,
        #[source]
        source: io::Error,
    },
}

/// Opens the listening socket at once, so a bad or taken address stops tracer before anything
/// is loaded.
pub fn bind(addr: SocketAddr) -> Result<std::net::TcpListener, MetricsError> {
    let bound = std::net::TcpListener::bind(addr).and_then(|listener| {
        listener.set_nonblocking(true)?;
        Ok(listener)
    });
    bound.map_err(|source| MetricsError::Bind {
        addr,
        advice: match source.kind() {
            io::ErrorKind::AddrInUse => {
                "something listens there already: choose another port with --metrics-addr, or \
                 stop what listens there"
            }
            io::ErrorKind::AddrNotAvailable => {
                "no interface of this machine has that address: use one it has, such as \
                 127.0.0.1 or 0.0.0.0"
            }
            io::ErrorKind::PermissionDenied => {
                "ports below 1024 need CAP_NET_BIND_SERVICE: choose a port above 1024"
            }
            _ => "choose another --metrics-addr",
        },
        source,
    })
}

/// Serves /metrics until the task is aborted.
pub fn serve(
    listener: std::net::TcpListener,
    metrics: Arc<Metrics>,
) -> io::Result<tokio::task::JoinHandle<()>> {
    let listener = tokio::net::TcpListener::from_std(listener)?;
    let mut registry = Registry::default();
    registry.register_collector(Box::new(metrics));
    let registry = Arc::new(registry);
    Ok(tokio::spawn(async move {
        loop {
            let stream = match listener.accept().await {
                Ok((stream, _)) => stream,
                Err(error) => {
                    // Out of file descriptors, mostly: wait instead of spinning.
                    tracing::debug!("accepting a metrics connection: {error}");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            };
            let registry = Arc::clone(&registry);
            tokio::spawn(async move {
                let service = hyper::service::service_fn(move |request| {
                    let response = respond(&registry, &request);
                    async move { Ok::<_, Infallible>(response) }
                });
                let connection = http1::Builder::new()
                    .timer(TokioTimer::new())
                    .header_read_timeout(HEADER_TIMEOUT)
                    .serve_connection(TokioIo::new(stream), service);
                if let Err(error) = connection.await {
                    tracing::debug!("serving a metrics request: {error}");
                }
            });
        }
    }))
}

fn respond<B>(registry: &Registry, request: &Request<B>) -> Response<Full<Bytes>> {
    let reply = |status: StatusCode, content_type: &str, body: String| {
        Response::builder()
            .status(status)
            .header(hyper::header::CONTENT_TYPE, content_type)
            .body(Full::new(Bytes::from(body)))
            .expect("a static header is valid")
    };
    if !matches!(*request.method(), Method::GET | Method::HEAD) {
        return reply(
            StatusCode::METHOD_NOT_ALLOWED,
            "text/plain",
            "use GET /metrics\n".into(),
        );
    }
    if request.uri().path() != "/metrics" {
        return reply(
            StatusCode::NOT_FOUND,
            "text/plain",
            "tracer serves its metrics at /metrics\n".into(),
        );
    }
    let mut body = String::new();
    match prometheus_client::encoding::text::encode(&mut body, registry) {
        Ok(()) => reply(StatusCode::OK, CONTENT_TYPE, body),
        Err(_) => reply(
            StatusCode::INTERNAL_SERVER_ERROR,
            "text/plain",
            "the metrics could not be encoded\n".into(),
        ),
    }
}
